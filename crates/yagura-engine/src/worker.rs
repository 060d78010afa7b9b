//! One worker: decode → defragment → flow → reassemble → dissect, for the packets it owns.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use yagura_capture::Packet;
use yagura_core::{
    Direction, FlowKey, IdentityFact, MacAddr, ObservableKind, OperationClass, OperationSet,
    PduEvent, Subject, Timestamp, Transport, Via, from_ip, to_ip,
};
use yagura_dissect::link::LinkProtocol;
use yagura_dissect::memo::{CountMemo, FactMemo};
use yagura_dissect::{Detect, Dissector, Parsed, PduCount, PduSink, ProtocolId, Registry, Tally};
use yagura_net::decode::{self, DecodeError, Decoded, IpInfo, L3, L4, ethertype, tcp_flags};
use yagura_net::defrag::{DefragOutcome, Defragmenter, FragKey};
use yagura_net::flow::{CloseReason, Flow, FlowTable};
use yagura_net::reassembly::{Chunk, ReassemblyPool};

use crate::EngineConfig;
use crate::arp::ArpRequests;
use crate::events::{EventCtx, EventSpill};
use crate::observables::{Observable, Observables};
use crate::observe::{Bindings, Facts, HostRef, RequestTiming};
use crate::operations::{OperationEndpoint, OperationObservation, OperationPacket, Operations};
use crate::report::{ConnAgg, ConnKey, HostAgg, Partial};
use crate::shard::{Owners, ports};

/// Bytes of an incomplete PDU kept per flow direction until the rest arrives; a PDU longer
/// than this is skipped (reported to the dissector as a gap).
const MAX_PENDING: usize = 64 << 10;
/// Data chunks offered to protocol detection before a flow is declared unknown.
const MAX_DETECT_ATTEMPTS: u8 = 8;
/// Bytes buffered for detection while probes ask for more.
const MAX_DETECT_BYTES: usize = 4096;

/// Per-flow application-layer state.
pub(crate) struct App {
    proto: ProtocolId,
    detect_done: bool,
    attempts: u8,
    /// The first to-server packet was sent to a group (broadcast/multicast) MAC.
    dst_group: bool,
    dissector: Option<Box<dyn Dissector>>,
    /// Bytes held per direction (an incomplete PDU, or input awaiting detection). Boxed so
    /// that the common case, nothing held, costs 8 bytes per direction instead of 24.
    #[allow(clippy::box_collection)]
    pending: [Option<Box<Vec<u8>>>; 2],
    /// PDUs, anomalous PDUs and the operation classes of the requests parsed.
    tally: Tally,
    /// Timing of the request packets (allocated at the first request).
    timing: Option<Box<RequestTiming>>,
    /// TTL (hop limit) of the first packet of each direction.
    ttl: [u8; 2],
}

impl Default for App {
    fn default() -> Self {
        App {
            proto: ProtocolId::UNKNOWN,
            detect_done: false,
            attempts: 0,
            dst_group: false,
            dissector: None,
            pending: [None, None],
            tally: Tally::default(),
            timing: None,
            ttl: [0; 2],
        }
    }
}

/// Counters that are cheap to bump per packet; turned into report maps at the end.
struct Counters {
    packets: u64,
    bytes: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// Records per link type value (the common ones are < 512).
    links: Vec<u64>,
    links_other: BTreeMap<u16, u64>,
    undecodable: BTreeMap<DecodeError, u64>,
    ipv4: u64,
    ipv6: u64,
    arp: u64,
    llc: u64,
    ethertypes: BTreeMap<u16, u64>,
    app_buffer_overflows: u64,
    /// PDUs of link-layer protocols (LLDP, CDP, STP, Profinet DCP).
    link_pdus: u64,
}

/// How long a repeated link-layer frame is counted without parsing it again.
const LINK_REFRESH_NS: u64 = 60_000_000_000;
/// Link-layer senders remembered per worker (beyond, frames are simply parsed).
const MAX_LINK_MEMO: usize = 4096;
/// Hashes link-layer payloads for [`LinkMemo`] (fixed seed: runs are reproducible).
static LINK_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6c69_6e6b);

/// The last parsed frame of one link-layer sender, destination and protocol.
struct LinkMemo {
    hash: u64,
    len: usize,
    parsed_at: Timestamp,
    /// PDUs it counted.
    pdus: u64,
}

/// The part of the worker that flow closing and PDU emission need (borrowed apart from the
/// flow table).
struct Sink {
    hosts_ip: HashMap<[u8; 16], HostAgg>,
    hosts_mac: HashMap<MacAddr, HostAgg>,
    conns: HashMap<ConnKey, ConnAgg>,
    events: Option<EventSpill>,
    event_error: Option<std::io::Error>,
    facts: Facts,
    /// Facts by message for the dissectors that look them up instead of building them.
    fact_memo: FactMemo,
    /// Counts by message for the dissectors that look them up instead of counting again.
    count_memo: CountMemo,
    bindings: Bindings,
    /// Operational requests (stop, program download, …), for the operational alerts.
    operations: Operations,
    /// Names and certificate fingerprints, for threat intelligence.
    observables: Observables,
    /// Broadcast ARP requests per sender, for the ARP scan alert.
    arp: ArpRequests,
}

pub(crate) struct Worker<'r> {
    registry: &'r Registry,
    flows: FlowTable<App>,
    pool: ReassemblyPool,
    defrag: Defragmenter,
    c: Counters,
    sink: Sink,
    now: Timestamp,
    /// With several workers: who owns which flows (fragments reach every worker, and only
    /// the owner of a reassembled datagram's flow processes it). `None` alone.
    owners: Option<Owners>,
    /// Run the link-layer dissectors (`EngineConfig::dissect`).
    dissect: bool,
    /// The last parsed link-layer frame per sender, destination and protocol.
    link_memo: HashMap<(MacAddr, MacAddr, LinkProtocol), LinkMemo>,
}

/// Where a chunk of application data was seen: the flow and the packet. Passed by
/// reference, and turned into an [`EventCtx`] only when an event is written (building and
/// copying the context for every chunk stalled the CPU on store forwarding).
#[derive(Clone, Copy)]
struct Where<'k> {
    key: &'k FlowKey,
    /// Source MACs of the client's and the server's first frames (zero before any).
    macs: &'k [MacAddr; 2],
    lo_is_client: bool,
    id: u64,
    ts: Timestamp,
    index: u64,
}

