//! S7comm PDUs (protocol id 0x32): Job, Ack, Ack_Data and Userdata.
//!
//! Cheap path (always): ROSCTR, function, operation class, status and anomalies, plus the
//! little a Job needs to describe its answer (kept in a bounded per-flow table keyed by PDU
//! reference). Deep details (items, blocks, PI service, SZL contents) are turned into fields
//! only when events are wanted.

use yagura_core::{Direction, FieldValue, OperationClass, PduStatus};

use super::szl;
use super::wire::{self, BlockId, Function, Item, Rosctr, S7Header};
use crate::bytes::{be16, u8_at};
use crate::emit::{Fields, Summary, emit_identity, emit_to, u};
use crate::{Anomalies, Anomaly, PduSink};

/// Bound on the Jobs awaiting their Ack/Ack_Data in one flow (S7 negotiates at most a few
/// parallel jobs; hostile traffic must not grow memory).
pub const MAX_PENDING: usize = 32;

/// Longest PI service name kept (S7 and NC service names are at most ~10 characters).
const PI_NAME_MAX: usize = 16;

/// Hot (warm) or cold restart requested by the `P_PROGRAM` PI service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Empty parameter block: warm restart, retentive data kept.
    Hot,
    /// Parameter block `C `: cold restart, data reset to initial values.
    Cold,
}

/// A PI service name, inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiName {
    bytes: [u8; PI_NAME_MAX],
    len: u8,
}

impl PiName {
    fn new(b: &[u8]) -> PiName {
        let n = b.len().min(PI_NAME_MAX);
        let mut bytes = [0; PI_NAME_MAX];
        bytes[..n].copy_from_slice(&b[..n]);
        PiName {
            bytes,
            len: n as u8,
        }
    }
    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// What counting a Job (or its answer) needs: the function, its operation class, and whether
/// a Read/Write Var's items overran the parameter. Four bytes: this is all the pending-Job
/// table keeps when no event is built, so remembering and matching a Job stays cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobClass {
    /// Function code.
    pub function: Option<u8>,
    /// Operation class (PI services by name).
    pub operation: OperationClass,
    /// Read/Write Var: the items do not fit in the parameter.
    pub truncated: bool,
}

impl JobClass {
    const NONE: JobClass = JobClass {
        function: None,
        operation: OperationClass::Other,
        truncated: false,
    };

    /// This answer's own class, completed by the Job it answers (see [`JobInfo::answering`],
    /// which must agree: a debug assertion there ties the two).
    fn answering(self, req: Option<JobClass>) -> JobClass {
        match req {
            Some(r) if !reused_ref(self.function, r.function) => JobClass {
                function: r.function,
                operation: r.operation,
                truncated: false,
            },
            _ => self,
        }
    }
}

/// An answer whose own function differs from its Job's: the PDU reference was reused for
/// another function, and the answer is trusted alone.
fn reused_ref(own: Option<u8>, job: Option<u8>) -> bool {
    own.is_some() && own != job
}

/// What a Job (or Ack_Data) parameter says, kept to describe the answer to a Job.
#[derive(Debug, Clone, Copy)]
pub struct JobInfo {
    /// Function code.
    pub function: Option<u8>,
    /// Operation class (PI services by name).
    pub operation: OperationClass,
    /// Read/Write Var item count.
    pub item_count: Option<u8>,
    /// The first item.
    pub item: Option<Item>,
    /// The block of a block function or PI service.
    pub block: Option<BlockId>,
    /// PI service name (also the PLC stop service name).
    pub pi: Option<PiName>,
    /// `P_PROGRAM`: hot or cold start.
    pub start_mode: Option<StartMode>,
    /// Setup communication: max AmQ calling, max AmQ called, PDU length.
    pub setup: Option<[u16; 3]>,
    /// Read/Write Var: the items do not fit in the parameter.
    pub truncated: bool,
}

impl JobInfo {
    const NONE: JobInfo = JobInfo {
        function: None,
        operation: OperationClass::Other,
        item_count: None,
        item: None,
        block: None,
        pi: None,
        start_mode: None,
        setup: None,
        truncated: false,
    };

