//! Pipeline robustness: hostile packets through a [`Worker`] with small limits, checking after
//! every packet that nothing exceeds its bound and that buffer accounting adds up; a flood of
//! distinct flows; and hostile capture files through [`crate::run`].
//!
//! A child module of `worker` (included from there), so it can look at the worker's tables.

use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use proptest::sample::Index;
use yagura_capture::Packet;
use yagura_capture::file::{FileSource, OpenOptions};
use yagura_core::{LinkType, Timestamp};
use yagura_net::defrag::DefragLimits;
use yagura_net::flow::FlowLimits;
use yagura_net::reassembly::ReassemblyLimits;

use super::*;
use crate::{EngineConfig, Progress, Report};

fn small_config() -> EngineConfig {
    EngineConfig {
        threads: 1,
        events: None,
        batch_size: 64,
        flow_limits: FlowLimits {
            max_flows: 16,
            ..FlowLimits::default()
        },
        reassembly: ReassemblyLimits {
            max_ooo_segments: 4,
            max_ooo_bytes: 2048,
            global_bytes: 4096,
            max_window: 1 << 16,
        },
        defrag: DefragLimits {
            max_datagrams: 4,
            max_bytes: 8192,
            timeout_ns: 2_000_000_000,
            max_fragments: 8,
        },
        dissect: true,
        only_dissectors: None,
        snapshot_hold: std::time::Duration::ZERO,
    }
}

/// Every bound the worker promises, and that the shared byte counts match what the flows hold.
fn check_bounds(w: &mut Worker<'_>, cfg: &EngineConfig) {
    let max_flows = cfg.flow_limits.max_flows;
    assert!(w.flows.len() <= max_flows, "{} flows", w.flows.len());
    assert!(
        w.pool.buffered <= cfg.reassembly.global_bytes,
        "{} reassembly bytes",
        w.pool.buffered
    );
    assert!(w.defrag.buffered_bytes() <= cfg.defrag.max_bytes);
    assert!(w.defrag.pending() <= cfg.defrag.max_datagrams);
    let mut held = 0;
    let mut live = 0;
    // The slab never holds more slots than the cap; look a little further to be sure.
    for slot in 0..(4 * max_flows) as u32 {
        let Some(f) = w.flows.get_mut(slot) else {
            continue;
        };
        live += 1;
        for s in &f.tcp {
            assert!(s.buffered() <= cfg.reassembly.max_ooo_bytes);
            held += s.buffered();
        }
        for p in f.app.pending.iter().flatten() {
            // A partial PDU is capped at MAX_PENDING; bytes held for detection can add one
            // chunk (at most an IP payload) on top of the detection limit.
            assert!(
                p.len() <= MAX_PENDING + MAX_DETECT_BYTES,
                "{} bytes pending in a flow",
                p.len()
            );
        }
    }
    assert_eq!(live, w.flows.len(), "flows outside the slots looked at");
    assert_eq!(
        held, w.pool.buffered,
        "reassembly bytes not accounted to a flow"
    );
}

// ---- Frames ----

const HOSTS: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 20]];

fn ethernet(src: u8, dst: u8, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x1b, 0x1b, 0x00, 0x00, dst, 0x00, 0x1b, 0x1b, 0x00, 0x00, src,
    ];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet; `frag` is the flags/fragment-offset field.
fn ipv4(src: usize, dst: usize, proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&HOSTS[src]);
    p.extend_from_slice(&HOSTS[dst]);
    p.extend_from_slice(payload);
    ethernet(src as u8 + 1, dst as u8 + 1, 0x0800, &p)
}

fn v6_addr(h: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[15] = h as u8 + 1;
    a
}

/// An IPv6 packet whose payload follows a fragment header.
fn ipv6_fragment(
    src: usize,
    dst: usize,
    id: u32,
    offset8: u16,
    more: bool,
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 44, 64];
    p[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&v6_addr(src));
    p.extend_from_slice(&v6_addr(dst));
    p.extend_from_slice(&[proto, 0]);
    p.extend_from_slice(&((offset8 << 3) | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(payload);
    ethernet(src as u8 + 1, dst as u8 + 1, 0x86dd, &p)
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Frames of the bundled sample captures, with their link types.
fn sample_frames() -> &'static [(LinkType, Vec<u8>)] {
    static FRAMES: OnceLock<Vec<(LinkType, Vec<u8>)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcap/sample");
        let mut src = yagura_capture::file::open_paths(&[dir]).expect("sample captures");
        let mut frames = Vec::new();
        while let Some(b) = src.next_batch(1024).expect("sample captures read") {
            frames.extend(b.iter().map(|p| (p.link, p.data.to_vec())));
        }
        assert!(frames.len() > 100);
        frames
    })
}

/// Connections the TCP, UDP and datagram generators mostly use (client host, server host,
/// client port, server port): few enough that streams get long, on ports with dissectors.
const CONNS: [(usize, usize, u16, u16); 6] = [
    (0, 1, 40001, 502),
    (0, 2, 40002, 102),
    (1, 2, 40003, 20000),
    (2, 0, 40004, 2404),
    (0, 1, 40005, 44818),
    (1, 0, 40006, 53),
];