impl Where<'_> {
    #[inline]
    fn ctx(&self, dir: Direction) -> EventCtx {
        ctx_for(
            self.key,
            self.lo_is_client,
            self.id,
            dir,
            self.ts,
            self.index,
        )
    }

    /// Source and destination ports of data travelling in `dir`.
    #[inline]
    fn ports(&self, dir: Direction) -> (u16, u16) {
        let ((_, cp), (_, sp)) = self.key.oriented(self.lo_is_client);
        match dir {
            Direction::ToServer => (cp, sp),
            Direction::ToClient => (sp, cp),
        }
    }
}

/// The [`PduSink`] handed to a dissector for one chunk of one direction. Five words: it is
/// built for every chunk parsed (the worker's sink is reached through one reference rather
/// than a reference per part of it).
struct Emit<'a> {
    at: &'a Where<'a>,
    dir: Direction,
    sink: &'a mut Sink,
    /// The connection's tally, which dissectors bump directly ([`PduSink::tally`]); its
    /// `requested` is cleared after each chunk ([`Emit::parsed`]).
    tally: &'a mut Tally,
    timing: &'a mut Option<Box<RequestTiming>>,
}

impl Emit<'_> {
    /// The host a fact about `subject` is about: one of the flow's endpoints, or the
    /// address or MAC the fact names.
    fn fact_host(&self, subject: Subject) -> Option<HostRef> {
        // The sender of data travelling to the server is the client (index 0).
        let (client, server) = self.at.key.oriented(self.at.lo_is_client);
        let side = |i: usize| {
            let ip = if i == 0 { client.0 } else { server.0 };
            (Some(ip), Some(self.at.macs[i]))
        };
        let sender = match self.dir {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        };
        let (ip, mac) = match subject {
            Subject::Sender
            | Subject::Routed {
                via: Via::Sender, ..
            } => side(sender),
            Subject::Receiver
            | Subject::Routed {
                via: Via::Receiver, ..
            } => side(1 - sender),
            Subject::Mac(m) => (None, Some(m)),
            Subject::Ip(ip) => (Some(from_ip(ip)), None),
        };
        HostRef::new(ip, mac).map(|host| host.routed(subject))
    }

    /// After the dissector parsed the chunk: a request in it times its packet (once per
    /// packet however many requests it holds, as `RequestTiming::add` does anyway).
    #[inline(always)]
    fn parsed(&mut self) {
        if self.tally.requested {
            self.tally.requested = false;
            if self.dir == Direction::ToServer {
                time_request(self.timing, self.at);
            }
        }
    }
}

/// A request in the packet `at`: one call for the timing (the compiler called
/// `get_or_insert_with` and `RequestTiming::add` apart from `App::chunk`), the connection's
/// first request apart (its allocation would make every call save registers).
#[inline(never)]
fn time_request(timing: &mut Option<Box<RequestTiming>>, at: &Where<'_>) {
    match timing {
        Some(t) => t.add(at.ts, at.index),
        None => first_request(timing, at),
    }
}

/// [`time_request`] for a connection's first request.
#[cold]
#[inline(never)]
fn first_request(timing: &mut Option<Box<RequestTiming>>, at: &Where<'_>) {
    timing.insert(Box::default()).add(at.ts, at.index);
}

impl Emit<'_> {
    /// An operational request seen in this chunk, recorded as the connection's client
    /// asking its server (the engineering station and the controller), whichever side
    /// sent the PDU: in an S7 download, the controller itself sends the "download block"
    /// requests to the station that started it.
    #[cold]
    #[inline(never)]
    fn operation(
        &mut self,
        protocol: &'static str,
        op: OperationClass,
        function: Option<u32>,
        function_name: Option<&'static str>,
        count: u64,
    ) {
        let ((src, src_port), (dst, dst_port)) = self.at.key.oriented(self.at.lo_is_client);
        // `macs` holds the client's first source MAC, then the server's.
        let mac = |m: MacAddr| (!m.is_zero()).then_some(m);
        self.sink.operations.record(
            OperationObservation {
                operation: op,
                protocol,
                function,
                function_name,
                src: OperationEndpoint {
                    ip: to_ip(&src),
                    port: src_port,
                    mac: mac(self.at.macs[0]),
                },
                dst: OperationEndpoint {
                    ip: to_ip(&dst),
                    port: dst_port,
                    mac: mac(self.at.macs[1]),
                },
                transport: self.at.key.transport,
                first_seen: self.at.ts,
                last_seen: self.at.ts,
                count,
                packets: Vec::new(),
            },
            OperationPacket {
                index: self.at.index,
                time: self.at.ts,
            },
        );
    }
}

impl Emit<'_> {
    /// A name or fingerprint seen in this chunk, recorded as the connection's client
    /// showing it to its server (or the server to its client: a certificate).
    #[cold]
    #[inline(never)]
    fn observed(&mut self, kind: ObservableKind, value: &str) {
        let ((client, client_port), (server, server_port)) =
            self.at.key.oriented(self.at.lo_is_client);
        let mac = |m: MacAddr| (!m.is_zero()).then_some(m);
        let protocol = match kind {
            ObservableKind::DnsQuery => "dns",
            ObservableKind::HttpHost => "http",
            ObservableKind::TlsSni
            | ObservableKind::TlsCertSha1
            | ObservableKind::TlsCertSha256 => "tls",
        };
        self.sink.observables.record(
            Observable {
                kind,
                value: value.to_owned(),
                protocol,
                client: OperationEndpoint {
                    ip: to_ip(&client),
                    port: client_port,
                    mac: mac(self.at.macs[0]),
                },
                server: OperationEndpoint {
                    ip: to_ip(&server),
                    port: server_port,
                    mac: mac(self.at.macs[1]),
                },
                first_seen: self.at.ts,
                last_seen: self.at.ts,
                count: 1,
                packets: Vec::new(),
            },
            OperationPacket {
                index: self.at.index,
                time: self.at.ts,
            },
        );
    }
}

