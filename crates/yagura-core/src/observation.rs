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
    /// Changing a controller's operating mode without stopping or starting its logic: a
    /// test or communication mode (Modbus "force listen only", BACnet
    /// DeviceCommunicationControl, PCCC test modes). A change to a mode in which the logic
    /// no longer runs (program, stop) is a `Stop`, one to run a `Start`.
    ModeChange,
    /// Setting a device's clock (time synchronisation): routine on most plants, so kept
    /// apart from configuration changes.
    ClockSync,
    ControlCommand,
    Identify,
    Diagnostic,
    FileTransfer,
    Auth,
    Other,
}

impl OperationClass {
    /// Every class, in declaration order (bit `i` of an [`OperationSet`] is `ALL[i]`).
    pub const ALL: [OperationClass; 17] = [
        OperationClass::Read,
        OperationClass::Write,
        OperationClass::ProgramDownload,
        OperationClass::ProgramUpload,
        OperationClass::Stop,
        OperationClass::Start,
        OperationClass::Restart,
        OperationClass::FirmwareUpdate,
        OperationClass::ConfigChange,
        OperationClass::ModeChange,
        OperationClass::ClockSync,
        OperationClass::ControlCommand,
        OperationClass::Identify,
        OperationClass::Diagnostic,
        OperationClass::FileTransfer,
        OperationClass::Auth,
        OperationClass::Other,
    ];

    /// Does this class change what a controller does, or take its logic away (stop, start,
    /// restart, program download or upload, firmware update, configuration or mode
    /// change)? Such a request raises an operational alert, so dissectors always report it
    /// as a full event (with its function), never only as a count.
    pub const fn is_operational(self) -> bool {
        matches!(
            self,
            OperationClass::Stop
                | OperationClass::Start
                | OperationClass::Restart
                | OperationClass::ProgramDownload
                | OperationClass::ProgramUpload
                | OperationClass::FirmwareUpdate
                | OperationClass::ConfigChange
                | OperationClass::ModeChange
        )
    }

    /// The snake_case name used in events and reports.
    pub const fn name(self) -> &'static str {
        match self {
            OperationClass::Read => "read",
            OperationClass::Write => "write",
            OperationClass::ProgramDownload => "program_download",
            OperationClass::ProgramUpload => "program_upload",
            OperationClass::Stop => "stop",
            OperationClass::Start => "start",
            OperationClass::Restart => "restart",
            OperationClass::FirmwareUpdate => "firmware_update",
            OperationClass::ConfigChange => "config_change",
            OperationClass::ModeChange => "mode_change",
            OperationClass::ClockSync => "clock_sync",
            OperationClass::ControlCommand => "control_command",
            OperationClass::Identify => "identify",
            OperationClass::Diagnostic => "diagnostic",
            OperationClass::FileTransfer => "file_transfer",
            OperationClass::Auth => "auth",
            OperationClass::Other => "other",
        }
    }
}

/// A set of operation classes (a bit per class), e.g. the classes a connection's requests
/// had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OperationSet(u32);

// Every class has its bit.
const _: () = assert!(OperationClass::ALL.len() <= u32::BITS as usize);

impl OperationSet {
    #[inline]
    pub fn insert(&mut self, op: OperationClass) {
        self.0 |= 1 << op as u32;
    }

    #[inline]
    pub fn union(self, other: OperationSet) -> OperationSet {
        OperationSet(self.0 | other.0)
    }

    #[inline]
    pub fn contains(self, op: OperationClass) -> bool {
        self.0 & (1 << op as u32) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = OperationClass> {
        OperationClass::ALL
            .into_iter()
            .filter(move |op| self.contains(*op))
    }
}

impl Serialize for OperationSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(OperationClass::name))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_bit_in_declaration_order() {
        let mut all = OperationSet::default();
        for (i, op) in OperationClass::ALL.into_iter().enumerate() {
            assert_eq!(op as usize, i, "{}", op.name());
            let mut one = OperationSet::default();
            one.insert(op);
            assert_eq!(one.iter().collect::<Vec<_>>(), [op]);
            assert!(!all.contains(op));
            all.insert(op);
        }
        assert!(all.iter().eq(OperationClass::ALL));
        let names: std::collections::BTreeSet<&str> =
            OperationClass::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), OperationClass::ALL.len());
    }
}
