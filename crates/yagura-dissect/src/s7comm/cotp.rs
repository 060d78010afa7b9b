//! ISO-on-TCP framing: TPKT (RFC 1006) and the COTP TPDU header (ISO 8073 / X.224).

use crate::bytes::be16;
use crate::{Anomalies, Anomaly, Probe};

/// TPKT header fields.
mod field {
    pub const VERSION: usize = 0;
    pub const RESERVED: usize = 1;
    /// Length of the whole TPKT, header included.
    pub const LENGTH: usize = 2;
    /// COTP length indicator: header length excluding itself.
    pub const LI: usize = 4;
    pub const CODE: usize = 5;
    /// DT TPDU (class 0): EOT bit and TPDU number.
    pub const DT_NR: usize = 6;
    /// CR, CC, DR: after code, destination and source references, and class (or reason).
    pub const VARIABLE: usize = 11;
}

/// TPKT header length.
pub const TPKT_LEN: usize = 4;
/// The smallest TPKT we frame: header, LI, code, DT's EOT/number byte.
pub const MIN_TPKT: u16 = 7;

open_enum! {
    /// COTP TPDU codes (high nibble of the code byte; the low nibble carries credit or flags).
    pub struct TpduCode(u8) {
        CR = 0xe0 => "connection_request",
        CC = 0xd0 => "connection_confirm",
        DR = 0x80 => "disconnect_request",
        DC = 0xc0 => "disconnect_confirm",
        DT = 0xf0 => "data",
        ED = 0x10 => "expedited_data",
        AK = 0x60 => "data_ack",
        EA = 0x20 => "expedited_ack",
        RJ = 0x50 => "reject",
        ER = 0x70 => "tpdu_error",
    }
}

/// One TPKT-framed COTP TPDU.
#[derive(Debug, Clone, Copy)]
pub struct Tpdu<'a> {
    /// Bytes of the whole TPKT.
    pub len: usize,
    /// TPDU code.
    pub code: TpduCode,
    /// DT: last segment of a TSDU.
    pub eot: bool,
    /// The bytes after the COTP header (DT payload, CR/CC user data).
    pub user_data: &'a [u8],
    /// CR/CC/DR: the variable part of the header (parameters; RDP puts its cookie and
    /// negotiation request here).
    pub variable: &'a [u8],
    /// COTP-level violations (the TPKT framing itself was sound).
    pub anomalies: Anomalies,
}

/// Why a TPDU could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpduError {
    /// At least this many more bytes are needed.
    Incomplete(usize),
    /// The bytes are not a TPKT header.
    Bad(Anomaly),
}

impl<'a> Tpdu<'a> {
    /// Frame the TPKT at the front of `b` and read its COTP header.
    pub fn parse(b: &'a [u8]) -> Result<Tpdu<'a>, TpduError> {
        if b.first().is_some_and(|&v| v != 3) || b.get(field::RESERVED).is_some_and(|&r| r != 0) {
            return Err(TpduError::Bad(Anomaly::BadVersion));
        }
        let Some(tlen) = be16(b, field::LENGTH) else {
            return Err(TpduError::Incomplete(TPKT_LEN - b.len()));
        };
        if tlen < MIN_TPKT {
            return Err(TpduError::Bad(Anomaly::BadLength));
        }
        let tlen = tlen as usize;
        if b.len() < tlen {
            return Err(TpduError::Incomplete(tlen - b.len()));
        }
        let t = &b[..tlen];
        debug_assert_eq!(t[field::VERSION], 3);
        let li = t[field::LI] as usize;
        let mut anomalies = Anomalies::NONE;
        let code = TpduCode(t[field::CODE] & 0xf0);
        if code.name().is_none() {
            anomalies.set(Anomaly::UnknownFunction);
        }
        let hdr_end = field::LI + 1 + li;
        let user_data = if li < 1 || hdr_end > tlen {
            anomalies.set(Anomaly::BadLength);
            &t[tlen..]
        } else {
            &t[hdr_end..]
        };
        let eot = code == TpduCode::DT && li >= 2 && t[field::DT_NR] & 0x80 != 0;
        let variable = match code {
            TpduCode::CR | TpduCode::CC | TpduCode::DR if hdr_end <= tlen => {
                t.get(field::VARIABLE.min(hdr_end)..hdr_end).unwrap_or(&[])
            }
            _ => &[],
        };
        Ok(Tpdu {
            len: tlen,
            code,
            eot,
            user_data,
            variable,
            anomalies,
        })
    }
}

/// Length of the header of a class-0 DT TPDU in its TPKT (TPKT header, LI 2, code, EOT and
/// TPDU number): its user data starts here.
pub const DT_HEADER: usize = 7;

/// The usual TPKT: a whole class-0 DT TPDU with the plain header `LI 2, code F0`. Returns its
/// length and EOT bit when `b` starts with one; [`Tpdu::parse`] would then read it as code
/// DT with that EOT, no anomaly, and user data `b[DT_HEADER..len]` (a test ties the two).
/// Checking these seven bytes is the framing loop's fast path: the general parse computes
/// fields (code name, header variable part, anomalies) a plain DT TPDU does not need.
#[inline(always)]
pub fn plain_dt(b: &[u8]) -> Option<(usize, bool)> {
    let &[v, r, hi, lo, li, code, nr, ..] = b else {
        return None;
    };
    // Version 3 and reserved 0, LI 2 and code F0 compared two bytes at a time, and the
    // length's two bounds in one unsigned comparison (`b` holds at least DT_HEADER bytes).
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    (u16::from_le_bytes([v, r]) == 0x0003
        && u16::from_le_bytes([li, code]) == 0xf002
        && len.wrapping_sub(DT_HEADER) <= b.len() - DT_HEADER)
        .then_some((len, nr & 0x80 != 0))
}

/// Does `d` start with a TPKT header and a plausible COTP header?
pub fn probe(d: &[u8]) -> Probe {
    match d {
        [] => Probe::NeedMore,
        [3] | [3, 0] | [3, 0, _] => Probe::NeedMore,
        [3, 0, hi, lo, rest @ ..] => {
            let tlen = u16::from_be_bytes([*hi, *lo]);
            if tlen < MIN_TPKT {
                return Probe::NoMatch;
            }
            match rest {
                [] | [_] => Probe::NeedMore,
                [li, code, ..] => {
                    let ok = *li >= 1
                        && (*li as usize) + 5 <= tlen as usize
                        && TpduCode(code & 0xf0).name().is_some();
                    if ok { Probe::Match } else { Probe::NoMatch }
                }
            }
        }
        _ => Probe::NoMatch,
    }
}
