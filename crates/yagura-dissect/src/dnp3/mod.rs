//! DNP3 (IEEE 1815) over TCP/UDP 20000: link-layer frames with their CRCs, transport
//! reassembly, the application header (function, sequence, IIN) and the object headers.
//!
//! Events: one per application fragment (in the frame carrying its final transport
//! segment), one per link frame without user data (link status, reset, …), one `malformed`
//! per transport segment that cannot be placed (no first segment, out of sequence) and per
//! fragment abandoned before its final segment. Segments before the final one have no
//! event of their own; their CRC errors are carried by the fragment's event.

pub mod app;
pub mod crc;
pub mod wire;

use yagura_core::{Direction, OperationClass, PduStatus};

use yagura_core::FieldValue;

use crate::bytes::le16;
use crate::emit::{Summary, emit, emit_to, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomalies, emit::Fields};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// Link header field offsets.
mod field {
    /// Octets after itself up to the end of user data, CRCs excluded: CTRL + DST + SRC
    /// (5) + user data.
    pub const LEN: usize = 2;
    pub const CTRL: usize = 3;
    pub const DST: usize = 4;
    pub const SRC: usize = 6;
}

/// The two start octets.
pub const START: [u8; 2] = [0x05, 0x64];
/// Link header length, CRC included.
pub const HEADER_LEN: usize = 10;
/// User data is sent in blocks of 16 octets, each followed by a CRC.
pub const BLOCK: usize = 16;
/// LEN counts CTRL, DST and SRC before the user data.
pub const LEN_OVERHEAD: u8 = 5;

/// Link control bits.
const CTRL_PRM: u8 = 0x40;
const CTRL_FUNC: u8 = 0x0f;
/// Transport header bits.
const TH_FIN: u8 = 0x80;
const TH_FIR: u8 = 0x40;
const TH_SEQ: u8 = 0x3f;
/// Largest reassembled application fragment kept (IEEE 1815 recommends at most 2048
/// octets; twice that leaves room for configured larger fragments).
pub const MAX_FRAGMENT: usize = 4096;
/// Largest link user data: LEN is at most 255, of which 5 are CTRL, DST and SRC.
const MAX_USER_DATA: usize = 250;
/// Room in front of the user data gathered by [`Dnp3Framing::frame`] for the octets
/// copied with the short last block's data (a frame gathered there has a whole block: at
/// least 16 octets before the last block's data); 256 octets in all keeps the buffer's
/// zeroing inline.
const UD_PAD: usize = 6;
/// IIN2 bits reporting a rejected request: function not supported, object unknown,
/// parameter error.
const IIN2_ERRORS: u8 = 0x07;

/// Whole frame length for a LEN field value (≥ 5).
#[inline]
pub fn frame_len(len: u8) -> usize {
    let user = (len - LEN_OVERHEAD) as usize;
    HEADER_LEN + user + 2 * user.div_ceil(BLOCK)
}

