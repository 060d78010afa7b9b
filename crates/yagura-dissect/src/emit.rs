//! Turning a parsed PDU summary into an event, or only a count when nobody wants events.

use yagura_core::{
    Attribute, FieldValue, IdentityFact, OperationClass, PduEvent, PduStatus, Subject,
};

use crate::{Anomalies, PduSink};

/// What a dissector knows about one PDU before deciding whether to build its event. `Copy`
/// and allocation-free: the event (with its `Vec`s) is only built when the sink wants it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub protocol: &'static str,
    pub function: Option<u32>,
    pub function_name: Option<&'static str>,
    pub operation: OperationClass,
    pub response: bool,
    pub status: PduStatus,
    pub length: u32,
    pub anomalies: Anomalies,
}

impl Summary {
    /// A PDU of `protocol` with `length` bytes, class `other`, no function yet.
    #[inline]
    pub fn new(protocol: &'static str, response: bool, length: usize) -> Summary {
        Summary {
            protocol,
            function: None,
            function_name: None,
            operation: OperationClass::Other,
            response,
            status: PduStatus::Ok,
            length: u32::try_from(length).unwrap_or(u32::MAX),
            anomalies: Anomalies::NONE,
        }
    }

    /// An operational request (stop, download, …): never only counted, always a full
    /// event, which names its function (see [`crate::PduSink::pdu_count`]).
    #[inline]
    pub fn operational(&self) -> bool {
        !self.response && self.operation.is_operational()
    }

    /// A `malformed` PDU of `length` unframeable bytes.
    #[inline]
    pub fn malformed(
        protocol: &'static str,
        response: bool,
        length: usize,
        why: crate::Anomaly,
    ) -> Summary {
        let mut s = Summary::new(protocol, response, length);
        s.status = PduStatus::Malformed;
        s.anomalies.set(why);
        s
    }
}

/// Field list under construction (only exists when events are wanted).
pub(crate) type Fields = Vec<(&'static str, FieldValue)>;

/// Emit `s`: a full event with the fields `fill` adds when the sink wants events, otherwise a
/// count (no allocation, `fill` never runs).
#[inline]
pub(crate) fn emit(sink: &mut dyn PduSink, s: &Summary, fill: impl FnOnce(&mut Fields)) {
    let events = sink.wants_events();
    emit_to(sink, events, s, fill);
}

/// [`emit`], with `events` the sink's [`PduSink::wants_events`] asked beforehand (once per
/// message rather than once per PDU).
#[inline]
pub(crate) fn emit_to(
    sink: &mut dyn PduSink,
    events: bool,
    s: &Summary,
    fill: impl FnOnce(&mut Fields),
) {
    debug_assert_eq!(events, sink.wants_events());
    if !events {
        // An operational request (stop, download, …) is always a full event: the alert it
        // raises names its function. Rare, and out of line, so that counting stays as lean
        // as it was.
        if s.operational() {
            return emit_operational(
                sink,
                s.protocol,
                s.function,
                s.function_name,
                s.operation,
                s.anomalies,
            );
        }
        crate::count(
            sink,
            crate::PduCount {
                protocol: s.protocol,
                operation: s.operation,
                response: s.response,
                anomalies: s.anomalies.count(),
            },
            1,
        );
        return;
    }
    emit_event(sink, s, fill);
}

/// The event of an operational request when events are not wanted (see
/// [`crate::PduSink::pdu_count`]): what the alert and the counts need (protocol, function
/// and its name, class, anomalies), not the protocol-specific fields, which nobody reads
/// then and which can cost thousands of instructions to build (a DNP3 object list), nor
/// the status and length, which only an event line shows. Only those few fields are
/// handed over, so that counting does not compute the rest of the summary for every PDU
/// just in case (it costs 40 instructions per S7 PDU).
#[cold]
#[inline(never)]
fn emit_operational(
    sink: &mut dyn PduSink,
    protocol: &'static str,
    function: Option<u32>,
    function_name: Option<&'static str>,
    operation: OperationClass,
    anomalies: Anomalies,
) {
    sink.pdu(PduEvent {
        protocol,
        function,
        function_name,
        operation,
        response: false,
        status: if anomalies.is_empty() {
            PduStatus::Ok
        } else {
            PduStatus::Malformed
        },
        length: 0,
        anomalies: anomalies.names(),
        fields: Vec::new(),
    });
}

/// Build `s`'s event with the fields `fill` adds and hand it to the sink.
#[inline]
fn emit_event(sink: &mut dyn PduSink, s: &Summary, fill: impl FnOnce(&mut Fields)) {
    let mut fields = Vec::new();
    fill(&mut fields);
    sink.pdu(PduEvent {
        protocol: s.protocol,
        function: s.function,
        function_name: s.function_name,
        operation: s.operation,
        response: s.response,
        status: s.status,
        length: s.length,
        anomalies: s.anomalies.names(),
        fields,
    });
}

/// Shorthand for an unsigned field value.
#[inline]
pub(crate) fn u(v: impl Into<u64>) -> FieldValue {
    FieldValue::U64(v.into())
}

/// [`emit_to`] for a PDU that reveals its sender's identity (an identification answer): the
/// fields are built whether or not events are wanted, and each field whose name is one of
/// the shared identity names ([`Attribute::from_field`]) is also reported as an
/// [`IdentityFact`] about the sender. Numeric ids become `<protocol>:<number>` text.
pub(crate) fn emit_identity(
    sink: &mut dyn PduSink,
    events: bool,
    s: &Summary,
    fill: impl FnOnce(&mut Fields),
) {
    let mut fields = Vec::new();
    fill(&mut fields);
    for (name, value) in &fields {
        let Some(attribute) = Attribute::from_field(name) else {
            continue;
        };
        let value = match value {
            FieldValue::Str(v) if v.trim().is_empty() => continue,
            FieldValue::Str(v) => v.trim().to_string(),
            FieldValue::U64(n) => format!("{}:{n}", s.protocol),
            FieldValue::I64(n) => format!("{}:{n}", s.protocol),
            FieldValue::Bool(_) => continue,
        };
        sink.identity(IdentityFact {
            protocol: s.protocol,
            subject: Subject::Sender,
            attribute,
            value,
        });
    }
    emit_to(sink, events, s, move |f| *f = fields);
}