impl PduSink for Emit<'_> {
    fn pdu(&mut self, pdu: PduEvent) {
        if !pdu.response && pdu.operation.is_operational() {
            self.operation(
                pdu.protocol,
                pdu.operation,
                pdu.function,
                pdu.function_name,
                1,
            );
        }
        self.tally.add(
            PduCount {
                protocol: pdu.protocol,
                operation: pdu.operation,
                response: pdu.response,
                anomalies: u32::from(!pdu.anomalies.is_empty()),
            },
            1,
        );
        if let Some(ev) = self.sink.events.as_mut()
            && let Err(e) = ev.push(&self.at.ctx(self.dir), &pdu)
            && self.sink.event_error.is_none()
        {
            self.sink.event_error = Some(e);
        }
    }

    fn wants_events(&self) -> bool {
        self.sink.events.is_some()
    }

    fn pdu_count(&mut self, c: PduCount) {
        self.pdu_counts(c, 1);
    }

    // The same as `n` single counts: the sums add `n`, and the class set and the request
    // timing (per packet, after the chunk) take a request once however many there are.
    #[inline]
    fn pdu_counts(&mut self, c: PduCount, n: u32) {
        // Dissectors give operational requests as events, never only as counts
        // (`PduSink::pdu_count`; their test sinks refuse one, and the corpus report must be
        // the same with and without events).
        debug_assert!(c.response || !c.operation.is_operational());
        self.tally.add(c, n);
    }

    fn tally(&mut self) -> Option<&mut Tally> {
        Some(self.tally)
    }

    fn identity(&mut self, fact: IdentityFact) {
        if let Some(host) = self.fact_host(fact.subject) {
            self.sink.facts.add(host, fact, self.at.ts, self.at.index);
        }
    }

    fn identity_ref(&mut self, fact: &IdentityFact) {
        if let Some(host) = self.fact_host(fact.subject) {
            self.sink
                .facts
                .add_ref(host, fact, self.at.ts, self.at.index);
        }
    }

    fn fact_memo(&mut self) -> Option<&mut FactMemo> {
        Some(&mut self.sink.fact_memo)
    }

    fn count_memo(&mut self) -> Option<&mut CountMemo> {
        Some(&mut self.sink.count_memo)
    }

    fn wants_observables(&self) -> bool {
        true
    }

    fn observable(&mut self, kind: ObservableKind, value: &str) {
        self.observed(kind, value);
    }
}

/// The [`PduSink`] for a link-layer frame: facts are about the frame's source MAC; PDUs are
/// only counted (link-layer frames belong to no flow and have no events).
struct LinkEmit<'a> {
    mac: MacAddr,
    ts: Timestamp,
    index: u64,
    facts: &'a mut Facts,
    pdus: &'a mut u64,
}

impl PduSink for LinkEmit<'_> {
    fn pdu(&mut self, _pdu: PduEvent) {
        *self.pdus += 1;
    }

    fn wants_events(&self) -> bool {
        false
    }

    fn pdu_count(&mut self, _c: PduCount) {
        *self.pdus += 1;
    }

    fn identity(&mut self, fact: IdentityFact) {
        let mac = match fact.subject {
            Subject::Sender
            | Subject::Routed {
                via: Via::Sender, ..
            } => Some(self.mac),
            Subject::Mac(m) => Some(m),
            Subject::Receiver | Subject::Routed { .. } | Subject::Ip(_) => None,
        };
        let ip = match fact.subject {
            Subject::Ip(ip) => Some(from_ip(ip)),
            _ => None,
        };
        if let Some(host) = HostRef::new(ip, mac) {
            let host = host.routed(fact.subject);
            self.facts.add(host, fact, self.ts, self.index);
        }
    }
}

/// Endpoints of a flow for events, given the flow and a direction.
fn ctx_for(
    flow_key: &FlowKey,
    lo_is_client: bool,
    id: u64,
    dir: Direction,
    ts: Timestamp,
    index: u64,
) -> EventCtx {
    let (client, server) = flow_key.oriented(lo_is_client);
    let (src, dst) = match dir {
        Direction::ToServer => (client, server),
        Direction::ToClient => (server, client),
    };
    EventCtx {
        ts,
        index,
        flow_id: id,
        src,
        dst,
        transport: flow_key.transport,
        vlan: flow_key.vlan,
    }
}

impl App {
    /// Offer a chunk of one direction's data (or a gap) to the application layer. Never
    /// inlined: inlined into the reassembly's delivery it made the whole per-packet path
    /// cost 17 M instructions more per million bench packets, dissectors on or off.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn chunk(
        &mut self,
        registry: &Registry,
        c: &mut Counters,
        sink: &mut Sink,
        at: &Where<'_>,
        dir: Direction,
        chunk: Chunk<'_>,
        stream: bool,
    ) {
        let di = dir.index();
        let data = match chunk {
            Chunk::Gap(n) => {
                if let Some(p) = &mut self.pending[di] {
                    p.clear();
                }
                if let Some(d) = &mut self.dissector {
                    d.on_gap(dir, n);
                }
                return;
            }
            Chunk::Data(d) => d,
        };
        if data.is_empty() {
            return;
        }
        // Bytes held for detection already include `data` once detection has run.
        let mut appended = false;
        if !self.detect_done {
            match self.detect(registry, at, dir, data, stream) {
                Some(a) => appended = a,
                None => return,
            }
        }
        let Some(dissector) = self.dissector.as_deref_mut() else {
            return;
        };
        let mut emit = Emit {
            at,
            dir,
            sink,
            tally: &mut self.tally,
            timing: &mut self.timing,
        };
        if !stream {
            // A datagram is parsed on its own; nothing carries over.
            dissector.parse(data, dir, &mut emit);
            emit.parsed();
            return;
        }
        match &mut self.pending[di] {
            Some(p) if !p.is_empty() => {
                if !appended {
                    if p.len() + data.len() > MAX_PENDING {
                        c.app_buffer_overflows += 1;
                        let lost = p.len() + data.len();
                        p.clear();
                        dissector.on_gap(dir, lost as u32);
                        return;
                    }
                    p.extend_from_slice(data);
                }
                let Parsed { consumed, .. } = dissector.parse(p, dir, &mut emit);
                emit.parsed();
                p.drain(..consumed.min(p.len()));
            }
            slot => {
                let Parsed { consumed, .. } = dissector.parse(data, dir, &mut emit);
                emit.parsed();
                let rest = &data[consumed.min(data.len())..];
                if !rest.is_empty() {
                    if rest.len() > MAX_PENDING {
                        c.app_buffer_overflows += 1;
                        dissector.on_gap(dir, rest.len() as u32);
                    } else {
                        slot.get_or_insert_with(Default::default)
                            .extend_from_slice(rest);
                    }
                }
            }
        }
    }

    /// Try to recognise the protocol from `data` (after any bytes held from earlier chunks of
    /// a stream). `Some(appended)` when a dissector should now parse: `appended` says `data`
    /// was already added to the held bytes, which are then the input. `None` otherwise.
    fn detect(
        &mut self,
        registry: &Registry,
        at: &Where<'_>,
        dir: Direction,
        data: &[u8],
        stream: bool,
    ) -> Option<bool> {
        let di = dir.index();
        let transport = at.key.transport;
        let (src_port, dst_port) = at.ports(dir);
        let held = stream && self.pending[di].as_ref().is_some_and(|p| !p.is_empty());
        if held {
            self.pending[di]
                .as_mut()
                .expect("checked")
                .extend_from_slice(data);
        }
        let input: &[u8] = if held {
            self.pending[di].as_deref().expect("checked")
        } else {
            data
        };
        self.attempts = self.attempts.saturating_add(1);
        match registry.detect(transport, src_port, dst_port, input) {
            Detect::Found(id) => {
                self.proto = id;
                self.detect_done = true;
                self.dissector = registry.dissector(id, transport);
                Some(held)
            }
            Detect::NeedMore
                if stream
                    && self.attempts < MAX_DETECT_ATTEMPTS
                    && input.len() < MAX_DETECT_BYTES =>
            {
                if !held {
                    self.pending[di] = Some(Box::new(data.to_vec()));
                }
                None
            }
            Detect::NeedMore | Detect::Unknown => {
                if let Some(p) = &mut self.pending[di] {
                    p.clear();
                }
                if self.attempts >= MAX_DETECT_ATTEMPTS {
                    self.detect_done = true;
                }
                None
            }
        }
    }
}

