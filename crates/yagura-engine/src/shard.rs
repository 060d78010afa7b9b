//! Routing packets to workers: a cheap look at the headers, hashed symmetrically.
//!
//! A packet of a flow goes to the worker of the flow's endpoints (addresses *and* ports, so
//! the connections between one busy pair of hosts spread over the workers). IP fragments
//! carry no ports (only the first one does, and it need not arrive first), so they go to
//! every worker: each defragments them, and only the owner of the reassembled datagram's
//! flow processes it (see `Worker::process_fragment`).
//!
//! The one rule that matters: every packet that reaches the flow table must be routed by
//! [`flow_hash`] of the same endpoints the decoder gives it. The fast path below reads
//! fixed offsets for the common frames (Ethernet with VLAN tags, IPv4, IPv6 without
//! extension headers); everything else is decoded by the real decoder, so the two cannot
//! disagree on anything unusual. A test checks the fast path against the decoder on every
//! frame of the corpus and on arbitrary bytes.

use yagura_core::{LinkType, flow_hash, flow_hash_v4, shard_hash, v4_mapped};
use yagura_net::decode::{self, L3, L4};

/// Shard buckets: a flow hash picks a bucket (`hash % BUCKETS`), and [`Owners`] maps buckets
/// to workers.
pub(crate) const BUCKETS: usize = 64;

/// Which worker owns which bucket, and who this worker is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owners {
    /// This worker's number.
    pub me: usize,
    of: [u8; BUCKETS],
    /// The buckets this worker owns, one bit each.
    mine: u64,
}

impl Owners {
    /// Buckets dealt round-robin to `threads` workers (at most 64), seen by worker `me`.
    pub fn new(me: usize, threads: usize) -> Owners {
        let threads = threads.clamp(1, BUCKETS);
        let of: [u8; BUCKETS] = std::array::from_fn(|b| (b % threads) as u8);
        let mine = (0..BUCKETS)
            .filter(|&b| usize::from(of[b]) == me)
            .fold(0u64, |m, b| m | 1 << b);
        Owners { me, of, mine }
    }

    /// The worker owning flows of hash `h`.
    #[inline]
    pub fn owner(&self, h: u64) -> usize {
        self.owner_of_route(record_route(h))
    }

    /// The worker owning a record of route `r` (from [`route_record`]; not a fragment's).
    #[inline]
    pub fn owner_of_route(&self, r: u32) -> usize {
        // A route keeps the hash's low 31 bits, the bucket's among them.
        usize::from(self.of[r as usize % BUCKETS])
    }

    /// Does this worker own flows of hash `h`?
    #[inline]
    pub fn mine(&self, h: u64) -> bool {
        self.owner(h) == self.me
    }

    /// Does this worker own records of route `r`? (A test ties it to `owner_of_route`.)
    #[inline]
    pub fn mine_route(&self, r: u32) -> bool {
        self.mine >> (r as usize % BUCKETS) & 1 != 0
    }
}

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To the worker that owns this hash (modulo the bucket count).
    Hash(u64),
    /// An IP fragment: to every worker.
    Fragment,
}