open_enum! {
    /// Application-layer function codes (IEEE 1815-2012, 4.2.2.5).
    pub struct AppFunction(u8) {
        CONFIRM = 0 => "confirm",
        READ = 1 => "read",
        WRITE = 2 => "write",
        SELECT = 3 => "select",
        OPERATE = 4 => "operate",
        DIRECT_OPERATE = 5 => "direct_operate",
        DIRECT_OPERATE_NR = 6 => "direct_operate_nr",
        IMMED_FREEZE = 7 => "immed_freeze",
        IMMED_FREEZE_NR = 8 => "immed_freeze_nr",
        FREEZE_CLEAR = 9 => "freeze_clear",
        FREEZE_CLEAR_NR = 10 => "freeze_clear_nr",
        FREEZE_AT_TIME = 11 => "freeze_at_time",
        FREEZE_AT_TIME_NR = 12 => "freeze_at_time_nr",
        COLD_RESTART = 13 => "cold_restart",
        WARM_RESTART = 14 => "warm_restart",
        INITIALIZE_DATA = 15 => "initialize_data",
        INITIALIZE_APPL = 16 => "initialize_appl",
        START_APPL = 17 => "start_appl",
        STOP_APPL = 18 => "stop_appl",
        SAVE_CONFIG = 19 => "save_config",
        ENABLE_UNSOLICITED = 20 => "enable_unsolicited",
        DISABLE_UNSOLICITED = 21 => "disable_unsolicited",
        ASSIGN_CLASS = 22 => "assign_class",
        DELAY_MEASURE = 23 => "delay_measure",
        RECORD_CURRENT_TIME = 24 => "record_current_time",
        OPEN_FILE = 25 => "open_file",
        CLOSE_FILE = 26 => "close_file",
        DELETE_FILE = 27 => "delete_file",
        GET_FILE_INFO = 28 => "get_file_info",
        AUTHENTICATE_FILE = 29 => "authenticate_file",
        ABORT_FILE = 30 => "abort_file",
        ACTIVATE_CONFIG = 31 => "activate_config",
        AUTHENTICATE_REQ = 32 => "authenticate_req",
        AUTH_REQ_NO_ACK = 33 => "auth_req_no_ack",
        RESPONSE = 129 => "response",
        UNSOLICITED_RESPONSE = 130 => "unsolicited_response",
        AUTHENTICATE_RESP = 131 => "authenticate_resp",
    }
}

/// Does [`AppFunction::name`] know the function code? (Computed from it at compile time: a
/// load instead of a call per fragment.)
const KNOWN_FUNCTION: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = AppFunction(i as u8).name().is_some();
        i += 1;
    }
    t
};

/// Operation class of an application function.
pub fn operation(f: AppFunction) -> OperationClass {
    use OperationClass as O;
    match f.0 {
        1 => O::Read,
        2 => O::Write,
        // Select/operate and freezes act on outputs and counters.
        3..=12 => O::ControlCommand,
        13 | 14 => O::Restart,
        16 | 17 => O::Start,
        18 => O::Stop,
        // Reset data to defaults, save/activate configuration, unsolicited and class
        // settings change its configuration.
        15 | 19..=22 | 31 => O::ConfigChange,
        // Record current time (the master setting the outstation's clock).
        24 => O::ClockSync,
        23 => O::Diagnostic,
        25..=30 => O::FileTransfer,
        32 | 33 | 131 => O::Auth,
        // Unsolicited responses report data; solicited ones inherit their request's class
        // once requests and responses are matched (later).
        130 => O::Read,
        _ => O::Other,
    }
}

/// Name of a link-layer function: primary (`prm`) or secondary.
pub fn link_function_name(prm: bool, func: u8) -> Option<&'static str> {
    Some(match (prm, func) {
        (true, 0) => "link_reset_link_states",
        (true, 2) => "link_test_link_states",
        (true, 3) => "link_confirmed_user_data",
        (true, 4) => "link_unconfirmed_user_data",
        (true, 9) => "link_request_link_status",
        (false, 0) => "link_ack",
        (false, 1) => "link_nack",
        (false, 11) => "link_status",
        (false, 15) => "link_not_supported",
        _ => return None,
    })
}

