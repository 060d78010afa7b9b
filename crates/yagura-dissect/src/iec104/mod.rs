//! IEC 60870-5-104 (TCP 2404): APCI framing (I, S and U formats) and the ASDU header of
//! I-format APDUs.

use yagura_core::{Direction, OperationClass, PduStatus};

use crate::bytes::le16;
use crate::emit::{Summary, emit_to, u};
use crate::stream::{Framing, Step, Stream};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};

/// APCI / ASDU field offsets within an APDU.
mod field {
    pub const START: usize = 0;
    /// Length of the APDU after this byte: 4 control octets + ASDU.
    pub const LENGTH: usize = 1;
    pub const CONTROL: usize = 2;
    pub const TX_SEQ: usize = 2;
    pub const RX_SEQ: usize = 4;
    pub const TYPE_ID: usize = 6;
    pub const VSQ: usize = 7;
    /// Cause of transmission: T (0x80), P/N (0x40), cause (0x3f); then the originator address.
    pub const COT: usize = 8;
    pub const ORIGINATOR: usize = 9;
    pub const COMMON_ADDRESS: usize = 10;
    /// First information object address (3 octets).
    pub const IOA: usize = 12;
}

/// APCI start byte.
pub const START: u8 = 0x68;
/// The APCI length field counts the four control octets at least…
pub const MIN_LENGTH: u8 = 4;
/// …and at most 253 octets (APDU ≤ 255).
pub const MAX_LENGTH: u8 = 253;
/// ASDU header length in IEC 104 (type, VSQ, 2-octet COT, 2-octet common address).
pub const ASDU_HEADER_LEN: usize = 6;

/// VSQ: SQ bit (a sequence of elements after one address) and the number of objects.
const VSQ_SQ: u8 = 0x80;
const VSQ_NUM: u8 = 0x7f;
/// Information object address length in IEC 104.
const IOA_LEN: usize = 3;
const COT_NEGATIVE: u8 = 0x40;
const COT_TEST: u8 = 0x80;
const COT_CAUSE: u8 = 0x3f;

/// The three APCI formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApciFormat {
    /// Numbered information transfer (carries an ASDU).
    I,
    /// Numbered supervisory (acknowledgement).
    S,
    /// Unnumbered control (STARTDT, STOPDT, TESTFR).
    U,
}

impl ApciFormat {
    /// The format of a first control octet.
    pub fn of(control: u8) -> ApciFormat {
        if control & 0x01 == 0 {
            ApciFormat::I
        } else if control & 0x03 == 0x01 {
            ApciFormat::S
        } else {
            ApciFormat::U
        }
    }
    /// Lowercase letter used in events.
    pub fn name(self) -> &'static str {
        match self {
            ApciFormat::I => "i",
            ApciFormat::S => "s",
            ApciFormat::U => "u",
        }
    }
}

open_enum! {
    /// U-format functions (the first control octet, one function bit set).
    pub struct UFunction(u8) {
        STARTDT_ACT = 0x07 => "startdt_act",
        STARTDT_CON = 0x0b => "startdt_con",
        STOPDT_ACT = 0x13 => "stopdt_act",
        STOPDT_CON = 0x23 => "stopdt_con",
        TESTFR_ACT = 0x43 => "testfr_act",
        TESTFR_CON = 0x83 => "testfr_con",
    }
}