/// One generated input: one packet, or several (a fragmented datagram).
#[derive(Debug, Clone)]
enum Gen {
    /// Random bytes under a link type (decodable or not).
    Raw { link: u16, data: Vec<u8> },
    /// A real frame with some bytes overwritten.
    Real {
        frame: Index,
        edits: Vec<(Index, u8)>,
    },
    /// A TCP segment of connection `conn` (one past the end of [`CONNS`]: the `random` hosts
    /// and ports, a new flow nearly every time). `seq` is relative to the next byte this
    /// direction has not sent yet (0: in order, < 0: retransmitted, > 0: leaving a hole),
    /// `ack` to the other direction's.
    Tcp {
        conn: usize,
        reverse: bool,
        random: ((usize, usize), (u16, u16)),
        seq: i32,
        ack: i32,
        flags: u8,
        payload: Vec<u8>,
    },
    Udp {
        conn: usize,
        reverse: bool,
        payload: Vec<u8>,
    },
    /// An IPv4 or IPv6 fragment with random fields (offset in 8-byte units).
    Frag {
        v6: bool,
        hosts: (usize, usize),
        id: u16,
        offset8: u16,
        more: bool,
        proto: u8,
        payload: Vec<u8>,
    },
    /// A whole UDP datagram cut into fragments at `cuts` (in 8-byte units), sent in a
    /// shuffled order, sometimes with one fragment again carrying different bytes.
    Datagram {
        v6: bool,
        conn: usize,
        id: u16,
        payload: Vec<u8>,
        cuts: Vec<Index>,
        order: Vec<Index>,
        dup: Option<(Index, u8)>,
    },
}

/// A generated input, how much of each of its frames the capture kept, and the time since
/// the previous input (sometimes negative: captures are not always in time order).
type Step = (Gen, Option<Index>, i64);

/// State of the generators during a run: the next sequence number of each TCP direction.
#[derive(Default)]
struct Streams {
    next: HashMap<(usize, usize, u16, u16), u32>,
}

impl Streams {
    fn next(&mut self, a: usize, b: usize, sp: u16, dp: u16) -> &mut u32 {
        self.next.entry((a, b, sp, dp)).or_insert_with(|| {
            // A spread-out initial sequence number per direction.
            let h = (a as u32).wrapping_mul(0x0100_0193) ^ (b as u32).wrapping_mul(0x9e37_79b9);
            (h ^ (u32::from(sp) << 16)).wrapping_add(u32::from(dp).wrapping_mul(2_654_435_761))
        })
    }
}

/// An IPv4 or IPv6 fragment.
#[allow(clippy::too_many_arguments)]
fn fragment(
    v6: bool,
    a: usize,
    b: usize,
    id: u16,
    offset8: u16,
    more: bool,
    proto: u8,
    data: &[u8],
) -> Vec<u8> {
    if v6 {
        ipv6_fragment(a, b, u32::from(id), offset8 & 0x1fff, more, proto, data)
    } else {
        let field = (offset8 & 0x1fff) | if more { 0x2000 } else { 0 };
        ipv4(a, b, proto, id, field, data)
    }
}

fn oriented(conn: (usize, usize, u16, u16), reverse: bool) -> (usize, usize, u16, u16) {
    let (a, b, sp, dp) = conn;
    if reverse { (b, a, dp, sp) } else { conn }
}

impl Gen {
    fn frames(&self, st: &mut Streams) -> Vec<(LinkType, Vec<u8>)> {
        let eth = |f: Vec<u8>| vec![(LinkType::ETHERNET, f)];
        match self {
            Gen::Raw { link, data } => vec![(LinkType(*link), data.clone())],
            Gen::Real { frame, edits } => {
                let frames = sample_frames();
                let (link, f) = &frames[frame.index(frames.len())];
                let mut f = f.clone();
                if !f.is_empty() {
                    for (at, b) in edits {
                        let i = at.index(f.len());
                        f[i] = *b;
                    }
                }
                vec![(*link, f)]
            }
            Gen::Tcp {
                conn,
                reverse,
                random: ((ra, rb), (rsp, rdp)),
                seq,
                ack,
                flags,
                payload,
            } => {
                let c = CONNS.get(*conn).copied().unwrap_or((*ra, *rb, *rsp, *rdp));
                let (a, b, sp, dp) = oriented(c, *reverse);
                let ack = st.next(b, a, dp, sp).wrapping_add_signed(*ack);
                let next = st.next(a, b, sp, dp);
                let seq = next.wrapping_add_signed(*seq);
                let end = seq.wrapping_add(payload.len() as u32);
                if (end.wrapping_sub(*next) as i32) > 0 {
                    *next = end;
                }
                eth(ipv4(
                    a,
                    b,
                    6,
                    1,
                    0x4000,
                    &tcp(sp, dp, seq, ack, *flags, payload),
                ))
            }
            Gen::Udp {
                conn,
                reverse,
                payload,
            } => {
                let (a, b, sp, dp) = oriented(CONNS[*conn], *reverse);
                eth(ipv4(a, b, 17, 1, 0, &udp(sp, dp, payload)))
            }
            Gen::Frag {
                v6,
                hosts: (a, b),
                id,
                offset8,
                more,
                proto,
                payload,
            } => eth(fragment(*v6, *a, *b, *id, *offset8, *more, *proto, payload)),
            Gen::Datagram {
                v6,
                conn,
                id,
                payload,
                cuts,
                order,
                dup,
            } => {
                let (a, b, sp, dp) = CONNS[*conn];
                let d = udp(sp, dp, payload);
                let units = d.len().div_ceil(8);
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(units) * 8).collect();
                at.extend([0, d.len()]);
                at.sort_unstable();
                at.dedup();
                let mut frags: Vec<(usize, usize)> = at.windows(2).map(|w| (w[0], w[1])).collect();
                for (i, o) in order.iter().enumerate() {
                    let i = i % frags.len();
                    let j = o.index(frags.len());
                    frags.swap(i, j);
                }
                if let Some((i, x)) = dup {
                    frags.push(frags[i.index(frags.len())]);
                    let _ = x;
                }
                frags
                    .iter()
                    .enumerate()
                    .map(|(k, &(s, e))| {
                        let mut data = d[s..e].to_vec();
                        // The repeated fragment disagrees with the first copy.
                        if let (Some((_, x)), true) = (dup, k == frags.len() - 1) {
                            data[0] ^= x | 1;
                        }
                        let f = fragment(*v6, a, b, *id, (s / 8) as u16, e < d.len(), 17, &data);
                        (LinkType::ETHERNET, f)
                    })
                    .collect()
            }
        }
    }
}