/// Does `data` start with a DNP3 link header whose CRC checks? (Strong enough to be used
/// port-independently: two start octets and a 16-bit CRC.)
pub fn probe(data: &[u8]) -> Probe {
    if !starts_like_frame(data) {
        return Probe::NoMatch;
    }
    if data.len() < HEADER_LEN {
        return Probe::NeedMore;
    }
    let ok = data[field::LEN] >= LEN_OVERHEAD && crc::check(&data[..HEADER_LEN]);
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Could `data` be the start of a link frame: are its first octets (up to two) the start
/// octets? (Compared octet by octet: a slice comparison calls `bcmp` for two octets.)
#[inline]
fn starts_like_frame(data: &[u8]) -> bool {
    data.iter().zip(START).all(|(&a, b)| a == b)
}

/// Per-flow DNP3 state.
#[derive(Debug, Clone)]
pub struct Dnp3Dissector {
    stream: Stream,
    framing: Dnp3Framing,
}

/// Per-flow framing state: transport reassembly and outstanding requests, per direction.
#[derive(Debug, Clone, Default)]
struct Dnp3Framing {
    /// Fragment under reassembly, per direction (boxed: most fragments fit one segment).
    reasm: [Option<Box<Reasm>>; 2],
    /// Function code of the last request per application sequence number, per direction
    /// of the request (16 entries each: the sequence has 4 bits).
    requests: [[Option<u8>; 16]; 2],
}

/// A fragment being reassembled from transport segments.
#[derive(Debug, Clone, Default)]
struct Reasm {
    active: bool,
    buf: Vec<u8>,
    link: Link,
    next_seq: u8,
    segments: u32,
    link_bytes: usize,
    anomalies: Anomalies,
}

/// Link-layer facts of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Link {
    src: u16,
    dst: u16,
    function: u8,
}

impl Dnp3Dissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram.
    pub fn new(udp: bool) -> Dnp3Dissector {
        Dnp3Dissector {
            stream: Stream::new(udp),
            framing: Dnp3Framing::default(),
        }
    }
}

impl Dissector for Dnp3Dissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::DNP3
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
        if let Some(r) = &mut self.framing.reasm[dir.index()] {
            r.active = false;
        }
    }
}

impl Framing for Dnp3Framing {
    const PROTOCOL: &'static str = "dnp3";

    fn probe(data: &[u8]) -> Probe {
        probe(data)
    }

    /// Inlined into [`Stream::run`]'s loop (one call per PDU less).
    #[inline(always)]
    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        if !starts_like_frame(data) {
            return Step::Bad(Anomaly::BadHeader);
        }
        if data.len() < HEADER_LEN {
            return Step::Need(HEADER_LEN - data.len());
        }
        let len = data[field::LEN];
        if len < LEN_OVERHEAD {
            return Step::Bad(Anomaly::BadLength);
        }
        let total = frame_len(len);
        if data.len() < total {
            return Step::Need(total - data.len());
        }
        self.frame(&data[..total], dir, sink);
        Step::Used(total)
    }
}

impl Dnp3Framing {
    /// One whole link frame.
    fn frame(&mut self, f: &[u8], dir: Direction, sink: &mut dyn PduSink) {
        let ctrl = f[field::CTRL];
        let prm = ctrl & CTRL_PRM != 0;
        let link = Link {
            src: le16(f, field::SRC).unwrap_or(0),
            dst: le16(f, field::DST).unwrap_or(0),
            function: ctrl & CTRL_FUNC,
        };
        // A header with a bad CRC is still framed by its LEN (the next frame's start octets
        // confirm or refute it); every block is checked.
        let mut crc_ok = crc::check(&f[..HEADER_LEN]);
        let blocks = f.get(HEADER_LEN..).unwrap_or_default();
        let user_data = prm && matches!(link.function, 3 | 4) && !blocks.is_empty();
        let (whole, last) = blocks.as_chunks::<{ BLOCK + 2 }>();
        let last_len = last.len().saturating_sub(2);
        if !last.is_empty() {
            crc_ok &= crc::check(last);
        }
        // User data without its block CRCs (at most 250 octets: no allocation), gathered in
        // the pass that checks the CRCs at `buf[UD_PAD..]` unless the frame has at most one
        // (short) block: then it is contiguous in the frame.
        // (Zeroed only for a frame that needs it: one without whole blocks never copies.)
        let mut buf;
        let ud = if whole.is_empty() {
            last.get(..last_len)
        } else {
            buf = [0u8; UD_PAD + MAX_USER_DATA];
            let ud_end = UD_PAD + whole.len() * BLOCK + last_len;
            // The short last block's data is copied as the 16 octets of the frame ending
            // with it, to the 16 octets of `buf` ending at `ud_end` (a constant-size copy
            // instead of a `memcpy` call): the octets before its data land on the padding
            // or where the whole blocks' data is written next.
            if user_data && !last.is_empty() {
                let data_end = f.len() - 2;
                let src = data_end
                    .checked_sub(BLOCK)
                    .and_then(|at| f.get(at..data_end))
                    .and_then(|s| <&[u8; BLOCK]>::try_from(s).ok());
                let dst = ud_end
                    .checked_sub(BLOCK)
                    .and_then(|at| buf.get_mut(at..ud_end))
                    .and_then(|d| <&mut [u8; BLOCK]>::try_from(d).ok());
                if let (Some(src), Some(dst)) = (src, dst) {
                    *dst = *src;
                }
            }
            // Whole blocks: constant sizes let the compiler unroll the CRC and copy with a
            // few moves.
            for (i, block) in whole.iter().enumerate() {
                crc_ok &= crc::check(block);
                if user_data
                    && let Some((data, _)) = block.split_first_chunk::<BLOCK>()
                    && let Some(dst) = buf.get_mut(UD_PAD + i * BLOCK..UD_PAD + (i + 1) * BLOCK)
                {
                    dst.copy_from_slice(data);
                }
            }
            buf.get(UD_PAD..ud_end)
        };
        let mut anomalies = Anomalies::NONE;
        if !crc_ok {
            anomalies.set(Anomaly::BadCrc);
        }
        match ud.filter(|_| user_data).and_then(<[u8]>::split_first) {
            Some((&th, seg)) => self.segment(dir, link, th, seg, f.len(), anomalies, sink),
            None => link_frame(link, prm, f.len(), anomalies, sink),
        }
    }