open_enum! {
    /// ASDU type identifications (IEC 60870-5-101/104, 7.2.1), named by their mnemonics.
    pub struct TypeId(u8) {
        M_SP_NA_1 = 1 => "m_sp_na_1",
        M_SP_TA_1 = 2 => "m_sp_ta_1",
        M_DP_NA_1 = 3 => "m_dp_na_1",
        M_DP_TA_1 = 4 => "m_dp_ta_1",
        M_ST_NA_1 = 5 => "m_st_na_1",
        M_ST_TA_1 = 6 => "m_st_ta_1",
        M_BO_NA_1 = 7 => "m_bo_na_1",
        M_BO_TA_1 = 8 => "m_bo_ta_1",
        M_ME_NA_1 = 9 => "m_me_na_1",
        M_ME_TA_1 = 10 => "m_me_ta_1",
        M_ME_NB_1 = 11 => "m_me_nb_1",
        M_ME_TB_1 = 12 => "m_me_tb_1",
        M_ME_NC_1 = 13 => "m_me_nc_1",
        M_ME_TC_1 = 14 => "m_me_tc_1",
        M_IT_NA_1 = 15 => "m_it_na_1",
        M_IT_TA_1 = 16 => "m_it_ta_1",
        M_EP_TA_1 = 17 => "m_ep_ta_1",
        M_EP_TB_1 = 18 => "m_ep_tb_1",
        M_EP_TC_1 = 19 => "m_ep_tc_1",
        M_PS_NA_1 = 20 => "m_ps_na_1",
        M_ME_ND_1 = 21 => "m_me_nd_1",
        M_SP_TB_1 = 30 => "m_sp_tb_1",
        M_DP_TB_1 = 31 => "m_dp_tb_1",
        M_ST_TB_1 = 32 => "m_st_tb_1",
        M_BO_TB_1 = 33 => "m_bo_tb_1",
        M_ME_TD_1 = 34 => "m_me_td_1",
        M_ME_TE_1 = 35 => "m_me_te_1",
        M_ME_TF_1 = 36 => "m_me_tf_1",
        M_IT_TB_1 = 37 => "m_it_tb_1",
        M_EP_TD_1 = 38 => "m_ep_td_1",
        M_EP_TE_1 = 39 => "m_ep_te_1",
        M_EP_TF_1 = 40 => "m_ep_tf_1",
        C_SC_NA_1 = 45 => "c_sc_na_1",
        C_DC_NA_1 = 46 => "c_dc_na_1",
        C_RC_NA_1 = 47 => "c_rc_na_1",
        C_SE_NA_1 = 48 => "c_se_na_1",
        C_SE_NB_1 = 49 => "c_se_nb_1",
        C_SE_NC_1 = 50 => "c_se_nc_1",
        C_BO_NA_1 = 51 => "c_bo_na_1",
        C_SC_TA_1 = 58 => "c_sc_ta_1",
        C_DC_TA_1 = 59 => "c_dc_ta_1",
        C_RC_TA_1 = 60 => "c_rc_ta_1",
        C_SE_TA_1 = 61 => "c_se_ta_1",
        C_SE_TB_1 = 62 => "c_se_tb_1",
        C_SE_TC_1 = 63 => "c_se_tc_1",
        C_BO_TA_1 = 64 => "c_bo_ta_1",
        M_EI_NA_1 = 70 => "m_ei_na_1",
        C_IC_NA_1 = 100 => "c_ic_na_1",
        C_CI_NA_1 = 101 => "c_ci_na_1",
        C_RD_NA_1 = 102 => "c_rd_na_1",
        C_CS_NA_1 = 103 => "c_cs_na_1",
        C_TS_NA_1 = 104 => "c_ts_na_1",
        C_RP_NA_1 = 105 => "c_rp_na_1",
        C_CD_NA_1 = 106 => "c_cd_na_1",
        C_TS_TA_1 = 107 => "c_ts_ta_1",
        P_ME_NA_1 = 110 => "p_me_na_1",
        P_ME_NB_1 = 111 => "p_me_nb_1",
        P_ME_NC_1 = 112 => "p_me_nc_1",
        P_AC_NA_1 = 113 => "p_ac_na_1",
        F_FR_NA_1 = 120 => "f_fr_na_1",
        F_SR_NA_1 = 121 => "f_sr_na_1",
        F_SC_NA_1 = 122 => "f_sc_na_1",
        F_LS_NA_1 = 123 => "f_ls_na_1",
        F_AF_NA_1 = 124 => "f_af_na_1",
        F_SG_NA_1 = 125 => "f_sg_na_1",
        F_DR_TA_1 = 126 => "f_dr_ta_1",
        F_SC_NB_1 = 127 => "f_sc_nb_1",
    }
}

/// Does [`TypeId::name`] know the type? (Computed from it at compile time: a load instead of
/// a call per ASDU.)
const KNOWN_TYPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = TypeId(i as u8).name().is_some();
        i += 1;
    }
    t
};

/// Operation class of an ASDU type.
pub fn operation(t: TypeId) -> OperationClass {
    use OperationClass as O;
    match t.0 {
        // Process information in monitor direction reports data.
        1..=44 => O::Read,
        // Single/double/regulating step commands, set points, bitstrings (with and
        // without time tag).
        45..=51 | 58..=64 => O::ControlCommand,
        // (General and counter) interrogation and read command.
        100..=102 => O::Read,
        // Clock synchronisation sets the station's time.
        103 => O::ClockSync,
        104 | 106 | 107 => O::Diagnostic,
        105 => O::Restart,
        110..=113 => O::ConfigChange,
        120..=127 => O::FileTransfer,
        _ => O::Other,
    }
}