fn hosts() -> impl Strategy<Value = (usize, usize)> {
    (0..HOSTS.len(), 0..HOSTS.len())
}

fn ports() -> impl Strategy<Value = (u16, u16)> {
    let port = prop_oneof![
        prop::sample::select(vec![
            502u16, 102, 20000, 2404, 44818, 80, 53, 47808, 161, 123
        ]),
        any::<u16>(),
    ];
    (port.clone(), port)
}

/// Payloads: random, or starting like a PDU of a dissected protocol with a random (often
/// large) length, so partial PDUs pile up in the per-flow buffers.
fn payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let headers = prop::sample::select(vec![
        &[0x00u8, 0x01, 0x00, 0x00][..], // MBAP: the length follows
        &[0x03, 0x00][..],               // TPKT
        &[0x05, 0x64][..],               // DNP3 link layer
        &[0x68][..],                     // IEC 104 APCI
        &[0x6f, 0x00][..],               // EtherNet/IP SendRRData
        &[0x81, 0x0a][..],               // BACnet/IP BVLC
        &b"GET / HTTP/1.1\r\nContent-Length: 9"[..], // HTTP
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..max),
        (
            headers,
            any::<[u8; 2]>(),
            prop::collection::vec(any::<u8>(), 0..max)
        )
            .prop_map(|(h, len, rest)| {
                let mut p = h.to_vec();
                p.extend_from_slice(&len);
                p.extend_from_slice(&rest);
                p
            }),
    ]
}

fn gen_raw() -> impl Strategy<Value = Gen> {
    let link = prop_oneof![
        prop::sample::select(vec![1u16, 113, 276, 101, 12, 14, 228, 229, 0, 108]),
        any::<u16>(),
    ];
    (link, prop::collection::vec(any::<u8>(), 0..200))
        .prop_map(|(link, data)| Gen::Raw { link, data })
}

fn gen_real() -> impl Strategy<Value = Gen> {
    (
        any::<Index>(),
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..6),
    )
        .prop_map(|(frame, edits)| Gen::Real { frame, edits })
}

fn gen_tcp() -> impl Strategy<Value = Gen> {
    use tcp_flags::{ACK, FIN, PSH, RST, SYN};
    let seq = prop_oneof![
        6 => Just(0i32),
        2 => -3000i32..0,
        2 => 1i32..6000,
        1 => any::<i32>(),
    ];
    let ack = prop_oneof![4 => Just(0i32), 2 => -3000i32..6000, 1 => any::<i32>()];
    let flags = prop_oneof![
        8 => Just(ACK | PSH),
        1 => Just(SYN),
        1 => Just(SYN | ACK),
        1 => Just(FIN | ACK),
        1 => Just(RST),
        1 => any::<u8>(),
    ];
    (
        (0..=CONNS.len(), any::<bool>(), (hosts(), ports())),
        seq,
        ack,
        flags,
        payload(1400),
    )
        .prop_map(
            |((conn, reverse, random), seq, ack, flags, payload)| Gen::Tcp {
                conn,
                reverse,
                random,
                seq,
                ack,
                flags,
                payload,
            },
        )
}

fn gen_udp() -> impl Strategy<Value = Gen> {
    (0..CONNS.len(), any::<bool>(), payload(600)).prop_map(|(conn, reverse, payload)| Gen::Udp {
        conn,
        reverse,
        payload,
    })
}

