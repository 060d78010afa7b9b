//! Application-protocol dissectors.
//!
//! Its room in the house: bytes of one direction of a flow (a reassembled TCP stream or a
//! UDP datagram) in, [`PduEvent`]s out. Synchronous, no I/O, no allocation per packet on the
//! common path. Depends only on `yagura-core`.
//!
//! The contract (after sawp and Suricata's app-layer template):
//! - [`Dissector::probe`] looks at the first bytes of a flow and says whether they are this
//!   protocol;
//! - [`Dissector::parse`] consumes as many whole PDUs as the input holds and reports how many
//!   bytes it used; the caller keeps the unconsumed tail and offers it again with more data;
//! - [`Dissector::on_gap`] tells it that bytes were lost, after which it resynchronises.
//!
//! Adding a protocol: a module under `src/<proto>/`, one line in [`registry`].

pub mod registry;

pub use registry::{ProtocolId, Registry};

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

/// Where a PDU goes: the engine's sink that stamps it with time and endpoints.
pub trait PduSink {
    fn pdu(&mut self, pdu: PduEvent);
    /// Does anyone want the event objects? When not, dissectors may skip building them
    /// (they still count PDUs and anomalies through [`PduSink::pdu_count`]).
    fn wants_events(&self) -> bool;
    /// Count a PDU without building its event (when `wants_events()` is false).
    fn pdu_count(&mut self, protocol: &'static str, anomalies: u32);
}

/// One protocol's parser, with the per-flow state it needs (one value per flow).
pub trait Dissector: Send {
    /// The protocol id used in reports and events (`modbus`, `s7comm`, …).
    fn protocol(&self) -> ProtocolId;

    /// Parse whole PDUs from the front of `data`, which travels in direction `dir`.
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed;

    /// `len` bytes were lost in direction `dir` (a TCP gap); drop partial state and resync.
    fn on_gap(&mut self, _dir: Direction, _len: u32) {}
}
