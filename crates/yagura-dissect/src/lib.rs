//! Application-protocol dissectors.
//!
//! Its room in the house: bytes of one direction of a flow (a reassembled TCP stream or a
//! UDP datagram) in, [`PduEvent`]s out. Synchronous, no I/O, no allocation per packet on the
//! common path. Depends only on `yagura-core`.
//!
//! The contract (after sawp and Suricata's app-layer template):
//! - each protocol module has a free function `probe(&[u8]) -> Probe` that looks at the first
//!   bytes of a flow (or of a stream after a gap) and says whether they are this protocol; the
//!   [`Registry`] combines them with port tables to label a flow ([`Registry::detect`]);
//! - [`Dissector::parse`] consumes as many whole PDUs as the input holds and reports how many
//!   bytes it used; the caller keeps the unconsumed tail and offers it again with more data;
//! - [`Dissector::on_gap`] tells it that bytes were lost, after which it re-probes the stream
//!   before trusting its framing again.
//!
//! Anomalies are flags on a PDU that is still reported ([`Anomaly`]), never errors: bytes that
//! cannot be framed become one `malformed` PDU and are skipped.
//!
//! Adding a protocol: a module under `src/<proto>/`, one line in [`registry`].

#![warn(missing_docs)]
mod anomaly;
mod bytes;
mod emit;
#[macro_use]
mod macros;
mod stream;
mod text;

pub mod bacnet;
pub mod dhcp;
pub mod dnp3;
pub mod dns;
pub mod enip;
pub mod http;
pub mod iec104;
pub mod link;
pub mod memo;
pub mod modbus;
pub mod ntp;
pub mod opaque;
mod probes;
pub mod registry;
pub mod s7comm;
pub mod smb;
pub mod snmp;
pub mod tls;

#[cfg(test)]
mod testutil;

pub use anomaly::{Anomalies, Anomaly};
pub use registry::{Detect, ProtocolId, Registry};

use yagura_core::{Direction, PduEvent};

/// What a probe concluded from the first bytes of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// These bytes are this protocol.
    Match,
    /// These bytes are not this protocol.
    NoMatch,
    /// Cannot tell yet; offer more bytes.
    NeedMore,
}

/// The result of one [`Dissector::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes consumed from the front of the input (whole PDUs, or bytes skipped as garbage).
    pub consumed: usize,
    /// When the rest is an incomplete PDU: how many more bytes (at least) it needs; 0 if
    /// unknown. The caller buffers the rest only up to its per-flow cap.
    pub needed: usize,
}

impl Parsed {
    /// Everything up to `consumed` was used and nothing more is awaited.
    #[inline]
    pub const fn done(consumed: usize) -> Parsed {
        Parsed {
            consumed,
            needed: 0,
        }
    }

    /// `consumed` bytes were used; the rest is the start of a PDU needing `needed` more bytes.
    #[inline]
    pub const fn incomplete(consumed: usize, needed: usize) -> Parsed {
        Parsed { consumed, needed }
    }
}

/// What is known of a PDU counted without its event: enough for every aggregate the report
/// keeps, so that the report is the same with or without events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduCount {
    /// Protocol id of the PDU.
    pub protocol: &'static str,
    /// Its operation class.
    pub operation: yagura_core::OperationClass,
    /// A response (or confirmation), not a request.
    pub response: bool,
    /// Anomalies found (0: none).
    pub anomalies: u32,
}

/// What the report keeps of a connection's PDUs, summed as they are counted: a sink that
/// only aggregates (the engine's) hands out its tally ([`PduSink::tally`]) so that
/// dissectors count a PDU inline ([`count`]) instead of through a virtual
/// [`PduSink::pdu_counts`] per PDU. Adding a count here is the same as handing it to such
/// a sink's `pdu_counts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// PDUs. 64 bits, so that adding never overflows (at a billion PDUs a second it would
    /// take 584 years) and needs no saturating arithmetic on the per-PDU path; the report's
    /// 32-bit counts saturate when they are read ([`Tally::pdus_u32`]).
    pub pdus: u64,
    /// PDUs with at least one anomaly (64 bits, as `pdus`).
    pub anomalous: u64,
    /// Operation classes of the requests.
    pub ops: yagura_core::OperationSet,
    /// A request was counted since the owner last cleared this (the engine times request
    /// packets: it looks once per chunk of data, which is one packet's).
    pub requested: bool,
}

impl Tally {
    /// Count `n` alike PDUs (`c`'s protocol is not kept).
    #[inline(always)]
    pub fn add(&mut self, c: PduCount, n: u32) {
        if n == 0 {
            return;
        }
        self.pdus += u64::from(n);
        if c.anomalies > 0 {
            self.anomalous += u64::from(n);
        }
        if !c.response {
            self.ops.insert(c.operation);
            self.requested = true;
        }
    }

    /// [`Tally::pdus`] as a 32-bit count, saturating.
    #[inline]
    pub fn pdus_u32(&self) -> u32 {
        u32::try_from(self.pdus).unwrap_or(u32::MAX)
    }

    /// [`Tally::anomalous`] as a 32-bit count, saturating.
    #[inline]
    pub fn anomalous_u32(&self) -> u32 {
        u32::try_from(self.anomalous).unwrap_or(u32::MAX)
    }
}

/// Count `n` alike PDUs: into the sink's [`Tally`] when it keeps one (no virtual call but
/// the one that finds it), else through [`PduSink::pdu_counts`] (test sinks that record
/// every count).
#[inline(always)]
pub(crate) fn count(sink: &mut dyn PduSink, c: PduCount, n: u32) {
    debug_assert!(
        c.response || !c.operation.is_operational(),
        "an operational request is never only counted (see `PduSink::pdu_count`)"
    );
    match sink.tally() {
        Some(t) => t.add(c, n),
        None => count_each(sink, c.protocol, c.operation, c.response, c.anomalies, n),
    }
}