/// The route of one captured frame of link type `link`.
#[inline]
pub fn route(link: LinkType, data: &[u8]) -> Route {
    if link != LinkType::ETHERNET {
        return route_decoded(link, data);
    }
    let Some(h) = data.first_chunk::<18>() else {
        return route_decoded(link, data);
    };
    // Untagged or one 802.1Q tag here; more tags take the decoder's path.
    let (et, l3) = match u16::from_be_bytes([h[12], h[13]]) {
        0x8100 => (u16::from_be_bytes([h[16], h[17]]), &data[18..]),
        et => (et, &data[14..]),
    };
    match et {
        0x0800 => match l3.first_chunk::<24>() {
            // IPv4 without options (else the decoder's path).
            Some(h) if h[0] == 0x45 => {
                if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
                    return Route::Fragment;
                }
                let src = v4_mapped([h[12], h[13], h[14], h[15]]);
                let dst = v4_mapped([h[16], h[17], h[18], h[19]]);
                let (sp, dp) = match h[9] {
                    6 | 17 => (
                        u16::from_be_bytes([h[20], h[21]]),
                        u16::from_be_bytes([h[22], h[23]]),
                    ),
                    _ => (0, 0),
                };
                Route::Hash(flow_hash(&src, sp, &dst, dp))
            }
            _ => route_decoded(link, data),
        },
        0x86dd => match l3.first_chunk::<44>() {
            // IPv6 whose next header is the transport itself.
            Some(p) if p[0] >> 4 == 6 && matches!(p[6], 6 | 17) => {
                let mut src = [0u8; 16];
                let mut dst = [0u8; 16];
                src.copy_from_slice(&p[8..24]);
                dst.copy_from_slice(&p[24..40]);
                let sp = u16::from_be_bytes([p[40], p[41]]);
                let dp = u16::from_be_bytes([p[42], p[43]]);
                Route::Hash(flow_hash(&src, sp, &dst, dp))
            }
            _ => route_decoded(link, data),
        },
        // ARP: by the sender/target address pair (it creates no flow).
        0x0806 => match l3.get(14..28) {
            Some(a) => Route::Hash(shard_hash(
                &v4_mapped([a[0], a[1], a[2], a[3]]),
                &v4_mapped([a[10], a[11], a[12], a[13]]),
            )),
            None => Route::Hash(0),
        },
        // 802.3 with LLC (it may carry IP over SNAP), stacked VLAN tags: ask the decoder.
        0..=1500 | 0x8100 | 0x88a8 | 0x9100 => route_decoded(link, data),
        // Any other ethertype creates no flow: by MAC pair.
        _ => Route::Hash(mac_pair(data)),
    }
}

/// [`route`] in the form a capture source stores with each record
/// ([`yagura_capture::Router`]): [`FRAGMENT_ROUTE`] for a fragment, else the hash's low 31
/// bits ([`record_route`]: never `FRAGMENT_ROUTE`, and the same bucket as the whole hash).
pub fn route_record(link: LinkType, data: &[u8]) -> u32 {
    // The frame nearly every capture is made of, first: untagged Ethernet, IPv4 without
    // options, not a fragment. The same reads as `route`'s, which a test ties it to.
    if link == LinkType::ETHERNET
        && let Some(h) = data.first_chunk::<38>()
        && h[12..15] == [0x08, 0x00, 0x45]
        && (h[20] & 0x3f) | h[21] == 0
    {
        let src = u32::from_be_bytes([h[26], h[27], h[28], h[29]]);
        let dst = u32::from_be_bytes([h[30], h[31], h[32], h[33]]);
        let (sp, dp) = match h[23] {
            6 | 17 => (
                u16::from_be_bytes([h[34], h[35]]),
                u16::from_be_bytes([h[36], h[37]]),
            ),
            _ => (0, 0),
        };
        return record_route(flow_hash_v4(src, sp, dst, dp));
    }
    match route(link, data) {
        Route::Hash(h) => record_route(h),
        Route::Fragment => FRAGMENT_ROUTE,
    }
}

/// The record route of a flow hash: its low 31 bits.
#[inline]
pub(crate) fn record_route(h: u64) -> u32 {
    (h as u32) & 0x7fff_ffff
}

/// The record route of an IP fragment.
pub const FRAGMENT_ROUTE: u32 = u32::MAX;

/// The route from the decoder's view of the frame (the slow, exact path).
#[cold]
fn route_decoded(link: LinkType, data: &[u8]) -> Route {
    let Ok(d) = decode::decode(link, data) else {
        return Route::Hash(0);
    };
    match d.l3 {
        L3::Ip(ip) if ip.frag.is_some() => Route::Fragment,
        L3::Ip(ip) => {
            let (sp, dp) = ports(&ip.l4);
            Route::Hash(flow_hash(&ip.src, sp, &ip.dst, dp))
        }
        L3::Arp(a) => Route::Hash(shard_hash(&v4_mapped(a.sender_ip), &v4_mapped(a.target_ip))),
        L3::Other(_) => {
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            a[..6].copy_from_slice(&d.src_mac.0);
            b[..6].copy_from_slice(&d.dst_mac.0);
            Route::Hash(shard_hash(&a, &b))
        }
    }
}

