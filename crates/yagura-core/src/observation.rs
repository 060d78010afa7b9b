use serde::{Serialize, Serializer};

/// What an operation does, whatever the protocol: the one vocabulary detection rules and the
/// inventory use, so a new protocol is covered by mapping its functions to these classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationClass {
    Read,
    Write,
    ProgramDownload,
    ProgramUpload,
    Stop,
    Start,
    Restart,
    FirmwareUpdate,
    ConfigChange,
    ControlCommand,
    Identify,
    Diagnostic,
    FileTransfer,
    Auth,
    Other,
}

/// The outcome a PDU reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PduStatus {
    /// A request, or a response that reports success.
    Ok,
    /// A response reporting an error or exception.
    Exception,
    /// The PDU violates its protocol (see `anomalies`).
    Malformed,
}

/// A protocol-specific field value of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(String),
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::U64(v) => s.serialize_u64(*v),
            FieldValue::I64(v) => s.serialize_i64(*v),
            FieldValue::Bool(v) => s.serialize_bool(*v),
            FieldValue::Str(v) => s.serialize_str(v),
        }
    }
}

/// One application PDU seen by a dissector: the protocol-neutral part of an `--events` line.
/// The engine adds the time and the flow's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PduEvent {
    /// Protocol id, snake_case (`modbus`, `s7comm`, `dnp3`, …).
    pub protocol: &'static str,
    /// The protocol's own function/service code, where it has one.
    pub function: Option<u32>,
    /// Its name in the protocol's terms (`read_holding_registers`).
    pub function_name: Option<&'static str>,
    /// Its operation class.
    pub operation: OperationClass,
    /// Is this a response (or a confirmation, acknowledgement) rather than a request?
    pub response: bool,
    pub status: PduStatus,
    /// PDU length in bytes as framed on the wire.
    pub length: u32,
    /// Protocol violations found while parsing it (stable snake_case reasons).
    pub anomalies: Vec<&'static str>,
    /// Protocol-specific fields (`transaction_id`, `unit_id`, …), in a stable order.
    pub fields: Vec<(&'static str, FieldValue)>,
}

impl PduEvent {
    /// A PDU with no function code, status `ok`, no anomalies and no extra fields.
    pub fn new(
        protocol: &'static str,
        operation: OperationClass,
        response: bool,
        length: u32,
    ) -> Self {
        PduEvent {
            protocol,
            function: None,
            function_name: None,
            operation,
            response,
            status: PduStatus::Ok,
            length,
            anomalies: Vec::new(),
            fields: Vec::new(),
        }
    }
}
