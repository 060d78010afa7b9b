//! Hand-built Ethernet frames and pcap files, for tests that need traffic no corpus capture
//! has (a port scan, an identity sweep, two hosts claiming one address). Checksums are
//! left zero: Yagura, like a mirror port's view, does not verify them.

/// A MAC address from its last byte: `02:00:00:00:00:NN` (locally administered).
pub fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

/// An Ethernet II frame.
pub fn ethernet(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (no options) carrying `payload` of IP protocol `proto`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const RST: u8 = 0x04;

/// A TCP segment (no options).
pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + payload.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    s.extend_from_slice(payload);
    s
}

/// A UDP datagram.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + payload.len());
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// An Ethernet frame with IPv4 and TCP.
pub fn tcp_frame(
    (smac, sip, sport): ([u8; 6], [u8; 4], u16),
    (dmac, dip, dport): ([u8; 6], [u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    ethernet(
        smac,
        dmac,
        0x0800,
        &ipv4(sip, dip, 6, &tcp(sport, dport, seq, ack, flags, payload)),
    )
}

/// An ARP request (`reply` false) or reply: `sender` claims `sender_ip`.
pub fn arp(
    sender: [u8; 6],
    sender_ip: [u8; 4],
    target: [u8; 6],
    target_ip: [u8; 4],
    reply: bool,
) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, if reply { 2 } else { 1 }];
    a.extend_from_slice(&sender);
    a.extend_from_slice(&sender_ip);
    a.extend_from_slice(&target);
    a.extend_from_slice(&target_ip);
    let dst = if reply { target } else { [0xff; 6] };
    ethernet(sender, dst, 0x0806, &a)
}

/// A classic pcap file (microsecond resolution, Ethernet) of `(time in µs, frame)`.
pub fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (us, f) in frames {
        out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}
