//! Link-layer protocols that are not IP: frames a switch or a controller sends to a group
//! address (LLDP, CDP, STP, Profinet DCP). They belong to no flow, so the engine hands each
//! such frame here whole, and the identity facts they carry are about the frame's sender
//! ([`yagura_core::Subject::Sender`], resolved to the source MAC).

use crate::PduSink;

/// A link-layer protocol this module dissects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkProtocol {
    /// IEEE 802.1AB LLDP (ethertype 0x88CC).
    Lldp,
    /// Cisco Discovery Protocol (LLC SNAP, OUI 00:00:0C, PID 0x2000).
    Cdp,
    /// Spanning tree BPDUs (LLC DSAP/SSAP 0x42).
    Stp,
    /// Profinet DCP (ethertype 0x8892, frame ids 0xFEFC–0xFEFF).
    PnDcp,
}

impl LinkProtocol {
    /// The protocol id used in events and facts.
    pub const fn name(self) -> &'static str {
        match self {
            LinkProtocol::Lldp => "lldp",
            LinkProtocol::Cdp => "cdp",
            LinkProtocol::Stp => "stp",
            LinkProtocol::PnDcp => "pn_dcp",
        }
    }

    /// The protocol of a non-IP frame, from its ethertype (after VLAN tags and SNAP;
    /// 0 for plain 802.2 LLC), its LLC DSAP when it has an LLC header, and its SNAP
    /// organisation code and protocol id when it has one.
    pub fn classify(
        ethertype: u16,
        dsap: Option<u8>,
        snap: Option<([u8; 3], u16)>,
    ) -> Option<LinkProtocol> {
        match (ethertype, dsap, snap) {
            (_, _, Some(([0x00, 0x00, 0x0c], 0x2000))) => Some(LinkProtocol::Cdp),
            (_, _, Some(_)) => None,
            (0x88cc, _, _) => Some(LinkProtocol::Lldp),
            (0x8892, _, _) => Some(LinkProtocol::PnDcp),
            (0, Some(0x42), _) => Some(LinkProtocol::Stp),
            _ => None,
        }
    }
}

/// Dissect one frame's payload (the bytes after the Ethernet, VLAN and LLC/SNAP headers) of
/// protocol `proto`, reporting its PDUs and identity facts to `sink`.
pub fn dissect(proto: LinkProtocol, payload: &[u8], sink: &mut dyn PduSink) {
    // The per-protocol parsers land with issue 4's identity protocols.
    let _ = (proto, payload, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_ethertype_llc_and_snap() {
        assert_eq!(
            LinkProtocol::classify(0x88cc, None, None),
            Some(LinkProtocol::Lldp)
        );
        assert_eq!(
            LinkProtocol::classify(0x8892, None, None),
            Some(LinkProtocol::PnDcp)
        );
        assert_eq!(
            LinkProtocol::classify(0, Some(0x42), None),
            Some(LinkProtocol::Stp)
        );
        assert_eq!(
            LinkProtocol::classify(0x2000, Some(0xaa), Some(([0, 0, 0x0c], 0x2000))),
            Some(LinkProtocol::Cdp)
        );
        // DTP and VTP share Cisco's OUI with other protocol ids.
        assert_eq!(
            LinkProtocol::classify(0x2004, Some(0xaa), Some(([0, 0, 0x0c], 0x2004))),
            None
        );
        assert_eq!(LinkProtocol::classify(0x0800, None, None), None);
    }
}