/// The ports a flow key takes from a transport header (0 for transports without ports).
#[inline]
pub(crate) fn ports(l4: &L4) -> (u16, u16) {
    match *l4 {
        L4::Tcp(t) => (t.src_port, t.dst_port),
        L4::Udp { src_port, dst_port } => (src_port, dst_port),
        _ => (0, 0),
    }
}

fn mac_pair(data: &[u8]) -> u64 {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    a[..6].copy_from_slice(&data[0..6]);
    b[..6].copy_from_slice(&data[6..12]);
    shard_hash(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the route must be, from the decoder: `None` when no flow can come of the frame
    /// (then any worker will do).
    fn expected(link: LinkType, data: &[u8]) -> Option<Route> {
        match decode::decode(link, data).ok()?.l3 {
            L3::Ip(ip) if ip.frag.is_some() => Some(Route::Fragment),
            L3::Ip(ip) => {
                let (sp, dp) = ports(&ip.l4);
                Some(Route::Hash(flow_hash(&ip.src, sp, &ip.dst, dp)))
            }
            _ => None,
        }
    }

    fn check(link: LinkType, data: &[u8]) -> Result<(), String> {
        // The record form agrees with the route (its own fast path included).
        let rec = match route(link, data) {
            Route::Hash(h) => record_route(h),
            Route::Fragment => FRAGMENT_ROUTE,
        };
        if route_record(link, data) != rec {
            return Err(format!("route_record disagrees with route for {data:02x?}"));
        }
        match expected(link, data) {
            Some(want) if route(link, data) != want => Err(format!(
                "route {:?} != decoder's {want:?} for {data:02x?}",
                route(link, data)
            )),
            _ => Ok(()),
        }
    }

    /// Each bucket has exactly one owner, and `mine_route` says so to that worker only.
    #[test]
    fn every_route_has_one_owner() {
        for threads in 1..=BUCKETS {
            let all: Vec<Owners> = (0..threads).map(|me| Owners::new(me, threads)).collect();
            for r in (0..BUCKETS as u32).chain([0x7fff_ffff, 0x1234_5678]) {
                let owner = all[0].owner_of_route(r);
                assert!(owner < threads);
                for o in &all {
                    assert_eq!(o.owner_of_route(r), owner);
                    assert_eq!(
                        o.mine_route(r),
                        o.me == owner,
                        "{threads} threads, route {r}"
                    );
                }
            }
        }
    }

    /// Every frame of every corpus capture: the fast path agrees with the decoder (and the
    /// in-place decoder with the decoder).
    #[test]
    fn fast_path_agrees_with_the_decoder_on_the_corpus() {
        let root = yagura_testkit::corpus("pcap");
        let mut src = yagura_capture::file::open_paths(&[root]).expect("corpus opens");
        let (mut n, mut frags) = (0u64, 0u64);
        loop {
            let batch = match src.next_batch(4096) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                // A corrupt file ends the merged input early; what was read is checked.
                Err(e) => panic!("corpus read: {e}"),
            };
            for i in 0..batch.len() {
                let p = batch.get(i);
                n += 1;
                frags += u64::from(route(p.link, p.data) == Route::Fragment);
                if let Err(e) = check(p.link, p.data) {
                    panic!("{e}");
                }
                // The worker decodes in place: it must see what `decode` sees.
                let mut d = decode::Decoded::EMPTY;
                let into = decode::decode_into(p.link, p.data, &mut d).map(|()| d);
                assert_eq!(into, decode::decode(p.link, p.data), "frame {n}");
            }
        }
        // (The corpus has no IP fragments; the hand-made frames below and the engine's
        // robustness tests cover them.)
        assert!(n > 100_000, "read only {n} frames");
        assert_eq!(frags, 0);
    }

    /// Hand-made frames for the corners: VLAN tags, IPv4 options, IPv6 extension headers
    /// and fragments, LLC/SNAP.
    #[test]
    fn corner_frames_route_by_their_flow() {
        let eth = |et: u16, body: &[u8]| {
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
            f.extend_from_slice(&et.to_be_bytes());
            f.extend_from_slice(body);
            f
        };
        let ipv4 = |ihl: u8, frag: u16, proto: u8| {
            let mut p = vec![0x40 | ihl, 0, 0, 0, 0, 1];
            p.extend_from_slice(&frag.to_be_bytes());
            p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            p.resize(usize::from(ihl) * 4, 1);
            p.extend_from_slice(&[0x9c, 0x40, 0x01, 0xf6, 0, 8, 0, 0]);
            p.resize(p.len() + 20, 0x50);
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p
        };
        let v4 = ipv4(5, 0, 17);
        let a = eth(0x0800, &v4);
        let mut tagged = eth(0x8100, &[0, 5, 0x08, 0x00]);
        tagged.extend_from_slice(&v4);
        let options = eth(0x0800, &ipv4(7, 0, 17));
        let first_frag = eth(0x0800, &ipv4(5, 0x2000, 17));
        let later_frag = eth(0x0800, &ipv4(5, 0x0010, 17));
        let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        snap.extend_from_slice(&v4);
        let llc = eth(snap.len() as u16, &snap);
        for f in [&a, &tagged, &options, &first_frag, &later_frag, &llc] {
            check(LinkType::ETHERNET, f).unwrap();
        }
        assert_eq!(
            route(LinkType::ETHERNET, &a),
            route(LinkType::ETHERNET, &tagged)
        );
        assert_eq!(
            route(LinkType::ETHERNET, &a),
            route(LinkType::ETHERNET, &llc)
        );
        assert_eq!(route(LinkType::ETHERNET, &first_frag), Route::Fragment);
        assert_eq!(route(LinkType::ETHERNET, &later_frag), Route::Fragment);
        // IPv6: UDP directly, then behind a hop-by-hop header; an atomic fragment is none.
        let v6 = |next: u8, ext: &[u8]| {
            let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 64];
            p.extend_from_slice(&[0xfe; 16]);
            p.extend_from_slice(&[0xfd; 16]);
            p.extend_from_slice(ext);
            p.extend_from_slice(&[0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0]);
            let plen = (p.len() - 40) as u16;
            p[4..6].copy_from_slice(&plen.to_be_bytes());
            eth(0x86dd, &p)
        };
        let direct = v6(17, &[]);
        let hop = v6(0, &[17, 0, 1, 4, 0, 0, 0, 0]);
        let atomic = v6(44, &[17, 0, 0, 0, 0, 0, 0, 9]);
        let frag = v6(44, &[17, 0, 0, 1, 0, 0, 0, 9]);
        for f in [&direct, &hop, &atomic, &frag] {
            check(LinkType::ETHERNET, f).unwrap();
        }
        assert_eq!(
            route(LinkType::ETHERNET, &direct),
            route(LinkType::ETHERNET, &hop)
        );
        assert_eq!(
            route(LinkType::ETHERNET, &direct),
            route(LinkType::ETHERNET, &atomic)
        );
        assert_eq!(route(LinkType::ETHERNET, &frag), Route::Fragment);
    }

    proptest! {
        /// Arbitrary frames behind a plausible Ethernet + IP prefix: never a route the
        /// decoder disagrees with, never a panic.
        #[test]
        fn fast_path_agrees_with_the_decoder(
            et in prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x0806, 0x0040, 0x88cc]),
            first in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x60, 0x44, 0x81]),
            next in prop::sample::select(vec![6u8, 17, 0, 43, 44, 60, 51, 1, 58]),
            rest in prop::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut f = vec![0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
            f.extend_from_slice(&et.to_be_bytes());
            f.push(first);
            f.extend_from_slice(&rest);
            if f.len() > 23 {
                f[23] = next; // IPv4 protocol
            }
            if f.len() > 20 {
                f[20] = next; // IPv6 next header
            }
            prop_assert!(check(LinkType::ETHERNET, &f).is_ok(), "{:?}", check(LinkType::ETHERNET, &f));
            for link in [LinkType::LINUX_SLL, LinkType::RAW, LinkType::NULL] {
                prop_assert!(check(link, &f).is_ok());
            }
        }
    }
}