    /// One transport segment (`th` its header, `seg` the application octets it carries).
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        dir: Direction,
        link: Link,
        th: u8,
        seg: &[u8],
        frame_len: usize,
        anomalies: Anomalies,
        sink: &mut dyn PduSink,
    ) {
        let d = dir.index();
        let (fir, fin, seq) = (th & TH_FIR != 0, th & TH_FIN != 0, th & TH_SEQ);
        let follows = self.reasm[d]
            .as_ref()
            .is_some_and(|r| r.active && r.link == link && r.next_seq == seq);
        if fir || !follows {
            // A new first segment, or one that cannot continue the fragment in progress:
            // the latter is abandoned.
            self.abandon(dir, sink);
        }
        if fir && fin {
            self.fragment(dir, link, seg, 1, frame_len, anomalies, sink);
            return;
        }
        if !fir && !follows {
            let mut s = Summary::new("dnp3", false, frame_len);
            s.anomalies = anomalies.with(Anomaly::MissingFirstSegment);
            s.status = PduStatus::Malformed;
            emit(sink, &s, |fields| {
                link_fields(fields, link);
                fields.push(("transport_seq", u(seq)));
            });
            return;
        }
        let r = self.reasm[d].get_or_insert_with(Box::default);
        if fir {
            r.buf.clear();
            r.link = link;
            r.segments = 0;
            r.link_bytes = 0;
            r.anomalies = Anomalies::NONE;
            r.active = true;
        }
        r.next_seq = (seq + 1) & TH_SEQ;
        r.segments += 1;
        r.link_bytes += frame_len;
        r.anomalies = r.anomalies.union(anomalies);
        if r.buf.len() + seg.len() > MAX_FRAGMENT {
            // Report what was gathered and drop the rest of the fragment.
            r.anomalies.set(Anomaly::ReassemblyOverflow);
            self.abandon(dir, sink);
            return;
        }
        r.buf.extend_from_slice(seg);
        if fin {
            let buf = std::mem::take(&mut r.buf);
            let (segments, bytes, an) = (r.segments, r.link_bytes, r.anomalies);
            r.active = false;
            self.fragment(dir, link, &buf, segments, bytes, an, sink);
            if let Some(r) = &mut self.reasm[d] {
                r.buf = buf;
            }
        }
    }

    /// Report the fragment in progress in `dir` (if any) as cut short and forget it.
    /// Asked at every first segment; the check is inlined, the report is not.
    #[inline]
    fn abandon(&mut self, dir: Direction, sink: &mut dyn PduSink) {
        if self.reasm[dir.index()].as_ref().is_some_and(|r| r.active) {
            self.abandon_active(dir, sink);
        }
    }

    /// [`Self::abandon`] for a fragment in progress.
    #[inline(never)]
    fn abandon_active(&mut self, dir: Direction, sink: &mut dyn PduSink) {
        let Some(r) = self.reasm[dir.index()].as_mut().filter(|r| r.active) else {
            return;
        };
        r.active = false;
        let buf = std::mem::take(&mut r.buf);
        let (link, segments, bytes) = (r.link, r.segments, r.link_bytes);
        let an = r.anomalies.with(Anomaly::Truncated);
        self.fragment(dir, link, &buf, segments, bytes, an, sink);
        if let Some(r) = &mut self.reasm[dir.index()] {
            r.buf = buf;
        }
    }

    /// Summarise and emit one application fragment.
    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        dir: Direction,
        link: Link,
        frag: &[u8],
        segments: u32,
        link_bytes: usize,
        anomalies: Anomalies,
        sink: &mut dyn PduSink,
    ) {
        let mut s = Summary::new("dnp3", false, link_bytes);
        s.anomalies = anomalies;
        let hdr = app::header(frag);
        let mut request = None;
        let mut walked = (0, app::WalkEnd::Done);
        // Device attributes (group 0) of a response: identity facts about the outstation,
        // collected on the walk that runs anyway (nothing is allocated without them).
        let mut facts: Vec<(&'static str, String)> = Vec::new();
        match hdr {
            None => s.anomalies.set(Anomaly::Truncated),
            Some(h) => {
                let fc = h.function;
                let af = AppFunction(fc);
                let seq = usize::from(h.control & wire::AC_SEQ);
                s.function = Some(u32::from(fc));
                s.operation = operation(af);
                s.response = app::is_response(fc);
                // The name itself only serves the event (set below); a table answers
                // whether there is one.
                if !KNOWN_FUNCTION[usize::from(fc)] {
                    s.anomalies.set(Anomaly::UnknownFunction);
                }
                let d = dir.index();
                if fc == AppFunction::RESPONSE.0 {
                    // A solicited response answers the request with its sequence number
                    // sent the other way; it takes that request's class.
                    request = self.requests[1 - d][seq].take();
                    if let Some(req) = request {
                        s.operation = operation(AppFunction(req));
                    }
                } else if !s.response && fc != AppFunction::CONFIRM.0 {
                    self.requests[d][seq] = Some(fc);
                }
                match h.iin {
                    Some(iin) if (iin as u8) & IIN2_ERRORS != 0 => s.status = PduStatus::Exception,
                    None if s.response => s.anomalies.set(Anomaly::Truncated),
                    _ => {}
                }
                let response = s.response;
                walked = app::walk(
                    frag.get(h.objects..).unwrap_or_default(),
                    fc,
                    |_| {},
                    |o, dtype, value| {
                        if response
                            && let Some(fact) = identity_fact(o.variation, dtype, value)
                            && !facts.iter().any(|(k, _)| *k == fact.0)
                        {
                            facts.push(fact);
                        }
                    },
                );
                if let app::WalkEnd::Bad(a) = walked.1 {
                    s.anomalies.set(a);
                }
            }
        }
        if !s.anomalies.is_empty() {
            s.status = PduStatus::Malformed;
        }
        for (field, value) in &facts {
            if let Some(attribute) = yagura_core::Attribute::from_field(field) {
                sink.identity(yagura_core::IdentityFact {
                    protocol: "dnp3",
                    subject: yagura_core::Subject::Sender,
                    attribute,
                    value: value.clone(),
                });
            }
        }
        // Counted without fields when no event is wanted: decided here, so that the closure
        // below (a dozen captures) is only set up for an event.
        let events = sink.wants_events();
        // The name is for the event, which an operational request (a restart, …) always
        // has (see `PduSink::pdu_count`).
        let operational = s.operational();
        if !events && !operational {
            emit_to(sink, false, &s, |_| {});
            return;
        }
        s.function_name = hdr.and_then(|h| AppFunction(h.function).name());
        emit_to(sink, events, &s, |fields| {
            link_fields(fields, link);
            fields.push(("transport_segments", u(segments)));
            let Some(h) = hdr else { return };
            fields.push(("sequence", u(h.control & wire::AC_SEQ)));
            fields.push(("fir", FieldValue::Bool(h.control & wire::AC_FIR != 0)));
            fields.push(("fin", FieldValue::Bool(h.control & wire::AC_FIN != 0)));
            fields.push(("confirm", FieldValue::Bool(h.control & wire::AC_CON != 0)));
            fields.push((
                "unsolicited",
                FieldValue::Bool(h.control & wire::AC_UNS != 0),
            ));
            if let Some(iin) = h.iin {
                fields.push(("iin", u(iin)));
                if iin != 0 {
                    fields.push(("iin_flags", FieldValue::Str(wire::iin_flags(iin))));
                }
            }
            if let Some(req) = request {
                fields.push(("request_function", u(req)));
                if let Some(n) = AppFunction(req).name() {
                    fields.push(("request_function_name", FieldValue::Str(n.to_owned())));
                }
            }
            fields.push(("object_count", u(walked.0)));
            if walked.0 > 0 {
                let mut objects = String::new();
                app::walk(
                    frag.get(h.objects..).unwrap_or_default(),
                    h.function,
                    |o| {
                        if !objects.is_empty() {
                            objects.push_str(", ");
                        }
                        o.describe(&mut objects);
                    },
                    |_, _, _| {},
                );
                fields.push(("objects", FieldValue::Str(objects)));
                for (k, v) in facts {
                    fields.push((k, FieldValue::Str(v)));
                }
            }
            if walked.1 == app::WalkEnd::Unknown {
                fields.push(("objects_partial", FieldValue::Bool(true)));
            }
        });
    }
}