    /// Read a Job or Ack_Data parameter (`request` for a Job).
    ///
    /// Inlined so that the value is built where the caller keeps it: returned from a call, it
    /// was copied out with wide loads right after its fields were stored one by one, which
    /// store forwarding cannot serve (two stalls per PDU).
    #[inline(always)]
    pub fn parse(param: &[u8], request: bool) -> JobInfo {
        let mut j = JobInfo::NONE;
        let Some(&fc) = param.first() else {
            return j;
        };
        let f = Function(fc);
        j.function = Some(fc);
        // The PI service (or PLC stop service) name. Its class is taken from the whole name:
        // the same as from the kept `PiName` (the names and prefixes `operation` looks for
        // are shorter than `PI_NAME_MAX`), and `j` is not borrowed, so that it can live in
        // registers when only its class is used.
        let mut pi = None;
        match f {
            Function::READ_VAR | Function::WRITE_VAR => {
                // The class is known from the function alone (no second dispatch on it).
                j.operation = operation(f, None, None);
                j.item_count = u8_at(param, 1);
                if request {
                    let n = j.item_count.unwrap_or(0);
                    // The items after function and count.
                    let mut rest = param.get(2..).unwrap_or_default();
                    for i in 0..n {
                        // Only the first item's fields are kept: the others are only
                        // sized (and when counting, the first is not read either).
                        match Item::size(rest) {
                            Some(size) => {
                                if i == 0 {
                                    j.item = Some(Item::read(rest, size));
                                }
                                rest = &rest[size..];
                            }
                            None => {
                                j.truncated = true;
                                break;
                            }
                        }
                    }
                }
                return j;
            }
            Function::REQUEST_DOWNLOAD
            | Function::DOWNLOAD_BLOCK
            | Function::DOWNLOAD_ENDED
            | Function::START_UPLOAD
                if request =>
            {
                // function, status, 2 bytes, 4-byte upload id, then a file name
                // `_TTNNNNNF` (type, number, file system).
                let n = u8_at(param, 8).unwrap_or(0) as usize;
                if let Some(name) = param.get(9..9 + n)
                    && let Some(rest) = name.strip_prefix(b"_")
                {
                    j.block = BlockId::parse(rest);
                }
            }
            Function::PI_SERVICE if request => {
                if let Some((block, name)) = pi_parts(param) {
                    pi = Some(name);
                    match name {
                        b"_INSE" | b"_DELE" => {
                            // Block count, a byte, then 8-character block names.
                            j.block = block.get(2..).and_then(BlockId::parse);
                        }
                        b"P_PROGRAM" => {
                            j.start_mode = match block {
                                [] => Some(StartMode::Hot),
                                [b'C', ..] => Some(StartMode::Cold),
                                _ => None,
                            };
                        }
                        _ => {}
                    }
                }
            }
            Function::PLC_STOP if request => {
                // Function, 5 bytes, then a length-prefixed service name.
                let n = u8_at(param, 6).unwrap_or(0) as usize;
                pi = param.get(7..7 + n);
            }
            Function::SETUP_COMMUNICATION => {
                if let (Some(a), Some(b), Some(c)) =
                    (be16(param, 2), be16(param, 4), be16(param, 6))
                {
                    j.setup = Some([a, b, c]);
                }
            }
            _ => {}
        }
        j.pi = pi.map(PiName::new);
        j.operation = operation(f, pi, j.start_mode);
        j
    }

    /// The part counting needs.
    #[inline(always)]
    pub fn class(&self) -> JobClass {
        JobClass {
            function: self.function,
            operation: self.operation,
            truncated: self.truncated,
        }
    }

    /// This Ack_Data's own parameter, completed by the Job it answers.
    fn answering(self, req: Option<JobInfo>) -> JobInfo {
        let a = self.answering_full(req);
        debug_assert_eq!(
            a.class(),
            self.class().answering(req.map(|r| r.class())),
            "counting and events must match an answer to its Job alike"
        );
        a
    }

    fn answering_full(self, req: Option<JobInfo>) -> JobInfo {
        let Some(r) = req else {
            return self;
        };
        if reused_ref(self.function, r.function) {
            return self;
        }
        JobInfo {
            function: r.function,
            operation: r.operation,
            item_count: self.item_count.or(r.item_count),
            item: r.item,
            block: r.block,
            pi: r.pi,
            start_mode: r.start_mode,
            setup: self.setup.or(r.setup),
            truncated: false,
        }
    }
}