impl<'r> Worker<'r> {
    pub(crate) fn new(
        registry: &'r Registry,
        cfg: &EngineConfig,
        events: Option<EventSpill>,
        owners: Option<Owners>,
    ) -> Self {
        Worker {
            registry,
            flows: FlowTable::new(cfg.flow_limits),
            pool: ReassemblyPool::new(cfg.reassembly),
            defrag: Defragmenter::new(cfg.defrag),
            c: Counters {
                packets: 0,
                bytes: 0,
                first: None,
                last: None,
                links: vec![0; 512],
                links_other: BTreeMap::new(),
                undecodable: BTreeMap::new(),
                ipv4: 0,
                ipv6: 0,
                arp: 0,
                llc: 0,
                ethertypes: BTreeMap::new(),
                app_buffer_overflows: 0,
                link_pdus: 0,
            },
            sink: Sink {
                hosts_ip: HashMap::new(),
                hosts_mac: HashMap::new(),
                conns: HashMap::new(),
                events,
                event_error: None,
                facts: Facts::default(),
                fact_memo: FactMemo::default(),
                count_memo: CountMemo::default(),
                bindings: Bindings::default(),
                operations: Operations::default(),
                observables: Observables::default(),
                arp: ArpRequests::default(),
            },
            now: Timestamp::ZERO,
            owners,
            dissect: cfg.dissect && cfg.only_dissectors.is_none(),
            link_memo: HashMap::new(),
        }
    }

