//! The anomaly engine on hand-built traffic (the corpus has no port scan, identity sweep,
//! ARP spoofing or address conflict), each kind with its benign neighbour, and the corpus's
//! benign captures raising nothing.

use std::sync::atomic::AtomicBool;

use yagura_detect::{Alert, AlertBook, AlertKind, anomaly};
use yagura_testkit::frames::{ACK, PSH, RST, SYN, arp, ethernet, ipv4, mac, pcap, tcp_frame, udp};

fn alerts_of(frames: &[(u64, Vec<u8>)]) -> Vec<Alert> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    std::fs::write(&path, pcap(frames)).unwrap();
    alerts_of_file(&path)
}

fn report_of(path: &std::path::Path, threads: usize) -> yagura_engine::Report {
    let mut src = yagura_capture::file::open_paths(&[path.to_path_buf()]).expect("open");
    yagura_engine::run(
        src.as_mut(),
        &yagura_engine::EngineConfig {
            threads,
            ..Default::default()
        },
        &yagura_engine::Progress::default(),
        &AtomicBool::new(false),
    )
    .expect("analyze")
}

fn alerts_of_file(path: &std::path::Path) -> Vec<Alert> {
    let report = report_of(path, 1);
    let built = yagura_model::fusion::build_detailed(&report);
    let mut book = AlertBook::new();
    anomaly::raise(&mut book, &report, &built);
    book.finish().alerts
}

fn kinds(a: &[Alert]) -> Vec<AlertKind> {
    a.iter().map(|a| a.kind).collect()
}

const SCANNER: [u8; 4] = [10, 0, 0, 66];
const PLC: [u8; 4] = [10, 0, 0, 1];

/// SYNs from the scanner to `ports` of `dst`, each answered with a reset.
fn probes(dst: [u8; 4], ports: impl Iterator<Item = u16>, t0: u64) -> Vec<(u64, Vec<u8>)> {
    let mut f = Vec::new();
    for (i, p) in ports.enumerate() {
        let t = t0 + i as u64 * 1000;
        let s = (mac(66), SCANNER, 40000 + i as u16);
        let d = (mac(dst[3]), dst, p);
        f.push((t, tcp_frame(s, d, 1, 0, SYN, &[])));
        f.push((t + 100, tcp_frame(d, s, 0, 2, RST | ACK, &[])));
    }
    f
}