/// Octets of one information element (without its address) of a type, where fixed.
pub fn element_size(t: TypeId) -> Option<usize> {
    Some(match t.0 {
        1 | 3 => 1,
        2 | 4 => 4,
        5 | 21 => 2,
        6 | 7 | 13 | 15 | 20 => 5,
        8 | 14 | 16 => 8,
        9 | 11 => 3,
        10 | 12 | 17 => 6,
        18 | 19 => 7,
        30 | 31 => 8,
        32 => 9,
        33 | 36 | 37 => 12,
        34 | 35 | 38 => 10,
        39 | 40 => 11,
        45..=47 => 1,
        48 | 49 => 3,
        50 => 5,
        51 => 4,
        58..=60 => 8,
        61 | 62 => 10,
        63 => 12,
        64 => 11,
        70 | 100 | 101 | 105 | 113 => 1,
        102 => 0,
        103 => 7,
        104 | 106 => 2,
        107 => 9,
        110 | 111 => 3,
        112 => 5,
        120 => 6,
        121 => 7,
        122 | 124 => 4,
        123 => 5,
        126 => 13,
        _ => return None,
    })
}

/// The name of a cause of transmission (IEC 60870-5-101, 7.2.3).
pub fn cot_name(cot: u8) -> Option<String> {
    let s = match cot {
        1 => "periodic",
        2 => "background",
        3 => "spontaneous",
        4 => "initialized",
        5 => "request",
        6 => "activation",
        7 => "activation_con",
        8 => "deactivation",
        9 => "deactivation_con",
        10 => "activation_term",
        11 => "return_remote",
        12 => "return_local",
        13 => "file_transfer",
        20 => "interrogated_general",
        21..=36 => return Some(format!("interrogated_group_{}", cot - 20)),
        37 => "counter_request_general",
        38..=41 => return Some(format!("counter_request_group_{}", cot - 37)),
        44 => "unknown_type",
        45 => "unknown_cause",
        46 => "unknown_common_address",
        47 => "unknown_ioa",
        _ => return None,
    };
    Some(s.to_owned())
}

/// Does `data` start with an APCI (0x68, a length 4..253, and a length consistent with the
/// format: S and U frames are exactly 4)?
pub fn probe(data: &[u8]) -> Probe {
    match data {
        [] => Probe::NeedMore,
        [b, ..] if *b != START => Probe::NoMatch,
        [_] => Probe::NeedMore,
        [_, len, rest @ ..] => {
            if !(MIN_LENGTH..=MAX_LENGTH).contains(len) {
                return Probe::NoMatch;
            }
            let Some(&c) = rest.first() else {
                return Probe::NeedMore;
            };
            let ok = match ApciFormat::of(c) {
                ApciFormat::I => *len as usize >= 4 + ASDU_HEADER_LEN,
                ApciFormat::S => *len == 4,
                ApciFormat::U => *len == 4 && UFunction(c).name().is_some(),
            };
            if ok { Probe::Match } else { Probe::NoMatch }
        }
    }
}

/// Per-flow IEC 104 state.
#[derive(Debug, Clone)]
pub struct Iec104Dissector {
    stream: Stream,
    framing: Iec104Framing,
}

#[derive(Debug, Clone, Copy)]
struct Iec104Framing;

impl Iec104Dissector {
    /// A dissector for one flow; `udp` when each call is a whole datagram (IEC 104 is
    /// TCP-only; UDP is accepted so that a mislabelled flow still consumes its datagrams).
    pub fn new(udp: bool) -> Iec104Dissector {
        Iec104Dissector {
            stream: Stream::new(udp),
            framing: Iec104Framing,
        }
    }
}

impl Default for Iec104Dissector {
    fn default() -> Self {
        Iec104Dissector::new(false)
    }
}

impl Dissector for Iec104Dissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::IEC104
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        self.stream.run(&mut self.framing, data, dir, sink)
    }
    fn on_gap(&mut self, dir: Direction, _len: u32) {
        self.stream.gap(dir);
    }
}

impl Framing for Iec104Framing {
    const PROTOCOL: &'static str = "iec104";

    fn probe(data: &[u8]) -> Probe {
        probe(data)
    }

    /// Inlined into [`Stream::run`]'s loop (one call per PDU less).
    #[inline(always)]
    fn step(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Step {
        if data[field::START] != START {
            return Step::Bad(Anomaly::BadHeader);
        }
        let Some(&len) = data.get(field::LENGTH) else {
            return Step::Need(1);
        };
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&len) {
            return Step::Bad(Anomaly::BadLength);
        }
        let n = 2 + len as usize;
        if data.len() < n {
            return Step::Need(n - data.len());
        }
        apdu(&data[..n], dir, sink);
        Step::Used(n)
    }
}