/// The parameter block and service name of a PI service Job: after the function, 7 bytes,
/// a parameter block (u16 length + bytes), then a length-prefixed name.
fn pi_parts(param: &[u8]) -> Option<(&[u8], &[u8])> {
    let pbl = be16(param, 8)? as usize;
    let block = param.get(10..10 + pbl)?;
    let at = 10 + pbl;
    let n = *param.get(at)? as usize;
    Some((block, param.get(at + 1..at + 1 + n)?))
}

/// Operation class of a Job/Ack_Data function; `pi` is the PI service name when visible.
/// Inlined into `JobInfo::parse`, where the function is mostly known to be Read/Write Var.
#[inline(always)]
pub fn operation(f: Function, pi: Option<&[u8]>, start: Option<StartMode>) -> OperationClass {
    use OperationClass as O;
    match f {
        Function::READ_VAR => O::Read,
        Function::WRITE_VAR => O::Write,
        Function::REQUEST_DOWNLOAD | Function::DOWNLOAD_BLOCK | Function::DOWNLOAD_ENDED => {
            O::ProgramDownload
        }
        Function::START_UPLOAD | Function::UPLOAD | Function::END_UPLOAD => O::ProgramUpload,
        Function::PLC_STOP => O::Stop,
        Function::PI_SERVICE => match pi {
            // _INSE activates downloaded blocks, _DELE deletes blocks: program changes.
            Some(b"_INSE") | Some(b"_DELE") => O::ProgramDownload,
            // Hot start (warm restart) is a start; cold start resets the data: restart.
            Some(b"P_PROGRAM") if start == Some(StartMode::Cold) => O::Restart,
            Some(b"P_PROGRAM") => O::Start,
            // Compress memory, copy RAM to ROM, NC services.
            Some(n)
                if n.starts_with(b"_GARB") || n.starts_with(b"_MODU") || n.starts_with(b"_N_") =>
            {
                O::Other
            }
            // Other or invisible PI services (an Ack_Data whose Job was not seen).
            _ => O::ControlCommand,
        },
        _ => O::Other,
    }
}

/// Operation class of a userdata function; `szl_id` when the SZL is known.
pub fn userdata_operation(group: u8, sub: u8, szl_id: Option<u16>) -> OperationClass {
    use OperationClass as O;
    match (group, sub) {
        // Mode-transition pushes and programmer commands (variable tables, block status,
        // diagnostic data of an engineering station) report state.
        (0, _) | (1, _) => O::Diagnostic,
        (2, _) | (3, _) | (7, 1) | (7, 3) => O::Read,
        (7, 2) | (7, 4) => O::ClockSync,
        // SZL partial lists 0x11 (module id), 0x12 (CPU characteristics), 0x1C (component
        // id) identify the device; the rest (CPU mode, diagnostic buffer, LEDs…) is status.
        (4, 1) => match szl_id.map(|i| i & 0xff) {
            Some(0x11 | 0x12 | 0x1c) => O::Identify,
            _ => O::Diagnostic,
        },
        (4, 3) => O::Diagnostic,
        (5, _) => O::Auth,
        _ => O::Other,
    }
}

/// What the pending-Job table keeps of a Job: all of it ([`JobInfo`]) when events are built,
/// only its [`JobClass`] when PDUs are only counted.
trait Remembered: Copy {
    const NONE: Self;
    /// The part of a parsed parameter kept.
    fn of(j: JobInfo) -> Self;
    /// An answer's own parameter, completed by the Job it answers.
    fn answering(self, req: Option<Self>) -> Self;
    /// An Ack or Ack_Data (`rosctr`, parameter `param`) answering `req`.
    #[inline(always)]
    fn answer_to(rosctr: Rosctr, param: &[u8], req: Option<Self>) -> Self {
        own_answering(rosctr, param, req)
    }
}

/// An Ack or Ack_Data's own parameter (none for an Ack), completed by the Job it answers.
#[inline(always)]
fn own_answering<T: Remembered>(rosctr: Rosctr, param: &[u8], req: Option<T>) -> T {
    let own = if rosctr == Rosctr::ACK_DATA {
        T::of(JobInfo::parse(param, false))
    } else {
        T::NONE
    };
    own.answering(req)
}

impl Remembered for JobInfo {
    const NONE: JobInfo = JobInfo::NONE;
    #[inline(always)]
    fn of(j: JobInfo) -> JobInfo {
        j
    }
    #[inline(always)]
    fn answering(self, req: Option<JobInfo>) -> JobInfo {
        JobInfo::answering(self, req)
    }
}

