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