fn gen_frag() -> impl Strategy<Value = Gen> {
    prop_oneof![
        (
            any::<bool>(),
            hosts(),
            0u16..3,
            prop_oneof![0u16..64, any::<u16>()],
            any::<bool>(),
            prop::sample::select(vec![6u8, 17, 1]),
            prop::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|(v6, hosts, id, offset8, more, proto, payload)| Gen::Frag {
                v6,
                hosts,
                id,
                offset8,
                more,
                proto,
                payload,
            }),
        (
            any::<bool>(),
            0..CONNS.len(),
            0u16..3,
            payload(3000),
            prop::collection::vec(any::<Index>(), 0..10),
            prop::collection::vec(any::<Index>(), 0..10),
            prop::option::weighted(0.2, (any::<Index>(), any::<u8>())),
        )
            .prop_map(|(v6, conn, id, payload, cuts, order, dup)| Gen::Datagram {
                v6,
                conn,
                id,
                payload,
                cuts,
                order,
                dup,
            }),
    ]
}

fn steps(g: impl Strategy<Value = Gen>, n: usize) -> impl Strategy<Value = Vec<Step>> {
    let dt = prop_oneof![
        8 => 0i64..50_000_000,
        1 => 0i64..10_000_000_000,
        1 => -1_000_000_000i64..0,
    ];
    prop::collection::vec((g, prop::option::weighted(0.1, any::<Index>()), dt), 1..n)
}

/// Run the inputs through a worker with small limits, checking the bounds after every packet.
fn run_steps(steps: &[Step], events: bool) {
    let cfg = small_config();
    let registry = Registry::new();
    let spill = events.then(|| EventSpill::new().expect("temporary events file"));
    let mut w = Worker::new(&registry, &cfg, spill, None);
    let mut streams = Streams::default();
    let mut now: u64 = 1_700_000_000_000_000_000;
    let mut index = 0;
    for (g, cut, dt) in steps {
        now = now.saturating_add_signed(*dt);
        for (link, mut data) in g.frames(&mut streams) {
            let orig_len = data.len() as u32;
            // Cut by the capture's snap length: the headers still tell the full length.
            if let Some(cut) = cut {
                data.truncate(cut.index(data.len() + 1));
            }
            w.process(&Packet {
                ts: Timestamp(now),
                link,
                orig_len,
                data: &data,
                index,
            });
            index += 1;
            check_bounds(&mut w, &cfg);
        }
    }
    let (partial, _spill, err) = w.finish();
    assert!(err.is_none());
    assert_eq!(partial.packets, index);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_stay_bounded(steps in steps(gen_raw(), 64)) {
        run_steps(&steps, false);
    }

    #[test]
    fn mutated_real_frames_stay_bounded(steps in steps(gen_real(), 96)) {
        run_steps(&steps, false);
    }

    #[test]
    fn hostile_tcp_stays_bounded(steps in steps(gen_tcp(), 128)) {
        run_steps(&steps, false);
    }

    #[test]
    fn hostile_fragments_stay_bounded(steps in steps(prop_oneof![3 => gen_frag(), 1 => gen_udp()], 64)) {
        run_steps(&steps, false);
    }

    #[test]
    fn mixed_traffic_with_events_stays_bounded(
        steps in steps(prop_oneof![gen_raw(), gen_real(), gen_tcp(), gen_udp(), gen_frag()], 96)
    ) {
        run_steps(&steps, true);
    }
}

/// A flood of distinct flows keeps the table at its cap and counts every eviction.
#[test]
fn distinct_flow_flood_is_capped_and_counted() {
    const N: u32 = 100_000;
    let cfg = small_config();
    let registry = Registry::new();
    let mut w = Worker::new(&registry, &cfg, None, None);
    let mut frame = ipv4(0, 1, 17, 1, 0, &udp(1, 161, b"\x30\x00"));
    for i in 0..N {
        // Source address and port from the packet number: every packet is a new flow.
        frame[14 + 12 + 2] = (i >> 16) as u8;
        frame[14 + 20..14 + 22].copy_from_slice(&(i as u16).to_be_bytes());
        let pkt = Packet {
            ts: Timestamp(1_000_000_000 + u64::from(i) * 1000),
            link: LinkType::ETHERNET,
            orig_len: frame.len() as u32,
            data: &frame,
            index: u64::from(i),
        };
        w.process(&pkt);
        assert!(w.flows.len() <= 16);
    }
    assert_eq!(w.flows.len(), 16);
    let (p, _, _) = w.finish();
    assert_eq!(p.pipeline.flows_created, u64::from(N));
    assert_eq!(p.pipeline.flows_evicted, u64::from(N) - 16);
}

/// Flows evicted while holding out-of-order data give its memory back.
#[test]
fn evicted_flows_release_reassembly_buffers() {
    let cfg = small_config();
    let registry = Registry::new();
    let mut w = Worker::new(&registry, &cfg, None, None);
    for i in 0..5_000u32 {
        let sport = 10_000 + i as u16;
        for (k, (seq, flags, payload)) in [
            (1000u32, tcp_flags::SYN, &b""[..]),
            // Ahead of the next expected byte (1001): held out of order.
            (1500, tcp_flags::ACK | tcp_flags::PSH, &[0x42u8; 300][..]),
        ]
        .into_iter()
        .enumerate()
        {
            let idx = u64::from(i) * 2 + k as u64;
            let f = ipv4(0, 1, 6, 1, 0x4000, &tcp(sport, 502, seq, 0, flags, payload));
            w.process(&Packet {
                ts: Timestamp(1_000_000_000 + idx),
                link: LinkType::ETHERNET,
                orig_len: f.len() as u32,
                data: &f,
                index: idx,
            });
            check_bounds(&mut w, &cfg);
        }
    }
    assert!(w.pool.buffered > 0);
    let (p, _, _) = w.finish();
    assert_eq!(p.pipeline.flows_evicted, 5_000 - 16);
    // Each held segment was buffered, or, with the worker's buffer full, given up as a gap.
    assert!(p.pipeline.tcp_cap_drops > 0);
    assert_eq!(
        p.pipeline.tcp_out_of_order + p.pipeline.tcp_cap_drops,
        5_000
    );
}