/// [`count`] for a sink without a tally. Apart and cold (only test sinks have none), and
/// given the count's fields rather than the count, so that the common path does not store
/// a count in memory for it before asking for the tally.
#[cold]
#[inline(never)]
fn count_each(
    sink: &mut dyn PduSink,
    protocol: &'static str,
    operation: yagura_core::OperationClass,
    response: bool,
    anomalies: u32,
    n: u32,
) {
    let c = PduCount {
        protocol,
        operation,
        response,
        anomalies,
    };
    sink.pdu_counts(c, n);
}

/// Where a PDU goes: the engine's sink that stamps it with time and endpoints.
pub trait PduSink {
    /// Take one PDU event (called when [`PduSink::wants_events`] is true, and for every
    /// operational request whatever it says: see [`PduSink::pdu_count`]).
    fn pdu(&mut self, pdu: PduEvent);
    /// Does anyone want the event objects? When not, dissectors may skip building them
    /// (they still count PDUs and anomalies through [`PduSink::pdu_count`]).
    fn wants_events(&self) -> bool;
    /// Count a PDU without building its event (when `wants_events()` is false). Dissectors
    /// count into the sink's [`Tally`] instead when it hands one out ([`PduSink::tally`]). An
    /// operational request ([`yagura_core::OperationClass::is_operational`]: stop, program
    /// download, …) is never only counted: it always goes to [`PduSink::pdu`], even when
    /// events are not wanted, so that the alert it raises can name its function.
    fn pdu_count(&mut self, pdu: PduCount);
    /// Count `n` alike PDUs in a row: the same as `n` calls of [`PduSink::pdu_count`] with
    /// `pdu`. Dissectors hand over runs of alike PDUs this way (the members of a CIP
    /// Multiple Service Packet); a sink that only aggregates records a run in one step.
    fn pdu_counts(&mut self, pdu: PduCount, n: u32) {
        for _ in 0..n {
            self.pdu_count(pdu);
        }
    }
    /// The sink's [`Tally`], when all it keeps of counted PDUs is their sum (the engine's
    /// sink): dissectors then add their counts to it directly ([`count`]), the same as
    /// [`PduSink::pdu_counts`] would. `None` (the default) for sinks that look at every
    /// count.
    fn tally(&mut self) -> Option<&mut Tally> {
        None
    }
    /// Take an identity fact (vendor, model, firmware, host name…) the current PDU
    /// reveals. Called whether or not events are wanted, before the PDU's own
    /// [`PduSink::pdu`] or [`PduSink::pdu_count`]. Sinks that keep no inventory ignore it.
    fn identity(&mut self, _fact: yagura_core::IdentityFact) {}
    /// Take an identity fact by reference: one a dissector remembered (see
    /// [`PduSink::fact_memo`]) and gives again. A sink that keeps facts copies only those it
    /// does not know yet; by default a copy goes to [`PduSink::identity`].
    fn identity_ref(&mut self, fact: &yagura_core::IdentityFact) {
        self.identity(fact.clone());
    }
    /// The memo of facts by message that this sink keeps across flows (the engine: one per
    /// worker), for dissectors whose facts depend only on a message's bytes. Sinks that keep
    /// none return `None`, and the facts are then built every time.
    fn fact_memo(&mut self) -> Option<&mut memo::FactMemo> {
        None
    }
    /// The memo of counts by message that this sink keeps across flows (the engine: one per
    /// worker), for dissectors whose counts of some messages depend only on their bytes.
    /// Sinks that keep none return `None`, and the messages are then counted every time.
    fn count_memo(&mut self) -> Option<&mut memo::CountMemo> {
        None
    }
    /// Does this sink take observables ([`PduSink::observable`])? Dissectors ask before
    /// doing work only an observable needs (hashing a certificate). `false` by default.
    fn wants_observables(&self) -> bool {
        false
    }
    /// Take a value the current PDU shows that threat intelligence can match: a DNS query
    /// name, an HTTP `Host`, a TLS server name (normalised: lowercase ASCII, no trailing
    /// dot; never an address literal) or a certificate fingerprint (lowercase hex). Called
    /// only when the PDU carries one and [`PduSink::wants_observables`] is true, whether or
    /// not events are wanted.
    fn observable(&mut self, _kind: yagura_core::ObservableKind, _value: &str) {}
}

/// Hand the domain name `raw` to the sink as an observable of `kind`, when the sink wants
/// observables and `raw` is a name ([`text::domain`]).
pub(crate) fn observe_name(sink: &mut dyn PduSink, kind: yagura_core::ObservableKind, raw: &[u8]) {
    if sink.wants_observables()
        && let Some(n) = text::domain(raw)
    {
        sink.observable(kind, &n);
    }
}

/// One protocol's parser, with the per-flow state it needs (one value per flow).
pub trait Dissector: Send {
    /// The protocol id the flow is labelled with (`modbus`, `s7comm`, …). A dissector may
    /// emit events of closely related protocols too (the ISO-on-TCP one emits `cotp`,
    /// `s7comm` and `s7comm_plus` PDUs).
    fn protocol(&self) -> ProtocolId;

    /// Parse whole PDUs from the front of `data`, which travels in direction `dir`.
    ///
    /// Over TCP, an incomplete PDU at the end is left unconsumed (`needed` says how much more
    /// it wants). Over UDP each call is one whole datagram and is always consumed entirely: a
    /// truncated PDU is reported as malformed, never awaited.
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed;

    /// `len` bytes were lost in direction `dir` (a TCP gap); drop partial state and re-probe
    /// before trusting framing again.
    fn on_gap(&mut self, _dir: Direction, _len: u32) {}
}
