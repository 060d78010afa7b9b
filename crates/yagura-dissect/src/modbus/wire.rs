//! Modbus/TCP wire format: the 7-byte MBAP header and the function code.

use crate::bytes::{be16, u8_at};

/// Byte offsets of the MBAP header fields (Modbus Messaging on TCP/IP v1.0b, 3.1.3).
mod field {
    pub const TRANSACTION_ID: usize = 0;
    pub const PROTOCOL_ID: usize = 2;
    /// Counts the unit id and the PDU: the bytes after itself.
    pub const LENGTH: usize = 4;
    pub const UNIT_ID: usize = 6;
    pub const FUNCTION: usize = 7;
}

/// MBAP header length.
pub const MBAP_LEN: usize = 7;
/// Smallest legal MBAP length field: unit id + function code.
pub const MIN_LENGTH: u16 = 2;
/// Largest MBAP length field we frame: unit id + the 253-byte PDU limit, with slack for the
/// few devices that overrun it by a couple of bytes (they are flagged, not dropped).
pub const MAX_LENGTH: u16 = 260;
/// The length the spec allows (1 + 253).
pub const SPEC_MAX_LENGTH: u16 = 254;

/// A checked view of one MBAP-framed PDU: `new_checked` guarantees that the header and the
/// function code are present and the slice is exactly one frame long.
#[derive(Debug, Clone, Copy)]
pub struct MbapFrame<'a>(&'a [u8]);

impl<'a> MbapFrame<'a> {
    /// Read the frame length from a header prefix (`None` until 6 bytes are there).
    #[inline]
    pub fn frame_len(b: &[u8]) -> Option<usize> {
        be16(b, field::LENGTH).map(|l| 6 + l as usize)
    }

    /// A view over exactly one frame, if `b` holds the header, the function code and the
    /// length the header announces.
    #[inline]
    pub fn new_checked(b: &'a [u8]) -> Option<MbapFrame<'a>> {
        let n = Self::frame_len(b)?;
        (n > MBAP_LEN && b.len() >= n).then(|| MbapFrame(&b[..n]))
    }

    /// The whole frame.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// Transaction identifier, echoed by the server.
    #[inline]
    pub fn transaction_id(&self) -> u16 {
        be16(self.0, field::TRANSACTION_ID).unwrap_or(0)
    }
    /// Protocol identifier: 0 for Modbus.
    #[inline]
    pub fn protocol_id(&self) -> u16 {
        be16(self.0, field::PROTOCOL_ID).unwrap_or(0)
    }
    /// MBAP length field.
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.0, field::LENGTH).unwrap_or(0)
    }
    /// Unit identifier (slave address behind a gateway).
    #[inline]
    pub fn unit_id(&self) -> u8 {
        u8_at(self.0, field::UNIT_ID).unwrap_or(0)
    }
    /// Raw function code, exception bit included.
    #[inline]
    pub fn raw_function(&self) -> u8 {
        u8_at(self.0, field::FUNCTION).unwrap_or(0)
    }
    /// PDU data after the function code.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.0[field::FUNCTION + 1..]
    }
}

open_enum! {
    /// Modbus public function codes (Modbus Application Protocol v1.1b3, 6), plus Schneider's
    /// UMAS carrier 90.
    pub struct FunctionCode(u8) {
        READ_COILS = 1 => "read_coils",
        READ_DISCRETE_INPUTS = 2 => "read_discrete_inputs",
        READ_HOLDING_REGISTERS = 3 => "read_holding_registers",
        READ_INPUT_REGISTERS = 4 => "read_input_registers",
        WRITE_SINGLE_COIL = 5 => "write_single_coil",
        WRITE_SINGLE_REGISTER = 6 => "write_single_register",
        READ_EXCEPTION_STATUS = 7 => "read_exception_status",
        DIAGNOSTICS = 8 => "diagnostics",
        GET_COMM_EVENT_COUNTER = 11 => "get_comm_event_counter",
        GET_COMM_EVENT_LOG = 12 => "get_comm_event_log",
        WRITE_MULTIPLE_COILS = 15 => "write_multiple_coils",
        WRITE_MULTIPLE_REGISTERS = 16 => "write_multiple_registers",
        REPORT_SERVER_ID = 17 => "report_server_id",
        READ_FILE_RECORD = 20 => "read_file_record",
        WRITE_FILE_RECORD = 21 => "write_file_record",
        MASK_WRITE_REGISTER = 22 => "mask_write_register",
        READ_WRITE_MULTIPLE_REGISTERS = 23 => "read_write_multiple_registers",
        READ_FIFO_QUEUE = 24 => "read_fifo_queue",
        ENCAPSULATED_INTERFACE_TRANSPORT = 43 => "encapsulated_interface_transport",
        UMAS = 90 => "umas",
    }
}