impl Remembered for JobClass {
    const NONE: JobClass = JobClass::NONE;
    #[inline(always)]
    fn of(j: JobInfo) -> JobClass {
        j.class()
    }
    #[inline(always)]
    fn answering(self, req: Option<JobClass>) -> JobClass {
        JobClass::answering(self, req)
    }
    /// Counting: an answer matched to its Job takes the Job's class unless the answer's own
    /// function differs ([`JobClass::answering`]), and that function is the parameter's
    /// first byte: the rest of the parameter is read only when the answer stands alone.
    #[inline(always)]
    fn answer_to(rosctr: Rosctr, param: &[u8], req: Option<JobClass>) -> JobClass {
        let own_function = if rosctr == Rosctr::ACK_DATA {
            param.first().copied()
        } else {
            None
        };
        if let Some(r) = req
            && !reused_ref(own_function, r.function)
        {
            let a = JobClass {
                truncated: false,
                ..r
            };
            debug_assert_eq!(a, own_answering(rosctr, param, req));
            return a;
        }
        own_answering(rosctr, param, req)
    }
}

/// Jobs awaiting their Ack/Ack_Data: (direction index of the Job, PDU reference, what is kept
/// of it), oldest first, at most [`MAX_PENDING`].
#[derive(Debug)]
struct Pending<T>(Vec<(u8, u16, T)>);

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending(Vec::new())
    }
}

impl<T: Copy> Pending<T> {
    fn remember(&mut self, dir: Direction, pdu_ref: u16, job: T) {
        let d = dir.index() as u8;
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|(pd, r, _)| *pd == d && *r == pdu_ref)
        {
            p.2 = job;
            return;
        }
        if self.0.len() >= MAX_PENDING {
            self.0.remove(0);
        }
        self.0.push((d, pdu_ref, job));
    }

    fn answer(&mut self, dir: Direction, pdu_ref: u16) -> Option<T> {
        let d = dir.index() as u8;
        let i = self
            .0
            .iter()
            .rposition(|(pd, r, _)| *pd != d && *r == pdu_ref)?;
        // Usually the newest Job is answered (one outstanding at a time): pop it rather
        // than call memmove for nothing.
        if i + 1 == self.0.len() {
            return self.0.pop().map(|p| p.2);
        }
        Some(self.0.remove(i).2)
    }

    /// Match a Job, Ack or Ack_Data (`rosctr`, parameter `param`) with the table: a Job is
    /// remembered, an answer takes (and completes its own parameter with) its Job. Inlined,
    /// so that with `T` = [`JobClass`] what only events need is not computed.
    #[inline(always)]
    fn matched(&mut self, rosctr: Rosctr, param: &[u8], dir: Direction, pdu_ref: u16) -> T
    where
        T: Remembered,
    {
        if rosctr == Rosctr::JOB {
            let j = T::of(JobInfo::parse(param, true));
            self.remember(dir, pdu_ref, j);
            return j;
        }
        T::answer_to(rosctr, param, self.answer(dir, pdu_ref))
    }
}

/// Per-flow S7comm state: outstanding Jobs and the SZL read being continued.
#[derive(Debug, Default)]
pub(crate) struct S7State {
    /// Outstanding Jobs in full, when events are built.
    jobs: Pending<JobInfo>,
    /// Outstanding Jobs' classes, when PDUs are only counted. A sink's
    /// [`PduSink::wants_events`] does not change during a run, so a flow uses one of the
    /// two tables; were it to change, answers would go unmatched, as after a capture hole.
    classes: Pending<JobClass>,
    /// SZL id, index, sequence number and record length of the Read SZL answer whose
    /// further data units are being fetched. Kept over capture gaps (the ITI captures have
    /// holes between every PDU); a lost continuation is recovered from when the same SZL is
    /// answered again.
    szl_current: Option<(u16, u16, u8, u16)>,
    /// The data units of that response so far (at most [`MAX_SZL`] bytes; the capacity is
    /// kept for the next one).
    szl_buf: Vec<u8>,
}

/// Bound on a reassembled SZL response (an SZL holds at most a few KiB).
pub const MAX_SZL: usize = 16 * 1024;