/// An identity fact from a device attribute (group 0) of a response: the attribute's
/// variation says what it is (IEEE 1815 table of device attributes), and only visible
/// strings (data type 1) are taken, cut at 64 characters. The field names are those every
/// protocol uses (docs/events.md).
pub(crate) fn identity_fact(
    variation: u8,
    dtype: u8,
    value: &[u8],
) -> Option<(&'static str, String)> {
    const VSTR: u8 = 1;
    let field = match variation {
        242 => "firmware_version", // device manufacturer's software version
        243 => "hardware_version", // device manufacturer's hardware version
        247 => "station_name",     // user-assigned device name
        248 => "serial_number",    // device serial number
        250 => "product_name",     // device manufacturer's product name and model
        252 => "vendor",           // device manufacturer's name
        _ => return None,
    };
    if dtype != VSTR {
        return None;
    }
    let text: String = value
        .iter()
        .take_while(|&&b| b != 0)
        .take(64)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| (field, text.to_owned()))
}

/// The link fields every event starts with.
fn link_fields(fields: &mut Fields, link: Link) {
    fields.push(("link_src", u(link.src)));
    fields.push(("link_dst", u(link.dst)));
    fields.push(("link_function", u(link.function)));
}

/// Summarise and emit a link frame without user data.
fn link_frame(link: Link, prm: bool, len: usize, anomalies: Anomalies, sink: &mut dyn PduSink) {
    let mut s = Summary::new("dnp3", !prm, len);
    s.anomalies = anomalies;
    s.function_name = link_function_name(prm, link.function);
    s.operation = match (prm, link.function) {
        (true, 2 | 9) => OperationClass::Diagnostic,
        _ => OperationClass::Other,
    };
    if s.function_name.is_none() {
        s.anomalies.set(Anomaly::UnknownFunction);
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    emit(sink, &s, |fields| link_fields(fields, link));
}

#[cfg(test)]
mod tests;