#[test]
fn many_unanswered_ports_of_one_host_are_a_port_scan_and_a_few_are_not() {
    let a = alerts_of(&probes(PLC, 1..=100, 0));
    assert_eq!(kinds(&a), [AlertKind::PortScan]);
    assert_eq!(a[0].src.ip, Some(SCANNER.into()));
    assert_eq!(a[0].dst.ip, Some(PLC.into()));
    assert_eq!(a[0].count, 100);
    assert!(
        a[0].description.contains("100 TCP ports"),
        "{}",
        a[0].description
    );
    assert_eq!(a[0].evidence.len(), 8);
    // Benign: a client retrying a few closed ports.
    let a = alerts_of(&probes(PLC, [502, 102, 44818].into_iter(), 0));
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn one_port_swept_across_a_subnet_is_a_port_scan_but_hosts_all_over_the_internet_are_not() {
    let mut f = Vec::new();
    for h in 1..=40u8 {
        f.extend(probes(
            [10, 0, 0, h],
            std::iter::once(502),
            u64::from(h) * 10_000,
        ));
    }
    f.sort_by_key(|x| x.0);
    let a = alerts_of(&f);
    assert_eq!(kinds(&a), [AlertKind::PortScan]);
    assert_eq!(a[0].dst.port, Some(502));
    assert!(
        a[0].description.contains("40 hosts of 10.0.0.0/24"),
        "{}",
        a[0].description
    );
    // The same number of probes to port 80 on hosts in 40 different networks: an offline
    // workstation trying web servers, not a sweep.
    let mut f = Vec::new();
    for h in 1..=40u8 {
        f.extend(probes(
            [93, h, 7, 10],
            std::iter::once(80),
            u64::from(h) * 10_000,
        ));
    }
    f.sort_by_key(|x| x.0);
    assert!(alerts_of(&f).is_empty());
}

/// Modbus "read device identification" (FC 43/14) to `n` devices, answered.
fn identity_sweep(n: u8) -> Vec<(u64, Vec<u8>)> {
    let mut f = Vec::new();
    for h in 1..=n {
        let t = u64::from(h) * 100_000;
        let c = (mac(66), SCANNER, 40000 + u16::from(h));
        let s = (mac(h), [10, 0, 0, h], 502);
        let req = [0, 1, 0, 0, 0, 5, 1, 0x2b, 0x0e, 1, 0];
        let rsp = [
            0, 1, 0, 0, 0, 13, 1, 0x2b, 0x0e, 1, 1, 0, 0, 1, 0, 4, b'A', b'C', b'M', b'E',
        ];
        f.push((t, tcp_frame(c, s, 1, 0, SYN, &[])));
        f.push((t + 10, tcp_frame(s, c, 1, 2, SYN | ACK, &[])));
        f.push((t + 20, tcp_frame(c, s, 2, 2, ACK, &[])));
        f.push((t + 30, tcp_frame(c, s, 2, 2, PSH | ACK, &req)));
        f.push((
            t + 40,
            tcp_frame(s, c, 2, 2 + req.len() as u32, PSH | ACK, &rsp),
        ));
    }
    f
}

#[test]
fn identity_requests_to_many_controllers_are_a_plc_scan_and_to_two_are_not() {
    let a = alerts_of(&identity_sweep(8));
    assert_eq!(kinds(&a), [AlertKind::PlcScan], "{a:#?}");
    assert_eq!(a[0].src.ip, Some(SCANNER.into()));
    assert_eq!(a[0].protocol.as_deref(), Some("modbus"));
    assert!(
        a[0].description.contains("8 devices"),
        "{}",
        a[0].description
    );
    // An HMI identifying its two PLCs.
    assert!(alerts_of(&identity_sweep(2)).is_empty());
}

/// IP traffic from `(mac, ip)` to a peer, at time `t` (µs).
fn talk(m: [u8; 6], ip: [u8; 4], t: u64) -> (u64, Vec<u8>) {
    let s = (m, ip, 50000 + u16::from(m[5]) * 100 + (t % 100) as u16);
    let d = (mac(200), [10, 0, 0, 200], 502);
    (t, tcp_frame(s, d, 1, 0, SYN, &[]))
}

#[test]
fn one_mac_claiming_others_addresses_is_arp_spoofing_and_two_users_of_one_address_a_conflict() {
    // Two hosts use their addresses; a third answers ARP for both.
    let (a_ip, b_ip) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let attacker = mac(66);
    let mut f = vec![talk(mac(1), a_ip, 0), talk(mac(2), b_ip, 10)];
    f.push((20, arp(attacker, a_ip, mac(2), b_ip, true)));
    f.push((30, arp(attacker, b_ip, mac(1), a_ip, true)));
    f.push(talk(mac(1), a_ip, 40));
    f.push(talk(mac(2), b_ip, 50));
    let a = alerts_of(&f);
    assert_eq!(kinds(&a), [AlertKind::ArpSpoofing], "{a:#?}");
    assert_eq!(a[0].src.mac, Some(yagura_core::MacAddr(attacker)));
    assert!(a[0].description.contains("10.0.0.1") && a[0].description.contains("10.0.0.2"));

    // Two devices using one address at the same time.
    let f = vec![
        talk(mac(1), a_ip, 0),
        talk(mac(9), a_ip, 10),
        talk(mac(1), a_ip, 20),
        talk(mac(9), a_ip, 30),
    ];
    let a = alerts_of(&f);
    assert_eq!(kinds(&a), [AlertKind::IpConflict], "{a:#?}");
    assert_eq!(a[0].src.ip, Some(a_ip.into()));

    // Benign: an address that moved to a new device (replaced, or DHCP), one after the
    // other; and a gratuitous ARP of a host for its own address.
    let f = vec![
        talk(mac(1), a_ip, 0),
        talk(mac(1), a_ip, 10),
        (15, arp(mac(9), a_ip, [0xff; 6], a_ip, false)),
        talk(mac(9), a_ip, 20),
        talk(mac(9), a_ip, 30),
    ];
    assert!(alerts_of(&f).is_empty(), "{:#?}", alerts_of(&f));
}

/// Broadcast ARP requests from `(m, ip)` for 10.0.0.`hosts`, one every `gap` µs from `t0`;
/// the hosts in `live` answer.
fn arp_asks(
    (m, ip): ([u8; 6], [u8; 4]),
    hosts: impl Iterator<Item = u8>,
    live: &[u8],
    t0: u64,
    gap: u64,
) -> Vec<(u64, Vec<u8>)> {
    let mut f = Vec::new();
    for (i, h) in hosts.enumerate() {
        let t = t0 + i as u64 * gap;
        let target = [10, 0, 0, h];
        f.push((t, arp(m, ip, [0; 6], target, false)));
        if live.contains(&h) {
            f.push((t + 50, arp(mac(h), target, m, ip, true)));
        }
    }
    f
}

#[test]
fn a_host_asking_arp_for_a_range_of_silent_addresses_is_an_arp_scan() {
    // nmap -sn over 10.0.0.1-100: a request every 20 ms; three hosts answer. The request
    // for its own address (10.0.0.66, as a gratuitous ARP) is not a question to others.
    let f = arp_asks((mac(66), SCANNER), 1..=100, &[1, 2, 3], 1_000_000, 20_000);
    let a = alerts_of(&f);
    assert_eq!(kinds(&a), [AlertKind::ArpScan], "{a:#?}");
    let a = &a[0];
    assert_eq!(a.src.ip, Some(SCANNER.into()));
    assert_eq!(a.src.mac, Some(yagura_core::MacAddr(mac(66))));
    assert_eq!(a.protocol.as_deref(), Some("arp"));
    assert_eq!(a.count, 96);
    for part in [
        "96 addresses that did not answer",
        "10.0.0.4 to 10.0.0.100",
        "99 addresses (3 answered) in 99 requests",
    ] {
        assert!(a.description.contains(part), "{part:?}: {}", a.description);
    }
    // Evidence: the first requests for silent addresses (10.0.0.4 is the fourth request,
    // packet 6 after three answered requests).
    assert_eq!(a.evidence.len(), 8);
    assert_eq!(a.evidence[0].index, 6);
    // Just under the threshold: 15 silent addresses.
    let f = arp_asks((mac(66), SCANNER), 1..=15, &[], 1_000_000, 20_000);
    assert!(alerts_of(&f).is_empty());
}

#[test]
fn a_router_refreshing_its_neighbours_or_announcements_are_not_an_arp_scan() {
    let router = (mac(254), [10, 0, 0, 254]);
    // A gateway asking for 40 hosts it routes to within a minute, all answering.
    let live: Vec<u8> = (1..=40).collect();
    assert!(alerts_of(&arp_asks(router, 1..=40, &live, 0, 1_000_000)).is_empty());
    // The same hosts asked for across 30 minutes (a cache refreshed as traffic needs it),
    // the replies not captured (a SPAN port that sees only the broadcasts).
    assert!(alerts_of(&arp_asks(router, 1..=40, &[], 0, 45_000_000)).is_empty());
    // 40 hosts announcing themselves by gratuitous ARP at power-up, within seconds.
    let f: Vec<(u64, Vec<u8>)> = (1..=40u8)
        .map(|h| {
            let ip = [10, 0, 0, h];
            (u64::from(h) * 10_000, arp(mac(h), ip, [0; 6], ip, false))
        })
        .collect();
    assert!(alerts_of(&f).is_empty());
}

/// A DHCP OFFER from `server` naming itself (option 54) as the server.
fn dhcp_offer(server: ([u8; 6], [u8; 4]), t: u64) -> (u64, Vec<u8>) {
    let mut b = vec![0u8; 236];
    b[0] = 2; // BOOTREPLY
    b[1] = 1;
    b[2] = 6;
    b[16..20].copy_from_slice(&[10, 0, 0, 77]); // yiaddr
    b[28..34].copy_from_slice(&mac(77)); // chaddr
    b.extend_from_slice(&[99, 130, 83, 99, 53, 1, 2, 54, 4]);
    b.extend_from_slice(&server.1);
    b.push(255);
    let ip = ipv4(server.1, [255; 4], 17, &udp(67, 68, &b));
    (t, ethernet(server.0, [0xff; 6], 0x0800, &ip))
}

#[test]
fn a_dhcp_server_checking_the_addresses_it_offers_is_not_an_arp_scan() {
    let server = (mac(250), [10, 0, 0, 250]);
    // A plant powering up: the server checks 20 free addresses in a minute.
    let checks = arp_asks(server, 100..=119, &[], 0, 2_000_000);
    assert_eq!(kinds(&alerts_of(&checks)), [AlertKind::ArpScan]);
    let mut f = checks.clone();
    f.push(dhcp_offer(server, 100_000));
    f.sort_by_key(|x| x.0);
    assert!(alerts_of(&f).is_empty(), "{:#?}", alerts_of(&f));
}

#[test]
fn arp_requests_are_reported_alike_whatever_the_threads() {
    let mut f = arp_asks((mac(66), SCANNER), 1..=250, &[7, 9, 200], 0, 5_000);
    f.extend(arp_asks((mac(254), [10, 0, 0, 254]), 1..=30, &[], 3, 7_000));
    f.sort_by_key(|x| x.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    std::fs::write(&path, pcap(&f)).unwrap();
    let one = report_of(&path, 1).observations.arp_requests;
    assert_eq!(one.len(), 2);
    // The scanner's own address is not among its targets.
    assert_eq!(one[0].targets.len(), 249);
    assert_eq!(one[0].targets.iter().filter(|t| t.answered).count(), 3);
    for threads in [2, 3, 4] {
        assert_eq!(
            report_of(&path, threads).observations.arp_requests,
            one,
            "{threads} threads"
        );
    }
}

/// A client polling a Modbus server every second from `from` to `until` (s), on one
/// connection; the capture ends at `end` with other traffic.
fn polling(until: u64, end: u64) -> Vec<(u64, Vec<u8>)> {
    let c = (mac(10), [10, 0, 0, 10], 40001);
    let s = (mac(1), PLC, 502);
    let mut f = vec![
        (0, tcp_frame(c, s, 1, 0, SYN, &[])),
        (10, tcp_frame(s, c, 1, 2, SYN | ACK, &[])),
        (20, tcp_frame(c, s, 2, 2, ACK, &[])),
    ];
    let (mut cs, mut ss) = (2u32, 2u32);
    for i in 0..until {
        let t = 1_000_000 + i * 1_000_000;
        let req = [0, i as u8, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
        let rsp = [0, i as u8, 0, 0, 0, 5, 1, 3, 2, 0, 7];
        f.push((t, tcp_frame(c, s, cs, ss, PSH | ACK, &req)));
        cs += req.len() as u32;
        f.push((t + 2000, tcp_frame(s, c, ss, cs, PSH | ACK, &rsp)));
        ss += rsp.len() as u32;
    }
    // Other traffic goes on until the end of the capture.
    for k in 0..=(end / 10) {
        f.push(talk(mac(3), [10, 0, 0, 3], k * 10_000_000 + 500_000));
    }
    f.sort_by_key(|x| x.0);
    f
}

#[test]
fn a_poller_that_stops_while_the_capture_goes_on_is_silent_and_one_to_the_end_is_not() {
    let a = alerts_of(&polling(30, 200));
    assert_eq!(kinds(&a), [AlertKind::AssetSilent], "{a:#?}");
    assert_eq!(a[0].protocol.as_deref(), Some("modbus"));
    assert!(
        a[0].description.contains("every 1.000 s"),
        "{}",
        a[0].description
    );
    assert!(alerts_of(&polling(195, 200)).is_empty());
}

#[test]
fn benign_corpus_captures_raise_no_anomaly() {
    for rel in [
        "modbus/iti__mb2.pcap",
        "modbus/zeek__modbusBig.pcap",
        "enip/iti__EthernetIP-CIP.pcap",
        "s7comm/iti__wrapup.pcapng",
        "bacnet/icsnpp-bacnet__bacnet_services.pcap",
        "dnp3/iti__dnp3_test_data_part1.pcap",
        "iec61850-mms/iti__iec61850_read.pcap",
    ] {
        let a = alerts_of_file(&yagura_testkit::corpus(&format!("pcap/{rel}")));
        assert!(a.is_empty(), "{rel}: {a:#?}");
    }
}