/// Summarise and emit one S7comm PDU (`p` starts with 0x32).
pub(crate) fn pdu(
    p: &[u8],
    cotp_anomalies: Anomalies,
    dir: Direction,
    st: &mut S7State,
    sink: &mut dyn PduSink,
) {
    let events = sink.wants_events();
    let Some(h) = S7Header::new_checked(p) else {
        let s = Summary::malformed(
            "s7comm",
            dir == Direction::ToClient,
            p.len(),
            Anomaly::Truncated,
        );
        emit_to(sink, events, &s, |_| {});
        return;
    };
    let rosctr = h.rosctr();
    // The header's summary is made in each branch (inlined): counting a Job or Ack needs
    // only its anomalies and direction, not its status, length or error.
    let head = || header_summary(h, p.len(), cotp_anomalies, dir);
    match rosctr {
        Rosctr::JOB | Rosctr::ACK | Rosctr::ACK_DATA if events => {
            let (s, error) = head();
            job_event(h, s, error, dir, &mut st.jobs, sink);
        }
        Rosctr::JOB | Rosctr::ACK | Rosctr::ACK_DATA => {
            let (mut s, _) = head();
            let class = st.classes.matched(rosctr, h.param(), dir, h.pdu_ref());
            classify(&mut s, rosctr, class);
            // The name is for the event, which an operational request (a stop, a
            // download…) always has: looked up for it alone.
            if s.operational() {
                s.function_name = class.function.and_then(|fc| Function(fc).name());
            }
            finish(&mut s);
            emit_to(sink, false, &s, |_| {});
        }
        Rosctr::USERDATA => {
            let (s, _) = head();
            userdata_pdu(h, s, events, dir, st, sink);
        }
        _ => {
            let (mut s, _) = head();
            finish(&mut s);
            emit_to(sink, events, &s, |fields| {
                fields.push(("rosctr", u(rosctr.0)));
                fields.push(("pdu_ref", u(h.pdu_ref())));
            });
        }
    }
}

/// The summary of a PDU of `len` bytes with header `h` (`cotp_anomalies`: its DT TPDU's),
/// before its parameter is read, and its error class and code (Ack, Ack_Data).
#[inline(always)]
fn header_summary(
    h: S7Header<'_>,
    len: usize,
    cotp_anomalies: Anomalies,
    dir: Direction,
) -> (Summary, Option<(u8, u8)>) {
    let rosctr = h.rosctr();
    let mut s = Summary::new("s7comm", matches!(rosctr.0, 2 | 3), len);
    s.anomalies = cotp_anomalies;
    if rosctr.name().is_none() {
        s.anomalies.set(Anomaly::UnknownFunction);
        s.response = dir == Direction::ToClient;
    }
    let announced = h.announced_len();
    if announced > len {
        s.anomalies.set(Anomaly::Truncated);
    } else if announced < len {
        s.anomalies.set(Anomaly::TrailingBytes);
    }
    let error = h.error();
    if error.is_some_and(|(c, e)| c != 0 || e != 0) {
        s.status = PduStatus::Exception;
    }
    (s, error)
}

/// The last word on a PDU's status: any anomaly makes it malformed.
fn finish(s: &mut Summary) {
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
}

/// Function, operation class and anomalies of a Job, Ack or Ack_Data from its (matched)
/// class: all that counting needs, and the common part of its event, but for the
/// function's name (each caller sets it when it needs it).
#[inline(always)]
fn classify(s: &mut Summary, rosctr: Rosctr, class: JobClass) {
    if class.truncated {
        s.anomalies.set(Anomaly::Truncated);
    }
    if let Some(fc) = class.function {
        let f = Function(fc);
        s.function = Some(u32::from(fc));
        s.operation = class.operation;
        if f.name().is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
        }
    } else if rosctr != Rosctr::ACK {
        // A Job or Ack_Data without a parameter.
        s.anomalies.set(Anomaly::Truncated);
    }
}

/// Return code of a data item: 0xff is success.
pub const RC_SUCCESS: u8 = 0xff;