    /// Advance the worker's clock to `ts` if it is later. The clock is the latest time of the
    /// input so far, *all* packets counted (also those other workers own): expiry decisions
    /// are taken against it, so that they do not depend on how packets were shared out.
    #[inline]
    pub(crate) fn observe(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
            // Fragments: expire by capture time, cheaply (few are ever pending).
            if self.defrag.pending() > 0 {
                self.defrag.expire(ts);
            }
        }
    }

    /// Process one packet.
    #[inline]
    pub(crate) fn process(&mut self, pkt: &Packet<'_>) {
        let c = &mut self.c;
        c.packets += 1;
        c.bytes += pkt.data.len() as u64;
        if c.first.is_none_or(|f| pkt.ts < f) {
            c.first = Some(pkt.ts);
        }
        if c.last.is_none_or(|l| pkt.ts > l) {
            c.last = Some(pkt.ts);
        }
        match c.links.get_mut(pkt.link.0 as usize) {
            Some(n) => *n += 1,
            None => *c.links_other.entry(pkt.link.0).or_default() += 1,
        }
        self.observe(pkt.ts);
        let mut d = decode::Decoded::EMPTY;
        match decode::decode_into(pkt.link, pkt.data, &mut d) {
            Err(e) => *self.c.undecodable.entry(e).or_default() += 1,
            Ok(()) => match &d.l3 {
                L3::Ip(ip) => {
                    if ip.v6 {
                        self.c.ipv6 += 1;
                    } else {
                        self.c.ipv4 += 1;
                    }
                    self.ip(pkt, &d, ip);
                }
                L3::Arp(a) => {
                    self.c.arp += 1;
                    self.l2_host(pkt, d.src_mac);
                    if a.sender_ip != [0; 4] && !a.sender_mac.is_group() && !a.sender_mac.is_zero()
                    {
                        let h = self
                            .sink
                            .hosts_ip
                            .entry(yagura_core::v4_mapped(a.sender_ip))
                            .or_insert_with(|| HostAgg::new(pkt.ts));
                        h.touch(pkt.ts);
                        if h.mac.is_none() {
                            h.mac = Some((pkt.index, a.sender_mac));
                        }
                    }
                    self.sink
                        .bindings
                        .arp(a.op, a.sender_mac, a.sender_ip, a.target_ip, pkt.ts);
                    let broadcast = d.dst_mac.is_group() || d.dst_mac.is_zero();
                    self.sink.arp.message(a, broadcast, pkt.index, pkt.ts);
                }
                L3::Other(payload) => {
                    if d.ethertype == ethertype::LLC {
                        self.c.llc += 1;
                    } else {
                        *self.c.ethertypes.entry(d.ethertype).or_default() += 1;
                    }
                    self.l2_host(pkt, d.src_mac);
                    let llc = d.llc;
                    if let Some(proto) = LinkProtocol::classify(
                        d.ethertype,
                        llc.map(|l| l.dsap),
                        llc.and_then(|l| l.snap),
                    ) {
                        self.link(pkt, d.src_mac, d.dst_mac, proto, payload);
                    }
                }
            },
        }
    }

    /// A link-layer protocol's frame (LLDP, CDP, STP, Profinet DCP): its identity facts are
    /// about the source MAC.
    #[cold]
    fn link(
        &mut self,
        pkt: &Packet<'_>,
        src: MacAddr,
        dst: MacAddr,
        proto: LinkProtocol,
        payload: &[u8],
    ) {
        if !self.dissect {
            return;
        }
        // Switches and controllers repeat the same frame every few seconds (STP hellos, LLDP
        // announcements): a frame identical to the last one of its sender, destination and
        // protocol, parsed less than `LINK_REFRESH` ago, is counted as that one was, without
        // parsing it again (its facts' last-seen times are refreshed at the next parse). All
        // frames with one key reach one worker, so this is the same whatever the threads.
        let key = (src, dst, proto);
        let hash = std::hash::BuildHasher::hash_one(&LINK_HASH, payload);
        if let Some(m) = self.link_memo.get(&key)
            && m.hash == hash
            && m.len == payload.len()
            && pkt.ts.since(m.parsed_at) < LINK_REFRESH_NS
            && pkt.ts >= m.parsed_at
        {
            self.c.link_pdus += m.pdus;
            return;
        }
        let before = self.c.link_pdus;
        let mut sink = LinkEmit {
            mac: src,
            ts: pkt.ts,
            index: pkt.index,
            facts: &mut self.sink.facts,
            pdus: &mut self.c.link_pdus,
        };
        yagura_dissect::link::dissect(proto, payload, &mut sink);
        let memo = LinkMemo {
            hash,
            len: payload.len(),
            parsed_at: pkt.ts,
            pdus: self.c.link_pdus - before,
        };
        if self.link_memo.len() < MAX_LINK_MEMO || self.link_memo.contains_key(&key) {
            self.link_memo.insert(key, memo);
        }
    }

    /// A frame without IP: its source MAC is a (possibly layer-2-only) device.
    fn l2_host(&mut self, pkt: &Packet<'_>, mac: MacAddr) {
        if mac.is_zero() || mac.is_group() {
            return;
        }
        let h = self
            .sink
            .hosts_mac
            .entry(mac)
            .or_insert_with(|| HostAgg::new(pkt.ts));
        h.touch(pkt.ts);
        h.packets_sent += 1;
        h.bytes_sent += u64::from(pkt.orig_len);
    }

    /// Does this worker count fragments (and their reassembly)? Every worker defragments
    /// every fragment; the first one also counts them.
    #[inline]
    fn counts_fragments(&self) -> bool {
        self.owners.is_none_or(|o| o.me == 0)
    }

    /// Process an IP fragment, which every worker gets: the first worker counts it like any
    /// packet; the others only feed it to their defragmenter. Whoever owns the flow of the
    /// reassembled datagram processes it.
    pub(crate) fn process_fragment(&mut self, pkt: &Packet<'_>) {
        if self.counts_fragments() {
            self.process(pkt);
            return;
        }
        self.observe(pkt.ts);
        if let Ok(d) = decode::decode(pkt.link, pkt.data)
            && let L3::Ip(ip) = &d.l3
            && ip.frag.is_some()
        {
            self.ip(pkt, &d, ip);
        }
    }

    fn ip(&mut self, pkt: &Packet<'_>, d: &Decoded<'_>, ip: &IpInfo<'_>) {
        let Some(frag) = ip.frag else {
            self.transport(pkt, d, ip);
            return;
        };
        let key = FragKey {
            src: ip.src,
            dst: ip.dst,
            id: frag.id,
            proto: ip.proto,
            vlan: d.vlan,
        };
        if let DefragOutcome::Complete(buf) =
            self.defrag
                .push(self.now, key, frag.offset, frag.more, ip.payload)
        {
            let mut full = IpInfo {
                frag: None,
                l4: L4::None,
                payload: &buf,
                truncated: 0,
                ..*ip
            };
            match decode::decode_l4(&mut full) {
                Ok(()) => {
                    let (sp, dp) = ports(&full.l4);
                    let h = yagura_core::flow_hash(&full.src, sp, &full.dst, dp);
                    if self.owners.is_none_or(|o| o.mine(h)) {
                        self.transport(pkt, d, &full);
                    }
                }
                Err(e) if self.counts_fragments() => {
                    *self.c.undecodable.entry(e).or_default() += 1;
                }
                Err(_) => {}
            }
        }
    }

    fn transport(&mut self, pkt: &Packet<'_>, d: &Decoded<'_>, ip: &IpInfo<'_>) {
        // By reference: the header was just written field by field, and copying it whole
        // would read it back with wide loads that store forwarding cannot serve.
        let (sport, dport, tcp) = match &ip.l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port, Some(t)),
            &L4::Udp { src_port, dst_port } => (src_port, dst_port, None),
            _ => (0, 0, None),
        };
        let transport = Transport(ip.proto);
        let (key, swapped) = FlowKey::new(ip.src, sport, ip.dst, dport, transport, d.vlan);
        let from_lo = !swapped;
        let syn_only =
            tcp.is_some_and(|t| t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN);
        let registry = self.registry;
        let create = || {
            // Who is the client? The SYN sender; else the side not on a service port; else,
            // for TCP picked up midstream, the side with the higher (ephemeral) port, and for
            // datagrams the sender of the first packet (as Zeek does).
            let src_client = match tcp {
                Some(t) if t.flags & tcp_flags::SYN != 0 => t.flags & tcp_flags::ACK == 0,
                // Sent to a broadcast or multicast group: the group is no server.
                _ if is_group_addr(&ip.dst) => true,
                _ => {
                    let s = registry.is_service_port(transport, sport);
                    let ds = registry.is_service_port(transport, dport);
                    match (s, ds) {
                        (false, true) => true,
                        (true, false) => false,
                        _ if tcp.is_some() => sport >= dport,
                        _ => true,
                    }
                }
            };
            (src_client == from_lo, App::default())
        };
        let Worker {
            flows,
            pool,
            c,
            sink,
            now,
            ..
        } = self;
        let look = flows.lookup_at(
            &key,
            *now,
            pkt.ts,
            syn_only,
            create,
            pkt.index,
            &mut |f, r| close_flow(f, r, pool, sink),
        );
        let f = look.flow;
        let dir = f.direction(from_lo);
        let di = dir.index();
        if f.packets[di] == 0 {
            f.macs[di] = d.src_mac;
            f.app.ttl[di] = ip.ttl;
            if dir == Direction::ToServer {
                f.app.dst_group = d.dst_mac.is_group();
            }
        }
        f.packets[di] += 1;
        f.bytes[di] += u64::from(pkt.orig_len);
        if pkt.ts > f.last_seen {
            f.last_seen = pkt.ts;
        }
        // The event context is built only when a chunk reaches the application layer (pure
        // ACKs, most TCP packets, never get that far).
        let Flow {
            key,
            macs,
            lo_is_client,
            id,
            tcp: streams,
            app,
            tcp_flags: flags_seen,
            ..
        } = f;
        let at = Where {
            key: &*key,
            macs: &*macs,
            lo_is_client: *lo_is_client,
            id: *id,
            ts: pkt.ts,
            index: pkt.index,
        };
        match tcp {
            Some(t) => {
                flags_seen[di] |= t.flags;
                let [s0, s1] = streams;
                let (this, other) = if di == 0 { (s0, s1) } else { (s1, s0) };
                this.segment(pool, t.seq, t.flags, ip.payload, ip.truncated, &mut |ch| {
                    app.chunk(registry, c, sink, &at, dir, ch, true)
                });
                if t.flags & tcp_flags::ACK != 0 && other.is_initialised() {
                    let rdir = dir.reverse();
                    other.peer_ack(pool, t.ack, &mut |ch| {
                        app.chunk(registry, c, sink, &at, rdir, ch, true)
                    });
                }
            }
            None if transport == Transport::UDP => {
                app.chunk(registry, c, sink, &at, dir, Chunk::Data(ip.payload), false);
            }
            None => {}
        }
    }

    /// Time passes without packets (live capture): reclaim flows idle at `now`.
    pub(crate) fn tick(&mut self, now: Timestamp) {
        let Worker {
            flows, pool, sink, ..
        } = self;
        flows.expire_all(now, &mut |f, r| close_flow(f, r, pool, sink));
        self.defrag.expire(now);
    }

    /// End of input: close every flow, in a deterministic order, and return the aggregates.
    pub(crate) fn finish(mut self) -> (Partial, Option<EventSpill>, Option<std::io::Error>) {
        let mut rest = Vec::with_capacity(self.flows.len());
        self.flows.drain(&mut |f, _| rest.push(f));
        rest.sort_by_key(|f| f.id);
        for f in rest {
            close_flow(f, CloseReason::End, &mut self.pool, &mut self.sink);
        }
        // Datagrams still incomplete are dropped too, and counted as such whether or not a
        // later packet of this worker happened to expire them (which depends on the sharding).
        self.defrag.expire(Timestamp(u64::MAX));
        let ds = self.counts_fragments().then(|| self.defrag.stats());
        let Sink {
            hosts_ip,
            hosts_mac,
            conns,
            events,
            event_error,
            facts,
            bindings,
            operations,
            observables,
            arp,
            ..
        } = self.sink;
        let p = partial(
            &self.c,
            Aggregates {
                hosts_ip,
                hosts_mac,
                conns,
                facts,
                bindings,
                operations,
                observables,
                arp,
            },
            self.flows.stats(),
            self.pool.stats,
            ds,
        );
        (p, events, event_error)
    }

    /// What [`Worker::finish`] would return if the input ended now, without changing
    /// anything: the aggregates are copied, and every open flow is summarised as `finish`
    /// would fold it ([`Snapshot::fold`] folds them, same order, same rules). Events are
    /// not part of it.
    ///
    /// The worker only copies: a pass over the flow table in slot order, with no lookups.
    /// The fold, which looks up a connection and two hosts per open flow in large maps,
    /// happens wherever the snapshot is folded (a live run's collector thread): on a plant
    /// of 500,000 open connections it had stopped the worker for 0.6 s at every snapshot.
    ///
    /// With `hold_ns` > 0, open flows begun less than `hold_ns` before `now` (capture clock)
    /// that are not settled yet are left out: those still detecting their protocol (which
    /// would change the connection's protocol later) and those with a side not heard yet
    /// (its MAC unknown, which would change which asset it is). They come in, in full, in a
    /// later snapshot. Then what a snapshot reports of a connection or a host
    /// keeps the identity it will have in the final report (see [`EngineConfig::snapshot_hold`]).
    pub(crate) fn snapshot(&self, now: Timestamp, hold_ns: u64) -> Snapshot {
        let a = Aggregates {
            hosts_ip: self.sink.hosts_ip.clone(),
            hosts_mac: self.sink.hosts_mac.clone(),
            conns: self.sink.conns.clone(),
            facts: self.sink.facts.clone(),
            bindings: self.sink.bindings.clone(),
            operations: self.sink.operations.clone(),
            observables: self.sink.observables.clone(),
            arp: self.sink.arp.clone(),
        };
        let open: Vec<FlowCopy> = self
            .flows
            .iter()
            .filter(|f| settled(f) || now.since(f.first_seen) >= hold_ns)
            .map(copy_flow)
            .collect();
        // `finish` drops the datagrams still incomplete, as timed out.
        let mut ds = self.defrag.stats();
        ds.timed_out += self.defrag.pending() as u64;
        Snapshot {
            closed: partial(
                &self.c,
                a,
                self.flows.stats(),
                self.pool.stats,
                self.counts_fragments().then_some(ds),
            ),
            open,
        }
    }
}