/// A PDU that announces more than the per-flow buffer holds (a DNS-over-TCP message of
/// 65,535 bytes) is skipped as a gap, never buffered whole.
#[test]
fn oversized_partial_pdu_is_skipped_not_buffered() {
    use tcp_flags::{ACK, PSH, SYN};
    let cfg = small_config();
    let registry = Registry::new();
    let mut w = Worker::new(&registry, &cfg, None, None);
    let mut first = vec![0xff, 0xff, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    first.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    first.resize(1400, 0);
    let rest = [0u8; 1400];
    let mut segs = vec![
        (false, 100u32, 0u32, SYN, &[][..]),
        (true, 5000, 101, SYN | ACK, &[][..]),
        (false, 101, 5001, ACK, &[][..]),
        (false, 101, 5001, ACK | PSH, &first[..]),
    ];
    for i in 1..60u32 {
        segs.push((false, 101 + i * 1400, 5001, ACK | PSH, &rest[..]));
    }
    for (i, (from_server, seq, ack, flags, payload)) in segs.into_iter().enumerate() {
        let (a, b, sp, dp) = if from_server {
            (1, 0, 53, 40000)
        } else {
            (0, 1, 40000, 53)
        };
        let f = ipv4(a, b, 6, 1, 0x4000, &tcp(sp, dp, seq, ack, flags, payload));
        w.process(&Packet {
            ts: Timestamp(1_000_000_000 + i as u64),
            link: LinkType::ETHERNET,
            orig_len: f.len() as u32,
            data: &f,
            index: i as u64,
        });
        check_bounds(&mut w, &cfg);
    }
    let f = w.flows.get_mut(0).expect("the connection");
    assert_eq!(f.app.proto, ProtocolId::DNS);
    let (p, _, _) = w.finish();
    assert_eq!(p.pipeline.app_buffer_overflows, 1);
}

// ---- Hostile capture files through the public API ----

fn pcap_header(link: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&[2, 0, 4, 0]);
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65_535u32.to_le_bytes());
    h.extend_from_slice(&u32::from(link).to_le_bytes());
    h
}

fn pcap_record(out: &mut Vec<u8>, sec: u32, caplen: u32, orig: u32, data: &[u8]) {
    out.extend_from_slice(&sec.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&caplen.to_le_bytes());
    out.extend_from_slice(&orig.to_le_bytes());
    out.extend_from_slice(data);
}

/// Analyse an in-memory capture with small limits: `Ok(report)`, `Err` for a failed run, or
/// `None` when the bytes are not recognised as a capture at all.
fn analyse(bytes: Vec<u8>, threads: usize, opts: &OpenOptions) -> Option<Result<Report, String>> {
    let cfg = EngineConfig {
        threads,
        batch_size: 16,
        ..small_config()
    };
    analyse_with(bytes, &cfg, opts)
}

fn analyse_with(
    bytes: Vec<u8>,
    cfg: &EngineConfig,
    opts: &OpenOptions,
) -> Option<Result<Report, String>> {
    let mut src = FileSource::from_bytes("hostile", bytes, opts).ok()?;
    let r = crate::run(&mut src, cfg, &Progress::default(), &AtomicBool::new(false));
    Some(r.map_err(|e| e.to_string()))
}

fn sample_file(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcap/sample")
        .join(name);
    std::fs::read(p).expect("sample capture")
}

