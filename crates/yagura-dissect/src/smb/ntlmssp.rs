//! NTLMSSP messages inside SMB security blobs (MS-NLMP 2.2): what a CHALLENGE says about
//! the server (NetBIOS and DNS computer and domain names of its target info, its Windows
//! version) and what an AUTHENTICATE says about the client (workstation name, domain,
//! version). User names, challenges and responses are never read out.

use crate::bytes::{le16, le32};
use crate::text::{printable, utf16le};

const SIGNATURE: &[u8] = b"NTLMSSP\0";
/// Blob bytes searched for the signature (SPNEGO wraps the message in a few dozen octets).
const SEARCH: usize = 512;
/// AV pairs walked.
const MAX_AV: usize = 32;
const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const NEGOTIATE_VERSION: u32 = 0x0200_0000;

/// What one NTLMSSP message reveals.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ntlm {
    /// 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE.
    pub message_type: u32,
    /// CHALLENGE: MsvAvNbComputerName.
    pub nb_computer: Option<String>,
    /// CHALLENGE: MsvAvNbDomainName.
    pub nb_domain: Option<String>,
    /// CHALLENGE: MsvAvDnsComputerName.
    pub dns_computer: Option<String>,
    /// CHALLENGE: MsvAvDnsDomainName.
    pub dns_domain: Option<String>,
    /// CHALLENGE: MsvAvDnsTreeName (the forest).
    pub dns_tree: Option<String>,
    /// AUTHENTICATE: the client's workstation name.
    pub workstation: Option<String>,
    /// AUTHENTICATE: the account's domain.
    pub domain: Option<String>,
    /// The sender's Windows version, `Windows 6.0 build 6002`.
    pub os: Option<String>,
}

/// The payload of a `(len, maxlen, offset)` field at `at` of message `m`.
fn payload(m: &[u8], at: usize) -> Option<&[u8]> {
    let len = le16(m, at)? as usize;
    let off = le32(m, at + 4)? as usize;
    if len == 0 {
        return None;
    }
    m.get(off..off.checked_add(len)?)
}

fn string(b: &[u8], unicode: bool) -> Option<String> {
    if unicode { utf16le(b) } else { printable(b) }
}

/// The VERSION structure at `at` (ProductMajorVersion, ProductMinorVersion,
/// ProductBuild).
fn version(m: &[u8], at: usize) -> Option<String> {
    let major = *m.get(at)?;
    let minor = *m.get(at + 1)?;
    let build = le16(m, at + 2)?;
    (major != 0).then(|| format!("Windows {major}.{minor} build {build}"))
}

/// Find and read the NTLMSSP message in a security blob.
pub fn parse(blob: &[u8]) -> Option<Ntlm> {
    let hay = &blob[..blob.len().min(SEARCH + SIGNATURE.len())];
    let at = hay.windows(SIGNATURE.len()).position(|w| w == SIGNATURE)?;
    let m = &blob[at..];
    let mut n = Ntlm {
        message_type: le32(m, 8)?,
        ..Ntlm::default()
    };
    match n.message_type {
        1 => {
            let flags = le32(m, 12)?;
            if flags & NEGOTIATE_VERSION != 0 {
                n.os = version(m, 32);
            }
        }
        2 => {
            let flags = le32(m, 20)?;
            if flags & NEGOTIATE_VERSION != 0 {
                n.os = version(m, 48);
            }
            if let Some(info) = payload(m, 40) {
                let mut p = 0;
                for _ in 0..MAX_AV {
                    let (Some(id), Some(len)) = (le16(info, p), le16(info, p + 2)) else {
                        break;
                    };
                    let Some(v) = info.get(p + 4..p + 4 + len as usize) else {
                        break;
                    };
                    let slot = match id {
                        0 => break,
                        1 => &mut n.nb_computer,
                        2 => &mut n.nb_domain,
                        3 => &mut n.dns_computer,
                        4 => &mut n.dns_domain,
                        5 => &mut n.dns_tree,
                        _ => {
                            p += 4 + len as usize;
                            continue;
                        }
                    };
                    *slot = utf16le(v);
                    p += 4 + len as usize;
                }
            }
        }
        3 => {
            let flags = le32(m, 60)?;
            let unicode = flags & NEGOTIATE_UNICODE != 0;
            n.domain = payload(m, 28).and_then(|b| string(b, unicode));
            n.workstation = payload(m, 44).and_then(|b| string(b, unicode));
            // The version follows the fixed fields only when the payloads start after it.
            let first = [12, 20, 28, 36, 44, 52]
                .iter()
                .filter_map(|&f| le32(m, f + 4).filter(|_| le16(m, f).is_some_and(|l| l > 0)))
                .min()
                .unwrap_or(u32::MAX);
            if flags & NEGOTIATE_VERSION != 0 && first >= 72 {
                n.os = version(m, 64);
            }
        }
        _ => return None,
    }
    Some(n)
}