/// A worker's copy of its state ([`Worker::snapshot`]): its aggregates, and its open flows
/// not folded into them yet.
pub(crate) struct Snapshot {
    /// The aggregates of the flows closed so far, and the counters.
    closed: Partial,
    /// The open flows, in slot order.
    open: Vec<FlowCopy>,
}

impl Snapshot {
    /// What `finish` would return: the open flows folded into the aggregates.
    pub(crate) fn fold(self) -> Partial {
        let Snapshot {
            closed: mut p,
            mut open,
        } = self;
        // Stable, like `finish`'s sort of the drained slab: slot order breaks ties.
        open.sort_by_key(|f| f.id);
        for f in &open {
            fold_flow(f, &mut p.conns, &mut p.hosts_ip, &mut p.bindings);
        }
        p.pipeline.pdus = p.conns.values().map(|c| c.pdus).sum();
        p.pipeline.pdu_anomalies = p.conns.values().map(|c| c.pdu_anomalies).sum();
        p
    }
}

/// Will an open flow be reported as it is now, whatever comes next? Its protocol is
/// decided, and both sides' MACs are known: the client's, and the server's unless it is a
/// group address (which never answers). Otherwise a later packet may change its connection
/// (protocol) or its hosts' assets (MAC).
fn settled(f: &Flow<App>) -> bool {
    let (_, (server, _)) = f.endpoints();
    f.app.detect_done
        && f.packets[0] > 0
        && (f.packets[1] > 0 || f.app.dst_group || is_group_addr(&server))
}

