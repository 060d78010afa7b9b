//! The subject and issuer common name and organisation of an X.509 certificate (RFC 5280
//! 4.1), read with a small bounded DER walker: enough for identity, no signature or chain
//! checks. A dependency (x509-parser, or RustCrypto's x509-cert) would parse far more than
//! these four strings and bring nom or a derive stack with it.

use crate::probes::ber_len;
use crate::text::{printable, utf16le};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
/// id-at-commonName (2.5.4.3) and id-at-organizationName (2.5.4.10), DER content octets.
const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0a];
/// Attributes looked at per name.
const MAX_ATTRS: usize = 32;

/// Common name and organisation of a distinguished name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dn {
    /// commonName.
    pub cn: Option<String>,
    /// organizationName.
    pub o: Option<String>,
}

impl Dn {
    /// `CN=…, O=…` with the parts present.
    pub fn text(&self) -> Option<String> {
        let parts: Vec<String> = [("CN", &self.cn), ("O", &self.o)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// What a certificate says about whom it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// The subject.
    pub subject: Dn,
    /// The issuer.
    pub issuer: Dn,
    /// Issuer and subject are the same name (byte for byte): a self-signed certificate.
    pub self_signed: bool,
}

/// The SHA-1 and SHA-256 fingerprints of a certificate (over its DER encoding, as
/// `openssl x509 -fingerprint` computes them), in lowercase hex.
pub fn fingerprints(der: &[u8]) -> (String, String) {
    use sha1::Digest;
    let sha1 = sha1::Sha1::digest(der);
    let sha256 = sha2::Sha256::digest(der);
    (
        crate::text::hex(&sha1, None, sha1.len()),
        crate::text::hex(&sha256, None, sha256.len()),
    )
}

/// One DER TLV at `at`: (tag, content start, content end).
fn tlv(d: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *d.get(at)?;
    let (len, n) = ber_len(d, at + 1)?;
    let start = at + 1 + n;
    let end = start.checked_add(len)?;
    (end <= d.len()).then_some((tag, start, end))
}

/// A directory string's text (UTF8String, PrintableString, IA5String, TeletexString as
/// Latin-1-ish bytes, BMPString as UTF-16BE).
fn string(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 | 0x14 => printable(v),
        0x1e => {
            let le: Vec<u8> = v.chunks_exact(2).flat_map(|p| [p[1], p[0]]).collect();
            utf16le(&le)
        }
        _ => None,
    }
}

/// The CN and O of a Name (SEQUENCE OF SET OF SEQUENCE { OID, value }) at `s..e`.
fn dn(d: &[u8], s: usize, e: usize) -> Dn {
    let mut out = Dn::default();
    let d = &d[..e];
    let mut at = s;
    let mut seen = 0;
    while at < e && seen < MAX_ATTRS {
        let Some((t, ss, se)) = tlv(d, at) else { break };
        at = se;
        if t != SET {
            break;
        }
        let mut inner = ss;
        while inner < se && seen < MAX_ATTRS {
            seen += 1;
            let Some((t, as_, ae)) = tlv(d, inner) else {
                break;
            };
            inner = ae;
            let Some((ot, os, oe)) = tlv(d, as_).filter(|_| t == SEQUENCE) else {
                continue;
            };
            let Some((vt, vs, ve)) = tlv(d, oe).filter(|&(_, _, ve)| ve <= ae) else {
                continue;
            };
            if ot != OID {
                continue;
            }
            let slot = match &d[os..oe] {
                x if x == CN => &mut out.cn,
                x if x == O => &mut out.o,
                _ => continue,
            };
            if slot.is_none() {
                *slot = string(vt, &d[vs..ve]);
            }
        }
    }
    out
}

/// Subject and issuer names of a DER certificate.
pub fn names(cert: &[u8]) -> Option<Names> {
    let (t, s, _) = tlv(cert, 0)?;
    if t != SEQUENCE {
        return None;
    }
    let (t, mut at, tbs_end) = tlv(cert, s)?;
    if t != SEQUENCE {
        return None;
    }
    if cert.get(at) == Some(&VERSION) {
        at = tlv(cert, at)?.2;
    }
    let (_, _, serial_end) = tlv(cert, at)?;
    let (_, _, sig_end) = tlv(cert, serial_end)?;
    let (it, is, ie) = tlv(cert, sig_end)?;
    let (_, _, validity_end) = tlv(cert, ie)?;
    let (st, ss, se) = tlv(cert, validity_end)?;
    if it != SEQUENCE || st != SEQUENCE || se > tbs_end {
        return None;
    }
    Some(Names {
        subject: dn(cert, ss, se),
        issuer: dn(cert, is, ie),
        self_signed: cert[is..ie] == cert[ss..se],
    })
}