/// The first failing item return code of a Read/Write Var answer, else success; `None`
/// when the data holds no item.
fn answer_return_code(f: Function, data: &[u8], items: u8) -> Option<u8> {
    let mut first = None;
    if f == Function::WRITE_VAR {
        // One return code per item.
        for &rc in data.iter().take(items as usize) {
            first.get_or_insert(rc);
            if rc != RC_SUCCESS {
                return Some(rc);
            }
        }
        return first;
    }
    // Read Var: return code, transport size, length, value, fill byte between items.
    let mut at = 0;
    for i in 0..items {
        let (Some(&rc), Some(&ts), Some(len)) =
            (data.get(at), data.get(at + 1), be16(data, at + 2))
        else {
            break;
        };
        first.get_or_insert(rc);
        if rc != RC_SUCCESS {
            return Some(rc);
        }
        let n = wire::item_value_len(ts, len);
        at += 4 + n + usize::from(n % 2 == 1 && i + 1 < items);
    }
    first
}

/// The event of a Job, Ack or Ack_Data (counting takes the short way in [`pdu`]). Not
/// inlined, so that building events does not weigh on the counting path (registers, frame).
#[inline(never)]
fn job_event(
    h: S7Header<'_>,
    mut s: Summary,
    error: Option<(u8, u8)>,
    dir: Direction,
    jobs: &mut Pending<JobInfo>,
    sink: &mut dyn PduSink,
) {
    let rosctr = h.rosctr();
    let pdu_ref = h.pdu_ref();
    let param = h.param();
    let info = jobs.matched(rosctr, param, dir, pdu_ref);
    classify(&mut s, rosctr, info.class());
    s.function_name = info.function.and_then(|fc| Function(fc).name());
    // The items' return codes only set the status and a field of the event: counting
    // does not need them.
    let mut rc = None;
    if let Some(f) = info.function.map(Function)
        && rosctr == Rosctr::ACK_DATA
        && matches!(f, Function::READ_VAR | Function::WRITE_VAR)
    {
        let items = u8_at(param, 1).unwrap_or(0);
        rc = answer_return_code(f, h.data(), items);
        if rc.is_some_and(|c| c != RC_SUCCESS) {
            s.status = PduStatus::Exception;
        }
    }
    finish(&mut s);
    emit_to(sink, true, &s, |fields| {
        fields.push(("rosctr", u(rosctr.0)));
        fields.push(("pdu_ref", u(pdu_ref)));
        if let Some((c, e)) = error {
            fields.push(("error_class", u(c)));
            fields.push(("error_code", u(e)));
        }
        job_fields(&info, rc, fields);
    });
}

/// The fields of a Job's (or its answer's) details.
fn job_fields(info: &JobInfo, rc: Option<u8>, fields: &mut Fields) {
    if let Some([calling, called, pdu]) = info.setup {
        fields.push(("max_amq_calling", u(calling)));
        fields.push(("max_amq_called", u(called)));
        fields.push(("pdu_length", u(pdu)));
    }
    if let Some(n) = info.item_count {
        fields.push(("item_count", u(n)));
    }
    if let Some(it) = info.item {
        item_fields(&it, fields);
    }
    if let Some(c) = rc {
        fields.push(("return_code", u(c)));
    }
    if let Some(b) = info.block {
        block_fields(&b, fields);
    }
    if let Some(pi) = info.pi {
        fields.push((
            "pi_service",
            FieldValue::Str(String::from_utf8_lossy(pi.as_bytes()).into_owned()),
        ));
    }
    if let Some(m) = info.start_mode {
        let m = match m {
            StartMode::Hot => "hot",
            StartMode::Cold => "cold",
        };
        fields.push(("start_mode", FieldValue::Str(m.into())));
    }
}

/// `area`, `db_number`, `address` (byte offset, or number for counters/timers), `bit`.
fn item_fields(it: &Item, fields: &mut Fields) {
    if it.syntax != wire::SYNTAX_S7ANY {
        fields.push(("syntax_id", u(it.syntax)));
        return;
    }
    let area =
        wire::area_name(it.area).map_or_else(|| format!("0x{:02x}", it.area), str::to_string);
    fields.push(("area", FieldValue::Str(area)));
    if wire::area_has_db(it.area) {
        fields.push(("db_number", u(it.db)));
    }
    if wire::area_is_numbered(it.area) {
        fields.push(("address", u(it.address)));
    } else {
        fields.push(("address", u(it.address >> 3)));
        if it.transport_size == wire::TS_BIT {
            fields.push(("bit", u(it.address & 7)));
        }
    }
}

fn block_fields(b: &BlockId, fields: &mut Fields) {
    fields.push(("block_type", FieldValue::Str(b.type_name())));
    fields.push(("block_number", u(b.number)));
}