/// A worker's aggregated maps, as [`partial`] takes them.
struct Aggregates {
    hosts_ip: HashMap<[u8; 16], HostAgg>,
    hosts_mac: HashMap<MacAddr, HostAgg>,
    conns: HashMap<ConnKey, ConnAgg>,
    facts: Facts,
    bindings: Bindings,
    operations: Operations,
    observables: Observables,
    arp: ArpRequests,
}

/// A worker's [`Partial`] from its counters, maps and internal statistics. `ds` is `None`
/// for a worker that does not report fragments (every worker defragmented every fragment;
/// the first one reports it).
fn partial(
    c: &Counters,
    a: Aggregates,
    fs: yagura_net::flow::FlowStats,
    rs: yagura_net::reassembly::ReassemblyStats,
    ds: Option<yagura_net::defrag::DefragStats>,
) -> Partial {
    let ds = ds.unwrap_or_default();
    let mut p = Partial {
        packets: c.packets,
        bytes: c.bytes,
        first_seen: c.first,
        last_seen: c.last,
        hosts_ip: a.hosts_ip,
        hosts_mac: a.hosts_mac,
        conns: a.conns,
        facts: a.facts,
        bindings: a.bindings,
        operations: a.operations,
        observables: a.observables,
        arp: a.arp,
        ..Default::default()
    };
    for (i, n) in c.links.iter().enumerate().filter(|(_, n)| **n > 0) {
        p.link_types
            .insert(yagura_core::LinkType(i as u16).name().into_owned(), *n);
    }
    for (l, n) in &c.links_other {
        p.link_types
            .insert(yagura_core::LinkType(*l).name().into_owned(), *n);
    }
    for (e, n) in &c.undecodable {
        *p.undecodable.entry(e.name().into_owned()).or_default() += n;
    }
    for (name, n) in [
        ("ipv4", c.ipv4),
        ("ipv6", c.ipv6),
        ("arp", c.arp),
        ("llc", c.llc),
    ] {
        if n > 0 {
            p.l3.insert(name.to_string(), n);
        }
    }
    for (et, n) in &c.ethertypes {
        p.l3.insert(ethertype_name(*et), *n);
    }
    let pl = &mut p.pipeline;
    pl.flows_created = fs.created;
    pl.flows_evicted = fs.evicted;
    pl.flows_reused = fs.reused;
    pl.tcp_retransmissions = rs.retransmissions;
    pl.tcp_overlaps = rs.overlaps;
    pl.tcp_overlap_conflicts = rs.overlap_conflicts;
    pl.tcp_out_of_order = rs.out_of_order;
    pl.tcp_gaps = rs.gaps;
    pl.tcp_gap_bytes = rs.gap_bytes;
    pl.tcp_midstream = rs.midstream;
    pl.tcp_cap_drops = rs.cap_drops;
    pl.tcp_resyncs = rs.resyncs;
    pl.fragments = ds.fragments;
    pl.fragments_reassembled = ds.reassembled;
    pl.fragments_timed_out = ds.timed_out;
    pl.fragments_evicted = ds.evicted + ds.too_many_fragments;
    pl.fragment_overlap_conflicts = ds.overlap_conflicts;
    pl.fragments_oversize = ds.oversize;
    pl.app_buffer_overflows = c.app_buffer_overflows;
    pl.link_pdus = c.link_pdus;
    pl.pdus = p.conns.values().map(|c| c.pdus).sum();
    pl.pdu_anomalies = p.conns.values().map(|c| c.pdu_anomalies).sum();
    p
}

/// Name of a non-IP ethertype for the `l3` counters.
fn ethertype_name(et: u16) -> String {
    match et {
        ethertype::LLDP => "lldp".into(),
        ethertype::PROFINET => "profinet".into(),
        ethertype::GOOSE => "goose".into(),
        ethertype::SV => "sampled_values".into(),
        0x88e1 | 0x8912 => "homeplug".into(),
        0x88f7 => "ptp".into(),
        0x8809 => "slow_protocols".into(),
        0x888e => "eapol".into(),
        0x88e3 => "mrp".into(),
        0x88a4 => "ethercat".into(),
        0x8863 | 0x8864 => "pppoe".into(),
        0x9000 => "loopback".into(),
        0x8035 => "rarp".into(),
        // ARP for other hardware or protocol address types (not IPv4 over Ethernet).
        ethertype::ARP => "arp_other".into(),
        _ => format!("ethertype_0x{et:04x}"),
    }
}

/// A flow leaves the table: fold it into its connection and its hosts. Data still buffered
/// out of order is dropped (not delivered), so no PDU is emitted at a time that depends on
/// when the flow happened to be swept.
fn close_flow(mut f: Flow<App>, _reason: CloseReason, pool: &mut ReassemblyPool, sink: &mut Sink) {
    for s in &mut f.tcp {
        s.discard(pool);
    }
    fold_flow(&f, &mut sink.conns, &mut sink.hosts_ip, &mut sink.bindings);
}

/// An open flow as a snapshot copies it ([`Worker::snapshot`]): the flow's own fields,
/// with empty TCP streams, and of its application state only what folding reads.
pub(crate) type FlowCopy = Flow<AppSummary>;

/// What folding a flow reads of its application state ([`FoldApp`]).
#[derive(Debug, Clone)]
pub(crate) struct AppSummary {
    proto: ProtocolId,
    dst_group: bool,
    ttl: [u8; 2],
    tally: Tally,
    timing: Option<RequestTiming>,
}

/// A flow's copy for a snapshot: no lookups, no allocation but the copy itself.
fn copy_flow(f: &Flow<App>) -> FlowCopy {
    Flow {
        key: f.key,
        id: f.id,
        lo_is_client: f.lo_is_client,
        first_seen: f.first_seen,
        last_seen: f.last_seen,
        packets: f.packets,
        bytes: f.bytes,
        macs: f.macs,
        tcp_flags: f.tcp_flags,
        tcp: Default::default(),
        app: AppSummary {
            proto: f.app.proto,
            dst_group: f.app.dst_group,
            ttl: f.app.ttl,
            tally: f.app.tally,
            timing: f.app.timing.as_deref().cloned(),
        },
    }
}

/// The application state that folding a flow reads: the live [`App`] when a flow closes,
/// its [`AppSummary`] when a snapshot is folded.
trait FoldApp {
    fn proto(&self) -> ProtocolId;
    fn dst_group(&self) -> bool;
    fn ttl(&self) -> [u8; 2];
    fn pdus(&self) -> u32;
    fn anomalies(&self) -> u32;
    fn ops(&self) -> OperationSet;
    fn timing(&self) -> Option<&RequestTiming>;
}