#[test]
fn hostile_capture_files_give_a_report_or_an_error() {
    let frame = ipv4(
        0,
        1,
        17,
        1,
        0,
        &udp(40000, 502, &[0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]),
    );
    let opts = OpenOptions::default();

    // Nothing, or too little, to be a capture.
    assert!(analyse(Vec::new(), 1, &opts).is_none());
    assert!(analyse(vec![0xd4, 0xc3], 1, &opts).is_none());

    // A header and nothing else: an empty report.
    let r = analyse(pcap_header(1), 1, &opts).unwrap().unwrap();
    assert_eq!(r.capture.packets, 0);

    // A last record cut short: the records before it and a warning.
    let mut f = pcap_header(1);
    pcap_record(&mut f, 1, frame.len() as u32, frame.len() as u32, &frame);
    pcap_record(&mut f, 2, 1000, 1000, &frame);
    let r = analyse(f, 1, &opts).unwrap().unwrap();
    assert_eq!(r.capture.packets, 1);
    assert_eq!(r.capture.warnings.len(), 1);

    // An impossible captured length, after a good record: an error, not a 4 GiB buffer.
    for caplen in [u32::MAX, 0x7fff_ffff, 300 << 20] {
        let mut f = pcap_header(1);
        pcap_record(&mut f, 1, frame.len() as u32, frame.len() as u32, &frame);
        pcap_record(&mut f, 2, caplen, caplen, &frame);
        for threads in [1, 2] {
            for opts in [
                &opts,
                &OpenOptions {
                    mmap: false,
                    chunk_size: 64,
                },
            ] {
                let r = analyse(f.clone(), threads, opts).unwrap();
                assert!(r.is_err(), "caplen {caplen}: {r:?}");
            }
        }
    }

    // Garbage after the header, and a header claiming a link type nobody decodes.
    let mut f = pcap_header(1);
    f.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let _ = analyse(f, 1, &opts).unwrap();
    let mut f = pcap_header(0xfffe);
    pcap_record(&mut f, 1, frame.len() as u32, frame.len() as u32, &frame);
    let r = analyse(f, 1, &opts).unwrap().unwrap();
    assert_eq!(r.capture.undecodable.values().sum::<u64>(), 1);

    // A record captured longer than it was on the wire, and one of zero bytes.
    let mut f = pcap_header(1);
    pcap_record(&mut f, 1, frame.len() as u32, 1, &frame);
    pcap_record(&mut f, 1, 0, 60, &[]);
    let r = analyse(f, 2, &opts).unwrap().unwrap();
    assert_eq!(r.capture.packets, 2);

    // pcapng: a section header, then a block whose length is absurd.
    let mut f = Vec::new();
    f.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    f.extend_from_slice(&28u32.to_le_bytes());
    f.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    f.extend_from_slice(&[1, 0, 0, 0]);
    f.extend_from_slice(&u64::MAX.to_le_bytes());
    f.extend_from_slice(&28u32.to_le_bytes());
    f.extend_from_slice(&6u32.to_le_bytes());
    f.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    f.extend_from_slice(&[0; 64]);
    let r = analyse(f, 1, &opts).unwrap();
    assert!(r.is_err(), "{r:?}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Found by the `pipeline` fuzz target, which compares reports on one and two threads: a
/// datagram still incomplete at the end of the input was counted in `fragments_timed_out`
/// only when a later packet *of the same worker* expired it, so the report depended on the
/// thread count. Bytes from the fuzzer's input: an IPv4 fragment (last, offset 37,280) and,
/// 35 s later, a non-IP frame that shards to the other worker.
#[test]
fn incomplete_datagrams_count_the_same_on_any_thread_count() {
    let frag = hex(
        "08003715e6bc00123f4a33d2080045000046aa34123401080045000238000200001e11195fc0a80001c0a80003c00188940224ad5a04002000100000000000a0de976cd1118271000000fa002a0100a0de976cd1",
    );
    let later = hex("005503206b25000000040002000700080001");
    // Fragments go to every worker; the later frame to one of them.
    assert_eq!(
        crate::route(LinkType::ETHERNET, &frag),
        crate::Route::Fragment
    );
    assert!(matches!(
        crate::route(LinkType::ETHERNET, &later),
        crate::Route::Hash(_)
    ));
    let mut f = pcap_header(1);
    pcap_record(&mut f, 21, frag.len() as u32, frag.len() as u32, &frag);
    pcap_record(&mut f, 56, later.len() as u32, later.len() as u32, &later);
    let opts = OpenOptions::default();
    let run = |f: Vec<u8>, threads| {
        let cfg = EngineConfig {
            threads,
            ..EngineConfig::default()
        };
        analyse_with(f, &cfg, &opts).unwrap().unwrap()
    };
    let (one, two) = (run(f.clone(), 1), run(f, 2));
    assert_eq!(one.pipeline.fragments, 1);
    assert_eq!(one.pipeline.fragments_timed_out, 1);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
}

/// Found by the `pipeline` fuzz target, which compares reports on one and two threads: a SYN
/// on a connection reset more than 30 s before counted in `flows_reused` when the flow sweep
/// had not reached the dead flow yet, and not when it had, so the count depended on where
/// each worker's sweep cursor stood. Frames (ms, length on the wire, bytes) from the fuzzer's
/// input (IPv6 link-local TCP and LLMNR traffic, and fragments of an SSDP capture), cut down
/// to those that matter: a RST at 0.7 s, other flows and frames, the SYN at 32.7 s.
#[test]
fn reused_flows_count_the_same_on_any_thread_count() {
    let frames: &[(u32, u32, &str)] = &[
        (
            700,
            116,
            "0800279777d6080027cbd4d008004500006619d400008001894cc0a80b12c0a80b14030394bb000000004500004a0415000080119f17c0a80b14c0a80b1214ebe638003658dd066180000001000100000000064a414e4b494e0000010001064a414e4b494e00000100010000001e0004c0a80b14",
        ),
        (
            700,
            74,
            "080027cbd4d00800279777d686dd6000000000140680fe80000000000000b53f8ce54071376dfe800000000000004159f7b2b9ed9689c03cc61700000000e76cb568501400004c1e0000",
        ),
        (
            800,
            82,
            "0800279777d6080027cbd4d086dd60000000001c0680fe800000000000004159f7b2b9ed9689fe80000000000000b53f8ce54071376dc616c015a776fea30000000070022000f6630000020405a001010402",
        ),
        (
            7100,
            64,
            "000311d552c128f001effffffa076c076c0162e46f4e4f54494659202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a3139",
        ),
        (
            11900,
            48,
            "0d0a43414348452d434f4e54524f4c3a206d61782d6167653d313831300d0a4c4f434154494f4e3a20687474703a2f2f",
        ),
        (
            16800,
            57,
            "332e34302e3234302e313a393035302f4465766963654465736372697074696f6e2e786d6c0d0a4e543a2075726e3a736368656d61732d7570",
        ),
        (
            21400,
            212,
            "2d6f72673a6465766963653a4d65646961536572766500003419d140008006497cc0a80b12c0a80b14c615c03c1b2f8300000000008002200093170000020405b401030308010104020036080027cbd4d00800279777d60800450000280413400080060000c0a80b14c0a80b12c03cc6",
        ),
        (
            26700,
            32,
            "0680fe800000000000004159f7b2b9ed9689fe80000000000000b53f8ce54071",
        ),
        (
            32700,
            116,
            "0800279777d6080027cbd4d008004500006619d400008001894cc0a80b12c0a80b14030394bb000000004500004a0415000080119f17c0a80b14c0a80b1214ebe638003658dd066180000001000100000000064a414e4b494e0000010001064a414e4b494e00000100010000001e0004c0a80b14",
        ),
        (
            32700,
            120,
            "080027cbd4d00800279777d686dd6000000000421180fe80000000000000b53f8ce54071376dfe800000000000004159f7b2b9ed968914ebef71004289a6362b80000001000100000000064a414e4b494e00001c0001064a414e4b494e00001c00010000001e0010fe80000000000000b53f8ce54071376d",
        ),
        (
            32700,
            86,
            "0800279777d6080027cbd4d086dd6000000000200680fe800000000000004159f7b2b9ed9689fe80000000000000b53f8ce54071376dc617c03ce76cb5670000000080026000000000140680fe800000000000000006",
        ),
    ];
    let mut f = pcap_header(1);
    for (ms, orig_len, hex_frame) in frames {
        let b = hex(hex_frame);
        f.extend_from_slice(&(ms / 1000).to_le_bytes());
        f.extend_from_slice(&(ms % 1000 * 1000).to_le_bytes());
        f.extend_from_slice(&(b.len() as u32).to_le_bytes());
        f.extend_from_slice(&orig_len.to_le_bytes());
        f.extend_from_slice(&b);
    }
    let opts = OpenOptions::default();
    let run = |f: Vec<u8>, threads| {
        let cfg = EngineConfig {
            threads,
            ..EngineConfig::default()
        };
        analyse_with(f, &cfg, &opts).unwrap().unwrap()
    };
    let (one, two) = (run(f.clone(), 1), run(f, 2));
    assert_eq!(one.pipeline.flows_reused, 0);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Real captures cut anywhere and with bytes overwritten, read whole or streamed, on one
    /// or two threads: a report or an error.
    #[test]
    fn damaged_real_captures_give_a_report_or_an_error(
        file in prop::sample::select(vec![
            "zeek__dnp3_select_operate.pcap",
            "sv__enip_test1.pcap",
            "zeek__dhcp.pcap",
            "icsnpp-s7comm__snap7.pcap",
            "zeek-iec104__iec104.pcap",
        ]),
        cut in any::<Index>(),
        edits in prop::collection::vec((any::<Index>(), any::<u8>()), 0..12),
        threads in 1usize..3,
        streamed in any::<bool>(),
    ) {
        let mut f = sample_file(file);
        // Keep the file header intact so the damage reaches the records.
        for (at, b) in &edits {
            let i = 24 + at.index(f.len() - 24);
            f[i] = *b;
        }
        f.truncate(24 + cut.index(f.len() - 23));
        let opts = if streamed {
            OpenOptions { mmap: false, chunk_size: 100 }
        } else {
            OpenOptions::default()
        };
        if let Some(Ok(r)) = analyse(f, threads, &opts) {
            prop_assert!(r.capture.packets < 10_000);
        }
    }
}

/// Flows are routed by address *and* port, and fragments (which carry no ports) go to every
/// worker; only the owner of a reassembled datagram's flow processes it. Many UDP flows
/// between two hosts (so both workers own some), each with whole and fragmented datagrams,
/// IPv4 and IPv6, fragments out of order and interleaved across flows: the report is the
/// same on 1, 2 and 3 threads, and every datagram is reassembled and counted once.
#[test]
fn fragmented_flows_spread_over_workers_report_the_same() {
    let mut f = pcap_header(1);
    let mut frames = Vec::new();
    let mut workers = std::collections::BTreeSet::new();
    for port in 0..24u16 {
        let sport = 40_000 + port;
        let whole = udp(sport, 161, &[0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00]);
        let ipw = ipv4(0, 1, 17, port, 0, &whole);
        if let crate::Route::Hash(h) = crate::route(LinkType::ETHERNET, &ipw) {
            workers.insert(crate::shard::Owners::new(0, 2).owner(h));
        }
        frames.push(ipw);
        // One datagram in three fragments, last first; IPv6 for odd ports.
        let big = udp(sport, 161, &[port as u8; 40]);
        let v6 = port % 2 == 1;
        let id = 1000 + port;
        let frags = [
            fragment(v6, 0, 1, id, 4, false, 17, &big[32..]),
            fragment(v6, 0, 1, id, 0, true, 17, &big[..16]),
            fragment(v6, 0, 1, id, 2, true, 17, &big[16..32]),
        ];
        frames.extend(frags);
    }
    assert_eq!(
        workers.len(),
        2,
        "the flows should spread over both workers"
    );
    for (i, fr) in frames.iter().enumerate() {
        pcap_record(
            &mut f,
            1 + i as u32 / 8,
            fr.len() as u32,
            fr.len() as u32,
            fr,
        );
    }
    let opts = OpenOptions::default();
    let run = |threads| {
        let cfg = EngineConfig {
            threads,
            batch_size: 16,
            ..EngineConfig::default()
        };
        analyse_with(f.clone(), &cfg, &opts).unwrap().unwrap()
    };
    let one = run(1);
    assert_eq!(one.pipeline.fragments, 72);
    assert_eq!(one.pipeline.fragments_reassembled, 24);
    assert_eq!(one.capture.packets, 96);
    // Every flow saw its whole datagram and its reassembled one (IPv4 and IPv6 flows).
    let datagrams: u64 = one.connections.iter().map(|c| c.packets).sum();
    assert_eq!(datagrams, 24 + 24);
    let json = serde_json::to_string(&one).unwrap();
    for threads in [2, 3] {
        let other = serde_json::to_string(&run(threads)).unwrap();
        assert!(json == other, "{threads} threads:\n{json}\n{other}");
    }
}

/// With dissectors off (the benchmark's baseline), flows are still labelled by protocol
/// detection, and no PDU is parsed; with them on, the same flows carry PDUs.
#[test]
fn detection_only_labels_flows_without_parsing() {
    for name in ["zeek__modbusSmall.pcap", "icsnpp-s7comm__snap7.pcap"] {
        let run = |dissect| {
            let cfg = EngineConfig {
                threads: 1,
                dissect,
                ..EngineConfig::default()
            };
            analyse_with(sample_file(name), &cfg, &OpenOptions::default())
                .unwrap()
                .unwrap()
        };
        let (on, off) = (run(true), run(false));
        assert!(on.pipeline.pdus > 0, "{name}");
        assert_eq!(off.pipeline.pdus, 0, "{name}");
        let labels = |r: &Report| -> Vec<Option<&'static str>> {
            r.connections.iter().map(|c| c.protocol).collect()
        };
        assert_eq!(labels(&on), labels(&off), "{name}");
        assert!(labels(&off).iter().any(Option::is_some), "{name}");
    }
}

/// An LLDP frame from 00:1b:1b:00:00:07 naming itself `name`: chassis id (MAC), port id,
/// TTL, system name, end.
fn lldp(name: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0x07, 0x04, 0x00, 0x1b, 0x1b, 0x00, 0x00, 0x07];
    p.extend([0x04, 0x03, 0x07, b'p', b'1']);
    p.extend([0x06, 0x02, 0x00, 0x78]);
    p.extend([0x0a, name.len() as u8]);
    p.extend_from_slice(name);
    p.extend([0x00, 0x00]);
    let mut f = vec![
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x00, 0x1b, 0x1b, 0x00, 0x00, 0x07,
    ];
    f.extend([0x88, 0xcc]);
    f.extend(p);
    f
}