/// Userdata: the parameter names group and subfunction; the data carries the payload. Not
/// inlined into [`pdu`], whose Job/Ack path it would weigh on (registers, frame).
#[inline(never)]
fn userdata_pdu(
    h: S7Header<'_>,
    mut s: Summary,
    events: bool,
    dir: Direction,
    st: &mut S7State,
    sink: &mut dyn PduSink,
) {
    use wire::userdata as ud;
    let param = h.param();
    let data = h.data();
    let rosctr = h.rosctr();
    let pdu_ref = h.pdu_ref();
    if param.len() < 8 {
        s.anomalies.set(Anomaly::BadHeader);
        s.status = PduStatus::Malformed;
        emit_to(sink, events, &s, |fields| {
            fields.push(("rosctr", u(rosctr.0)));
            fields.push(("pdu_ref", u(pdu_ref)));
        });
        return;
    }
    let tg = param[ud::TYPE_GROUP];
    let (kind, g) = (tg >> 4, tg & 0x0f);
    let sub = param[ud::SUBFUNCTION];
    let seq = param[ud::SEQUENCE];
    let long = param[ud::LENGTH] >= 8 && param.len() >= 12;
    let last_unit = if long { param[ud::LAST_DATA_UNIT] } else { 0 };
    let perr = if long {
        be16(param, ud::ERROR_CODE)
    } else {
        None
    };
    s.response = match kind {
        0x8 | 0xb => true,
        0x4 | 0x7 => false,
        _ => dir == Direction::ToClient,
    };
    // Data: return code, transport size, length, payload.
    let rc = data.first().copied();
    let payload = {
        let n = be16(data, 2).unwrap_or(0) as usize;
        data.get(4..).map_or(&[][..], |p| &p[..n.min(p.len())])
    };
    let mut szl_id = None;
    let mut szl_index = None;
    let mut continuation = false;
    let mut op_szl = None;
    // A Read SZL answer larger than a PDU comes in data units: the first carries the SZL
    // header and says more follow; the requester asks for each next one with a follow-up
    // request (12-byte parameter, no data) echoing the sequence number, whose answer
    // continues the records under the same sequence number. Identity facts are decoded
    // from the whole.
    if (g, sub) == (4, 1) {
        if kind == 4 && !long {
            szl_id = be16(payload, 0);
            szl_index = be16(payload, 2);
        } else if kind == 8 {
            // The answering side keeps the sequence number over the data units; the
            // follow-up requests are not needed (after a capture hole the reassembly may
            // deliver them after the answer).
            // A repeat of the same first unit (the previous answer's continuation was not
            // seen) is not a continuation.
            let repeat = |id: u16, index: u16, len: u16| {
                be16(payload, 0) == Some(id)
                    && be16(payload, 2) == Some(index)
                    && be16(payload, 4) == Some(len)
            };
            match st.szl_current {
                Some((id, index, q, len)) if q == seq && !repeat(id, index, len) => {
                    continuation = true;
                    szl_id = Some(id);
                    szl_index = Some(index);
                }
                _ if rc == Some(RC_SUCCESS) => {
                    szl_id = be16(payload, 0);
                    szl_index = be16(payload, 2);
                    st.szl_current = None;
                    if last_unit != 0
                        && let (Some(id), Some(index), Some(len)) =
                            (szl_id, szl_index, be16(payload, 4))
                    {
                        st.szl_current = Some((id, index, seq, len));
                    }
                }
                _ => {}
            }
        }
        op_szl = szl_id;
    }
    let more = kind == 8 && last_unit != 0;
    if continuation && !more {
        st.szl_current = None;
    }
    s.function = Some(u32::from(g) << 8 | u32::from(sub));
    s.operation = userdata_operation(g, sub, op_szl);
    // The name is for the event, which an operational request always has.
    if events || s.operational() {
        s.function_name = wire::userdata_name(g, sub);
    }
    if perr.is_some_and(|e| e != 0) {
        s.status = PduStatus::Exception;
    }
    finish(&mut s);
    let response = kind == 8;
    // A Read SZL answer may identify the CPU: its identity facts are reported whether or
    // not events are wanted. Other PDUs only count.
    let identity = response && szl_id.is_some();
    let buf = &mut st.szl_buf;
    if identity && !events {
        // Counting: only the SZL's own fields are built, as the other fields of the event
        // name no identity attribute (a test compares the facts of both ways).
        emit_identity(sink, false, &s, |fields| {
            szl_fields(buf, payload, more, continuation, fields);
        });
        return;
    }
    if !events {
        // Only counted: return before the event's closure is put together.
        emit_to(sink, false, &s, |_| {});
        return;
    }
    let fill = |fields: &mut Fields| {
        fields.push(("rosctr", u(rosctr.0)));
        fields.push(("pdu_ref", u(pdu_ref)));
        fields.push(("userdata_type", u(kind)));
        fields.push(("function_group", u(g)));
        fields.push(("subfunction", u(sub)));
        fields.push(("sequence", u(seq)));
        if let Some(e) = perr {
            fields.push(("error_class", u(e >> 8)));
            fields.push(("error_code", u(e & 0xff)));
        }
        if let Some(c) = rc {
            fields.push(("return_code", u(c)));
        }
        if continuation {
            fields.push(("continuation", FieldValue::Bool(true)));
        }
        if more {
            fields.push(("more_data", FieldValue::Bool(true)));
        }
        if let Some(z) = szl_id {
            fields.push(("szl_id", u(z)));
        }
        if let Some(i) = szl_index {
            fields.push(("szl_index", u(i)));
        }
        if identity {
            szl_fields(buf, payload, more, continuation, fields);
        }
        userdata_details(g, sub, kind, payload, fields);
    };
    if identity {
        emit_identity(sink, events, &s, fill);
    } else {
        emit_to(sink, events, &s, fill);
    }
}

