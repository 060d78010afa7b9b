//! Shared by the fuzz targets: the registry, the link types the decoder understands, a PDU
//! sink, and the driver that feeds fuzz input to one dissector the way the engine does.
#![allow(dead_code)]

use std::sync::OnceLock;

use yagura_core::{Direction, LinkType, PduEvent, Transport};
use yagura_dissect::{Dissector, PduSink, ProtocolId, Registry};

/// One registry for the whole fuzzing process (building it fills two 64 KiB port tables).
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::new)
}

/// Every link type `yagura_net::decode::decode` handles (`yagura_capture::is_decodable`).
pub const DECODABLE: [LinkType; 10] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::RAW,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NULL,
    LinkType::LOOP,
];

/// A sink that builds events (or only counts them), checks the sink contract, and keeps what
/// it got.
pub struct Sink {
    wants: bool,
    /// Every PDU as (protocol, anomaly count), whichever way it was reported.
    /// Per PDU: protocol, anomaly count, and the operation class of a request (responses'
    /// classes may depend on request matching that only events need).
    pub trace: Vec<(&'static str, u32, Option<yagura_core::OperationClass>)>,
    /// The events, when they are wanted.
    pub events: Vec<PduEvent>,
}

impl Sink {
    pub fn new(wants_events: bool) -> Sink {
        Sink {
            wants: wants_events,
            trace: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl PduSink for Sink {
    fn pdu(&mut self, pdu: PduEvent) {
        assert!(self.wants, "pdu() called although wants_events() is false");
        assert!(!pdu.protocol.is_empty());
        // Touch every owned part of the event, as the events writer would.
        let strings: usize = pdu
            .fields
            .iter()
            .map(|(n, v)| {
                n.len()
                    + match v {
                        yagura_core::FieldValue::Str(s) => s.len(),
                        _ => 0,
                    }
            })
            .sum();
        std::hint::black_box(strings);
        self.trace.push((
            pdu.protocol,
            pdu.anomalies.len() as u32,
            (!pdu.response).then_some(pdu.operation),
        ));
        self.events.push(pdu);
    }

    fn wants_events(&self) -> bool {
        self.wants
    }

    fn pdu_count(&mut self, c: yagura_dissect::PduCount) {
        assert!(
            !self.wants,
            "pdu_count() called although wants_events() is true"
        );
        assert!(!c.protocol.is_empty());
        self.trace.push((
            c.protocol,
            c.anomalies,
            (!c.response).then_some(c.operation),
        ));
    }
}

/// Feeds chunks of one flow to a dissector as the engine's worker does: over TCP the
/// unconsumed tail of each direction is kept and offered again in front of the next chunk,
/// and a gap drops it; over UDP every chunk is one datagram.
pub struct Feeder {
    pub dissector: Box<dyn Dissector>,
    pub udp: bool,
    pending: [Vec<u8>; 2],
    pub sink: Sink,
}

impl Feeder {
    pub fn new(dissector: Box<dyn Dissector>, udp: bool, wants_events: bool) -> Feeder {
        Feeder {
            dissector,
            udp,
            pending: [Vec::new(), Vec::new()],
            sink: Sink::new(wants_events),
        }
    }

    pub fn data(&mut self, dir: Direction, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        let d = &mut self.dissector;
        if self.udp {
            let r = d.parse(chunk, dir, &mut self.sink);
            assert!(
                r.consumed <= chunk.len(),
                "consumed {r:?} of {}",
                chunk.len()
            );
            return;
        }
        let p = &mut self.pending[dir.index()];
        if p.is_empty() {
            let r = d.parse(chunk, dir, &mut self.sink);
            assert!(
                r.consumed <= chunk.len(),
                "consumed {r:?} of {}",
                chunk.len()
            );
            p.extend_from_slice(&chunk[r.consumed..]);
        } else {
            p.extend_from_slice(chunk);
            let r = d.parse(p, dir, &mut self.sink);
            assert!(r.consumed <= p.len(), "consumed {r:?} of {}", p.len());
            p.drain(..r.consumed);
        }
    }

    pub fn gap(&mut self, dir: Direction, len: u32) {
        self.pending[dir.index()].clear();
        self.dissector.on_gap(dir, len);
    }
}

/// The dissector fuzz targets' input: `[split, mode, body…]`.
///
/// - `mode` bit 0: UDP (else TCP, for the protocols of `ids` marked as also running over
///   TCP; the others are always fed datagrams, as in the engine); bit 2: the client's direction goes second; bit 3: a gap
///   between the two halves of each direction; the high nibble picks one of `ids`.
/// - One direction gets `body[..split]` then `body[split..]` (so PDUs straddle calls), the
///   other `body[..len - split]` then the rest.
///
/// Checks, besides no panic and `consumed <= len`: building events and only counting PDUs
/// report the same PDUs with the same anomaly counts; and over TCP, a stream whose PDUs are
/// all well-formed when each direction comes in one piece gives the same events when it is
/// split.
pub fn fuzz_dissector(ids: &[(ProtocolId, bool)], data: &[u8]) {
    let [split, mode, body @ ..] = data else {
        return;
    };
    let (id, tcp) = ids[usize::from(mode >> 4) % ids.len()];
    let udp = mode & 1 != 0 || !tcp;
    let cut = usize::from(*split) % (body.len() + 1);
    let first = if mode & 4 != 0 {
        Direction::ToClient
    } else {
        Direction::ToServer
    };
    let gap = (mode & 8 != 0).then_some(u32::from(*split));
    let plan = [(first, cut), (first.reverse(), body.len() - cut)];

    let events = feed(id, udp, true, body, &plan, gap);
    let counted = feed(id, udp, false, body, &plan, gap);
    assert_eq!(
        events.trace, counted.trace,
        "building events and counting disagree"
    );
    if !udp && gap.is_none() {
        let whole = feed(
            id,
            udp,
            true,
            body,
            &[(first, 0), (first.reverse(), 0)],
            None,
        );
        let clean = whole
            .events
            .iter()
            .all(|e| e.anomalies.is_empty() && e.status != yagura_core::PduStatus::Malformed);
        if clean {
            assert_eq!(
                whole.events, events.events,
                "well-formed PDUs parse differently when split"
            );
        }
    }
}

/// Feed `body` to a fresh dissector in each direction of `plan`, cut at the given point.
fn feed(
    id: ProtocolId,
    udp: bool,
    wants_events: bool,
    body: &[u8],
    plan: &[(Direction, usize)],
    gap: Option<u32>,
) -> Sink {
    let transport = if udp { Transport::UDP } else { Transport::TCP };
    let Some(d) = registry().dissector(id, transport) else {
        panic!("no dissector for {}", id.name());
    };
    let mut f = Feeder::new(d, udp, wants_events);
    for &(dir, cut) in plan {
        let (a, b) = body.split_at(cut);
        f.data(dir, a);
        if let Some(n) = gap {
            f.gap(dir, n);
        }
        f.data(dir, b);
    }
    f.sink
}

/// A sink that also keeps identity facts, for the link-layer targets.
pub struct FactSink {
    pub sink: Sink,
    pub facts: Vec<yagura_core::IdentityFact>,
}

impl PduSink for FactSink {
    fn pdu(&mut self, pdu: PduEvent) {
        self.sink.pdu(pdu);
    }
    fn wants_events(&self) -> bool {
        self.sink.wants_events()
    }
    fn pdu_count(&mut self, c: yagura_dissect::PduCount) {
        self.sink.pdu_count(c);
    }
    fn identity(&mut self, fact: yagura_core::IdentityFact) {
        assert!(!fact.value.trim().is_empty(), "empty fact {fact:?}");
        self.facts.push(fact);
    }
}

/// One link-layer frame payload through `link::dissect`, with and without events: at most
/// one PDU, the same PDUs and anomaly counts, the same identity facts.
pub fn fuzz_link(proto: yagura_dissect::link::LinkProtocol, data: &[u8]) {
    let run = |events| {
        let mut s = FactSink {
            sink: Sink::new(events),
            facts: Vec::new(),
        };
        yagura_dissect::link::dissect(proto, data, &mut s);
        s
    };
    let (events, counted) = (run(true), run(false));
    assert!(events.sink.trace.len() <= 1, "more than one PDU in a frame");
    assert_eq!(events.sink.trace, counted.sink.trace, "events and counts disagree");
    assert_eq!(events.facts, counted.facts, "facts depend on wanting events");
}
