use std::net::Ipv6Addr;

use serde::{Serialize, Serializer};

use crate::IpAddr;

/// Which way a packet or PDU travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client (the initiator, or the side with the non-service port) to the server.
    ToServer,
    /// From the server back to the client.
    ToClient,
}

impl Direction {
    #[inline]
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }

    /// 0 for to-server, 1 for to-client: an index into per-direction arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The transport protocol of a flow (the IP protocol number, named where common).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transport(pub u8);

impl Transport {
    pub const ICMP: Transport = Transport(1);
    pub const IGMP: Transport = Transport(2);
    pub const TCP: Transport = Transport(6);
    pub const UDP: Transport = Transport(17);
    pub const GRE: Transport = Transport(47);
    pub const ESP: Transport = Transport(50);
    pub const ICMPV6: Transport = Transport(58);
    pub const OSPF: Transport = Transport(89);
    pub const VRRP: Transport = Transport(112);
    pub const SCTP: Transport = Transport(132);

    /// Does this transport carry ports?
    #[inline]
    pub fn has_ports(self) -> bool {
        matches!(self, Transport::TCP | Transport::UDP | Transport::SCTP)
    }

    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let s = match self {
            Transport::ICMP => "icmp",
            Transport::IGMP => "igmp",
            Transport::TCP => "tcp",
            Transport::UDP => "udp",
            Transport::GRE => "gre",
            Transport::ESP => "esp",
            Transport::ICMPV6 => "icmpv6",
            Transport::OSPF => "ospf",
            Transport::VRRP => "vrrp",
            Transport::SCTP => "sctp",
            Transport(n) => return std::borrow::Cow::Owned(format!("ip_proto_{n}")),
        };
        std::borrow::Cow::Borrowed(s)
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A bidirectional flow key: the same value for both directions of a conversation.
///
/// Addresses are stored as 16 bytes (IPv4 as `::ffff:a.b.c.d`) and ordered so that
/// `(lo_addr, lo_port) <= (hi_addr, hi_port)`; the outer VLAN id takes part, as on a mirror
/// port the same addresses on two VLANs are two different conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub lo_addr: [u8; 16],
    pub hi_addr: [u8; 16],
    pub lo_port: u16,
    pub hi_port: u16,
    pub vlan: u16,
    pub transport: Transport,
}

impl FlowKey {
    /// `((client address, port), (server address, port))`, given which side is the client.
    #[inline]
    pub fn oriented(&self, lo_is_client: bool) -> (([u8; 16], u16), ([u8; 16], u16)) {
        let lo = (self.lo_addr, self.lo_port);
        let hi = (self.hi_addr, self.hi_port);
        if lo_is_client { (lo, hi) } else { (hi, lo) }
    }

    /// The key for a packet from `(src, sport)` to `(dst, dport)`, and whether the packet goes
    /// from `hi` to `lo` (its endpoints were swapped to make the key).
    #[inline]
    pub fn new(
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
        transport: Transport,
        vlan: u16,
    ) -> (FlowKey, bool) {
        // Lexicographic order of (address, port), as one integer comparison: big-endian
        // bytes order like the integer they spell.
        // Addresses travel as integers (two 8-byte halves), not as byte arrays copied with
        // 16-byte moves: see `v4_mapped`.
        let a = halves(&src);
        let b = halves(&dst);
        let swapped = (b.0, b.1, dport) < (a.0, a.1, sport);
        let (lo, lo_port, hi, hi_port) = if swapped {
            (b, dport, a, sport)
        } else {
            (a, sport, b, dport)
        };
        let join = |(h, l): (u64, u64)| (u128::from(h) << 64 | u128::from(l)).to_be_bytes();
        (
            FlowKey {
                lo_addr: join(lo),
                hi_addr: join(hi),
                lo_port,
                hi_port,
                vlan,
                transport,
            },
            swapped,
        )
    }
}

/// A 16-byte address as two big-endian halves, read with 8-byte loads.
#[inline]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let (h, l) = a.split_at(8);
    (
        u64::from_be_bytes(h.try_into().expect("8 bytes")),
        u64::from_be_bytes(l.try_into().expect("8 bytes")),
    )
}

/// Symmetric hash of two 16-byte addresses, `h(a, b) == h(b, a)` (ports excluded): shards
/// traffic that has no ports, such as ARP or non-IP frames keyed by their MAC pair. Folds
/// each address to 64 bits, combines them with commutative operations and finishes with a
/// strong mixer.
#[inline]
pub fn shard_hash(a: &[u8; 16], b: &[u8; 16]) -> u64 {
    let (x, y) = (fold(a), fold(b));
    mix(x.wrapping_add(y) ^ (x ^ y).rotate_left(17))
}

/// Symmetric hash of a conversation's two endpoints (address and port; ports 0 for
/// transports without them), `h(a, pa, b, pb) == h(b, pb, a, pa)`: the worker shard of a
/// flow. Hashing the ports too spreads the flows between one busy pair of hosts (a SCADA
/// server polling a PLC over several connections) over the workers.
#[inline]
pub fn flow_hash(a: &[u8; 16], pa: u16, b: &[u8; 16], pb: u16) -> u64 {
    endpoints_hash(fold_cheap(a) ^ u64::from(pa), fold_cheap(b) ^ u64::from(pb))
}