/// The fields of a Read SZL answer's records (data unit `payload`, which `more` units
/// follow, and which is a `continuation` of the previous one): a unit of a multi-unit
/// answer is kept in `buf` until the last, whose records are then decoded from the whole.
fn szl_fields(
    buf: &mut Vec<u8>,
    payload: &[u8],
    more: bool,
    continuation: bool,
    fields: &mut Fields,
) {
    if !continuation {
        buf.clear();
    }
    if more || continuation {
        if buf.len() + payload.len() <= MAX_SZL {
            buf.extend_from_slice(payload);
        }
        if !more {
            szl::fill(buf, fields);
            buf.clear();
        }
    } else {
        szl::fill(payload, fields);
    }
}

/// Block and clock details of userdata payloads.
fn userdata_details(g: u8, sub: u8, kind: u8, payload: &[u8], fields: &mut Fields) {
    match (g, sub, kind) {
        // List blocks of type: the type's two characters.
        (3, 2, 4) => {
            if let Some(t) = payload.get(..2) {
                let b = BlockId {
                    kind: [t[0], t[1]],
                    number: 0,
                };
                fields.push(("block_type", FieldValue::Str(b.type_name())));
            }
        }
        // Get block info: `TTNNNNNF`.
        (3, 3, 4) => {
            if let Some(b) = BlockId::parse(payload) {
                block_fields(&b, fields);
            }
        }
        // Read clock answer, set clock request: an S7 timestamp.
        (7, 1 | 3, 8) | (7, 2 | 4, 4) => {
            if let Some(t) = clock(payload) {
                fields.push(("clock", FieldValue::Str(t)));
            }
        }
        _ => {}
    }
}

/// An S7 BCD timestamp (reserved, year 1, year 2, month, day, hour, minute, second,
/// milliseconds and weekday) as `YYYY-MM-DDTHH:MM:SS.mmm`. The year is the two-digit
/// year 2 (90–99 → 19xx, else 20xx), as in DATE_AND_TIME; year 1 is not a reliable century
/// (snap7 sends 0x19 in 2016).
fn clock(p: &[u8]) -> Option<String> {
    let t = p.get(..10)?;
    let bcd = |b: u8| -> Option<u32> {
        let (hi, lo) = (b >> 4, b & 0x0f);
        (hi < 10 && lo < 10).then_some(u32::from(hi) * 10 + u32::from(lo))
    };
    bcd(t[1])?;
    let y = bcd(t[2])?;
    let year = if y >= 90 { 1900 + y } else { 2000 + y };
    let ms = bcd(t[8])? * 10 + u32::from(t[9] >> 4);
    Some(format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}",
        bcd(t[3])?,
        bcd(t[4])?,
        bcd(t[5])?,
        bcd(t[6])?,
        bcd(t[7])?
    ))
}