/// Summarise and emit one APDU. Inlined into the framing step, its only caller (in
/// [`Stream::run`]'s loop: no call per APDU).
#[inline(always)]
fn apdu(a: &[u8], dir: Direction, sink: &mut dyn PduSink) {
    let c = a[field::CONTROL];
    let fmt = ApciFormat::of(c);
    let mut s = Summary::new("iec104", dir == Direction::ToClient, a.len());
    let mut asdu = None;
    match fmt {
        ApciFormat::I => {
            if a.len() < field::TYPE_ID + ASDU_HEADER_LEN {
                s.anomalies.set(Anomaly::BadApci);
            } else {
                let t = TypeId(a[field::TYPE_ID]);
                let cot = a[field::COT];
                s.function = Some(u32::from(t.0));
                s.operation = operation(t);
                // The name itself only serves the event (set below); a table answers
                // whether there is one.
                if !KNOWN_TYPE[usize::from(t.0)] {
                    s.anomalies.set(Anomaly::UnknownFunction);
                }
                // Negative confirmation, or unknown type/cause/common address/IOA (44..47).
                if cot & COT_NEGATIVE != 0 || (44..=47).contains(&(cot & COT_CAUSE)) {
                    s.status = PduStatus::Exception;
                }
                // The objects must fill the ASDU exactly: with SQ one address and n
                // elements, without it n (address, element) pairs.
                let vsq = a[field::VSQ];
                let n = usize::from(vsq & VSQ_NUM);
                if let Some(sz) = element_size(t) {
                    let want = if vsq & VSQ_SQ != 0 {
                        IOA_LEN + n * sz
                    } else {
                        n * (IOA_LEN + sz)
                    };
                    if a.len() - field::IOA != want {
                        s.anomalies.set(Anomaly::BadLength);
                    }
                }
                asdu = Some((t, cot, le16(a, field::COMMON_ADDRESS).unwrap_or(0)));
            }
        }
        ApciFormat::S => {
            s.function_name = Some("s_ack");
            if a.len() != 6 {
                s.anomalies.set(Anomaly::BadApci);
            }
        }
        ApciFormat::U => {
            let f = UFunction(c);
            s.function = Some(u32::from(c));
            s.function_name = f.name();
            s.response = matches!(
                f,
                UFunction::STARTDT_CON | UFunction::STOPDT_CON | UFunction::TESTFR_CON
            );
            if matches!(f, UFunction::TESTFR_ACT | UFunction::TESTFR_CON) {
                s.operation = OperationClass::Diagnostic;
            }
            if f.name().is_none() {
                s.anomalies.set(Anomaly::UnknownFunction);
            }
            if a.len() != 6 {
                s.anomalies.set(Anomaly::BadApci);
            }
        }
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    let events = sink.wants_events();
    // The name is for the event, which an operational request always has.
    if (events || s.operational())
        && let Some((t, _, _)) = asdu
    {
        s.function_name = t.name();
    }
    emit_to(sink, events, &s, |fields| {
        fields.push((
            "apci_type",
            yagura_core::FieldValue::Str(fmt.name().to_owned()),
        ));
        match fmt {
            ApciFormat::I => {
                fields.push(("tx_seq", u(le16(a, field::TX_SEQ).unwrap_or(0) >> 1)));
                fields.push(("rx_seq", u(le16(a, field::RX_SEQ).unwrap_or(0) >> 1)));
            }
            ApciFormat::S => fields.push(("rx_seq", u(le16(a, field::RX_SEQ).unwrap_or(0) >> 1))),
            ApciFormat::U => {}
        }
        if let Some((t, cot, ca)) = asdu {
            fields.push(("type_id", u(t.0)));
            fields.push(("cot", u(cot & COT_CAUSE)));
            if let Some(n) = cot_name(cot & COT_CAUSE) {
                fields.push(("cot_name", yagura_core::FieldValue::Str(n)));
            }
            fields.push((
                "negative",
                yagura_core::FieldValue::Bool(cot & COT_NEGATIVE != 0),
            ));
            fields.push(("test", yagura_core::FieldValue::Bool(cot & COT_TEST != 0)));
            fields.push(("originator", u(a[field::ORIGINATOR])));
            fields.push(("common_address", u(ca)));
            fields.push(("num_objects", u(a[field::VSQ] & VSQ_NUM)));
            fields.push((
                "sq",
                yagura_core::FieldValue::Bool(a[field::VSQ] & VSQ_SQ != 0),
            ));
            if let Some(b) = a.get(field::IOA..field::IOA + IOA_LEN) {
                let ioa = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
                fields.push(("ioa", u(ioa)));
            }
        }
    });
}

#[cfg(test)]
mod tests;