macro_rules! fold_app {
    ($t:ty, |$s:ident| $timing:expr) => {
        impl FoldApp for $t {
            #[inline(always)]
            fn proto(&self) -> ProtocolId {
                self.proto
            }
            #[inline(always)]
            fn dst_group(&self) -> bool {
                self.dst_group
            }
            #[inline(always)]
            fn ttl(&self) -> [u8; 2] {
                self.ttl
            }
            #[inline(always)]
            fn pdus(&self) -> u32 {
                self.tally.pdus_u32()
            }
            #[inline(always)]
            fn anomalies(&self) -> u32 {
                self.tally.anomalous_u32()
            }
            #[inline(always)]
            fn ops(&self) -> OperationSet {
                self.tally.ops
            }
            #[inline(always)]
            fn timing(&$s) -> Option<&RequestTiming> {
                $timing
            }
        }
    };
}
fold_app!(App, |self| self.timing.as_deref());
fold_app!(AppSummary, |self| self.timing.as_ref());

/// Fold a flow into its connection, its hosts and the MAC↔IP bindings: what closing it
/// does to the aggregates (also used for snapshots, on copies of the aggregates and of the
/// open flows). Not inlined: closing a flow is rare next to the per-packet work around
/// it, and inlined there it changed how that work was compiled (3 % more instructions).
#[inline(never)]
fn fold_flow<A: FoldApp>(
    f: &Flow<A>,
    conns: &mut HashMap<ConnKey, ConnAgg>,
    hosts_ip: &mut HashMap<[u8; 16], HostAgg>,
    bindings: &mut Bindings,
) {
    let ((client, cport), (server, sport)) = f.endpoints();
    let key = ConnKey {
        client,
        server,
        transport: f.key.transport,
        client_port: cport,
        server_port: sport,
        vlan: f.key.vlan,
    };
    let proto = (f.app.proto() != ProtocolId::UNKNOWN).then(|| f.app.proto().name());
    let tcp_state = f.tcp_state();
    let c = conns.entry(key).or_insert_with(|| ConnAgg {
        protocol: None,
        packets: [0; 2],
        bytes: [0; 2],
        first_seen: f.first_seen,
        last_seen: f.last_seen,
        first_id: f.id,
        sessions: 0,
        tcp_state: None,
        pdus: 0,
        pdu_anomalies: 0,
        operations: OperationSet::default(),
        timing: RequestTiming::default(),
        macs: f.macs,
    });
    c.protocol = c.protocol.or(proto);
    for i in 0..2 {
        c.packets[i] += f.packets[i];
        c.bytes[i] += f.bytes[i];
    }
    if f.first_seen < c.first_seen || (f.first_seen == c.first_seen && f.id < c.first_id) {
        c.first_seen = f.first_seen;
        c.first_id = f.id;
    }
    if f.last_seen >= c.last_seen {
        c.last_seen = f.last_seen;
        c.tcp_state = tcp_state;
    }
    c.sessions += 1;
    c.pdus += u64::from(f.app.pdus());
    c.pdu_anomalies += u64::from(f.app.anomalies());
    c.operations = c.operations.union(f.app.ops());
    // Sessions of one connection close in time order (a flow key has one flow at a time).
    if let Some(t) = f.app.timing() {
        c.timing.append(t);
    }
    for (m, side) in c.macs.iter_mut().zip(f.macs) {
        if m.is_zero() {
            *m = side;
        }
    }

    // Hosts: the client always; the server when it answered, or when it was addressed as a
    // unicast host (not a broadcast/multicast address).
    host_from_flow(hosts_ip, bindings, &client, f.macs[0], f.id, f, 0);
    let server_ip = to_ip(&server);
    let server_is_group = f.app.dst_group() || server_ip.is_multicast() || is_broadcast(&server_ip);
    if f.packets[1] > 0 || !server_is_group {
        host_from_flow(hosts_ip, bindings, &server, f.macs[1], f.id, f, 1);
    }
}

/// Broadcast (255.255.255.255) or multicast, IPv4 or IPv6, in the 16-byte stored form.
fn is_group_addr(a: &[u8; 16]) -> bool {
    let ip = to_ip(a);
    ip.is_multicast() || is_broadcast(&ip)
}

fn is_broadcast(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_broadcast() || v4.is_unspecified(),
        std::net::IpAddr::V6(v6) => v6.is_unspecified(),
    }
}

fn host_from_flow(
    hosts_ip: &mut HashMap<[u8; 16], HostAgg>,
    bindings: &mut Bindings,
    ip: &[u8; 16],
    mac: MacAddr,
    id: u64,
    f: &Flow<impl FoldApp>,
    di: usize,
) {
    if is_broadcast(&to_ip(ip)) {
        return;
    }
    let h = hosts_ip
        .entry(*ip)
        .or_insert_with(|| HostAgg::new(f.first_seen));
    h.touch(f.first_seen);
    h.touch(f.last_seen);
    h.packets_sent += f.packets[di];
    h.bytes_sent += f.bytes[di];
    if f.packets[di] > 0 && !mac.is_zero() && !mac.is_group() {
        // The TTL of a packet sent to a group says nothing of routing.
        let ttl = (di == 1 || !f.app.dst_group()).then_some(f.app.ttl()[di]);
        bindings.flow(mac, *ip, f.first_seen, f.last_seen, ttl);
        h.mac = match h.mac {
            Some((i, m)) if i <= id => Some((i, m)),
            _ => Some((id, mac)),
        };
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The per-flow memory budget: at most 320 bytes per live flow (the flow in its slab
    /// slot, plus its index entry and control byte in the hash map), before any buffered
    /// data (bounded separately) or dissector state.
    #[test]
    fn a_live_flow_fits_in_320_bytes() {
        let slot = std::mem::size_of::<Option<Flow<App>>>();
        // Plus the sweep's compact next-check time per slot.
        let index = std::mem::size_of::<(FlowKey, u32)>() + 1 + std::mem::size_of::<Timestamp>();
        eprintln!("flow slot {slot} B + index entry {index} B");
        assert!(
            slot + index <= 320,
            "flow slot {slot} B + index entry {index} B > 320 B"
        );
    }
}

#[cfg(test)]
#[path = "robustness_tests.rs"]
mod robustness_tests;

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod snapshot_tests;