/// [`flow_hash`] of two IPv4 endpoints, from the addresses as read (big-endian), without
/// building their 16-byte forms: `flow_hash_v4(a, pa, b, pb) == flow_hash(&v4_mapped(a), pa,
/// &v4_mapped(b), pb)` (a test checks it).
#[inline]
pub fn flow_hash_v4(a: u32, pa: u16, b: u32, pb: u16) -> u64 {
    endpoints_hash(fold_v4(a) ^ u64::from(pa), fold_v4(b) ^ u64::from(pb))
}

/// `fold_cheap(&v4_mapped(a))`: the mapped form's first 8 bytes are zero, its last 8 are
/// `00 00 ff ff` and the address, read little-endian.
#[inline]
fn fold_v4(a: u32) -> u64 {
    (0xffff_0000 | (u64::from(a.swap_bytes()) << 32)).rotate_left(16)
}

/// The symmetric combination of two folded endpoints, mixed once.
#[inline]
fn endpoints_hash(x: u64, y: u64) -> u64 {
    mix(x.wrapping_add(y) ^ (x ^ y).rotate_left(17))
}

#[inline]
fn fold_cheap(x: &[u8; 16]) -> u64 {
    let lo = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
    let hi = u64::from_le_bytes([x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15]]);
    lo.rotate_left(23) ^ hi.rotate_left(16)
}

#[inline]
fn fold(x: &[u8; 16]) -> u64 {
    mix(fold_cheap(x))
}

/// The 64-bit finaliser of MurmurHash3 (public domain): full avalanche in a few cycles.
#[inline]
fn mix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// 16-byte form of an IPv4 address (`::ffff:a.b.c.d`).
#[inline]
pub fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    // Built as an integer, so that it is stored as two 8-byte halves, which later 8-byte
    // loads can be served from (a byte-wise build stored in pieces makes every wide read of
    // a freshly decoded address stall on store forwarding).
    (0xffff_0000_0000_u128 | u128::from(u32::from_be_bytes(a))).to_be_bytes()
}

/// The `IpAddr` a 16-byte stored address stands for (IPv4-mapped becomes IPv4).
#[inline]
pub fn to_ip(a: &[u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(*a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The 16-byte stored form of an `IpAddr`.
#[inline]
pub fn from_ip(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4_mapped(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_is_symmetric() {
        let a = v4_mapped([10, 0, 0, 1]);
        let b = v4_mapped([10, 0, 0, 2]);
        let (k1, s1) = FlowKey::new(a, 40000, b, 502, Transport::TCP, 0);
        let (k2, s2) = FlowKey::new(b, 502, a, 40000, Transport::TCP, 0);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(to_ip(&k1.lo_addr).to_string(), "10.0.0.1");
    }

    proptest! {
        #[test]
        fn shard_hash_symmetric(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
            prop_assert_eq!(shard_hash(&a, &b), shard_hash(&b, &a));
        }

        #[test]
        fn flow_hash_v4_is_flow_hash_of_the_mapped_form(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), p in any::<u16>(), q in any::<u16>()) {
            prop_assert_eq!(
                flow_hash_v4(u32::from_be_bytes(a), p, u32::from_be_bytes(b), q),
                flow_hash(&v4_mapped(a), p, &v4_mapped(b), q)
            );
        }

        #[test]
        fn flow_hash_symmetric(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), p in any::<u16>(), q in any::<u16>()) {
            prop_assert_eq!(flow_hash(&a, p, &b, q), flow_hash(&b, q, &a, p));
        }

        #[test]
        fn flow_key_orders_by_address_then_port(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), p in any::<u16>(), q in any::<u16>()) {
            let (k, swapped) = FlowKey::new(a, p, b, q, Transport::TCP, 0);
            let (lo, hi) = if (b, q) < (a, p) { ((b, q), (a, p)) } else { ((a, p), (b, q)) };
            prop_assert_eq!(swapped, (b, q) < (a, p));
            prop_assert_eq!((k.lo_addr, k.lo_port), lo);
            prop_assert_eq!((k.hi_addr, k.hi_port), hi);
        }

        #[test]
        fn v4_mapped_is_the_rfc_4291_form(a in any::<[u8; 4]>()) {
            let m = v4_mapped(a);
            prop_assert_eq!(&m[..10], &[0u8; 10][..]);
            prop_assert_eq!(&m[10..12], &[0xff, 0xff][..]);
            prop_assert_eq!(&m[12..], &a[..]);
            prop_assert_eq!(to_ip(&m), IpAddr::V4(std::net::Ipv4Addr::from(a)));
        }

        #[test]
        fn flow_key_symmetric(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), p in any::<u16>(), q in any::<u16>()) {
            let (k1, _) = FlowKey::new(a, p, b, q, Transport::UDP, 7);
            let (k2, _) = FlowKey::new(b, q, a, p, Transport::UDP, 7);
            prop_assert_eq!(k1, k2);
        }
    }
}