/// A switch repeats its LLDP announcement every second: each frame counts as a PDU, but an
/// identical frame is parsed again only once a minute (so its facts' last-seen time moves
/// in minute steps), and a changed frame is parsed at once.
#[test]
fn repeated_link_frames_are_counted_and_refreshed_each_minute() {
    let cfg = EngineConfig::default();
    let registry = Registry::new();
    let mut w = Worker::new(&registry, &cfg, None, None);
    const S: u64 = 1_000_000_000;
    let same = lldp(b"sw-1");
    let renamed = lldp(b"sw-1b");
    for i in 0..101u64 {
        let frame = if i == 100 { &renamed } else { &same };
        w.process(&Packet {
            ts: Timestamp(1000 * S + i * S),
            link: LinkType::ETHERNET,
            orig_len: frame.len() as u32,
            data: frame,
            index: i,
        });
    }
    let (p, _, _) = w.finish();
    assert_eq!(p.pipeline.link_pdus, 101);
    let (facts, _) = p.facts.into_report();
    let name = |v: &str| {
        facts
            .iter()
            .find(|f| f.attribute == yagura_core::Attribute::Hostname && f.value == v)
            .unwrap_or_else(|| panic!("no host name {v}: {facts:?}"))
    };
    let old = name("sw-1");
    // Parsed at 0 s and 60 s (not at 1–59 s nor 61–99 s).
    assert_eq!(
        (old.first_seen, old.last_seen),
        (Timestamp(1000 * S), Timestamp(1060 * S))
    );
    assert_eq!(old.count, 2);
    assert_eq!(name("sw-1b").first_seen, Timestamp(1100 * S));
}