open_enum! {
    /// Modbus exception codes (7).
    pub struct ExceptionCode(u8) {
        ILLEGAL_FUNCTION = 1 => "illegal_function",
        ILLEGAL_DATA_ADDRESS = 2 => "illegal_data_address",
        ILLEGAL_DATA_VALUE = 3 => "illegal_data_value",
        SERVER_DEVICE_FAILURE = 4 => "server_device_failure",
        ACKNOWLEDGE = 5 => "acknowledge",
        SERVER_DEVICE_BUSY = 6 => "server_device_busy",
        MEMORY_PARITY_ERROR = 8 => "memory_parity_error",
        GATEWAY_PATH_UNAVAILABLE = 10 => "gateway_path_unavailable",
        GATEWAY_TARGET_FAILED = 11 => "gateway_target_failed_to_respond",
    }
}

/// MEI type of function 43 that reads the device identification objects.
pub const MEI_READ_DEVICE_ID: u8 = 14;
/// MEI type of function 43 that carries CANopen general references.
pub const MEI_CANOPEN: u8 = 13;

/// Quantity limits of the public functions (Modbus Application Protocol v1.1b3, 6.1–6.17).
pub mod limit {
    /// FC 1, 2: coils / discrete inputs per read.
    pub const READ_BITS: u16 = 2000;
    /// FC 3, 4 and the read part of FC 23: registers per read.
    pub const READ_REGISTERS: u16 = 125;
    /// FC 15: coils per write.
    pub const WRITE_BITS: u16 = 1968;
    /// FC 16: registers per write.
    pub const WRITE_REGISTERS: u16 = 123;
    /// FC 23: registers in the write part.
    pub const READ_WRITE_REGISTERS: u16 = 121;
    /// FC 24: registers in a FIFO queue.
    pub const FIFO: u16 = 31;
}

/// FC 5 values: the only two a coil write may carry.
pub const COIL_ON: u16 = 0xff00;
/// FC 5 value switching a coil off.
pub const COIL_OFF: u16 = 0x0000;
/// FC 20/21 reference type of a file record group.
pub const FILE_REFERENCE_TYPE: u8 = 6;

/// Is `fc` a function the Modbus specification assigns (public codes), a user-defined one
/// (65–72, 100–110), or Schneider's UMAS carrier (90)? Anything else is reserved or
/// unassigned and flagged `unknown_function`.
pub fn is_assigned(fc: u8) -> bool {
    ASSIGNED[usize::from(fc)]
}

/// [`is_assigned`] for every code, tabulated at compile time (asked for every PDU).
const ASSIGNED: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let fc = i as u8;
        t[i] = FunctionCode(fc).name().is_some() || matches!(fc, 65..=72 | 100..=110);
        i += 1;
    }
    t
};

open_enum! {
    /// FC 8 Diagnostics sub-function codes (6.8.1).
    pub struct DiagnosticCode(u16) {
        RETURN_QUERY_DATA = 0 => "return_query_data",
        RESTART_COMMUNICATIONS = 1 => "restart_communications_option",
        RETURN_DIAGNOSTIC_REGISTER = 2 => "return_diagnostic_register",
        CHANGE_ASCII_DELIMITER = 3 => "change_ascii_input_delimiter",
        FORCE_LISTEN_ONLY = 4 => "force_listen_only_mode",
        CLEAR_COUNTERS = 10 => "clear_counters_and_diagnostic_register",
        BUS_MESSAGE_COUNT = 11 => "return_bus_message_count",
        BUS_COMM_ERROR_COUNT = 12 => "return_bus_communication_error_count",
        BUS_EXCEPTION_COUNT = 13 => "return_bus_exception_error_count",
        SERVER_MESSAGE_COUNT = 14 => "return_server_message_count",
        SERVER_NO_RESPONSE_COUNT = 15 => "return_server_no_response_count",
        SERVER_NAK_COUNT = 16 => "return_server_nak_count",
        SERVER_BUSY_COUNT = 17 => "return_server_busy_count",
        BUS_OVERRUN_COUNT = 18 => "return_bus_character_overrun_count",
        CLEAR_OVERRUN = 20 => "clear_overrun_counter_and_flag",
    }
}

/// FC 43/14 object ids (6.21) and the event field each one fills. Objects 0x07–0x7f are
/// reserved, 0x80–0xff vendor-private: they are listed in `object_ids` only.
pub fn device_id_field(object_id: u8) -> Option<&'static str> {
    Some(match object_id {
        0 => "vendor",
        1 => "product_code",
        2 => "firmware_version",
        3 => "vendor_url",
        4 => "product_name",
        5 => "model_name",
        6 => "application_name",
        _ => return None,
    })
}
