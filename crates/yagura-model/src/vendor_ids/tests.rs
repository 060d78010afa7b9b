use super::*;
use crate::oui;
use yagura_core::MacAddr;

#[test]
fn bacnet_vendor_ids_seen_in_the_corpus() {
    // Vendor ids of I-Am answers in ../shared/corpus/pcap/bacnet (tshark -Y
    // bacapp.unconfirmed_service==0 -T fields -e bacapp.vendor_identifier), and the
    // vendor-identifier property (120) iti__bacnet_test.pcap's device reports; names as
    // bacnet-rs 0.3.2's list gives them.
    for (id, registry_name, name) in [
        (24, "Automated Logic Corporation", "Automated Logic"),
        (42, "Acuity Brands Lighting, Inc.", "Acuity Brands Lighting"),
        (154, "Unitec Corporation", "Unitec"),
        (1337, "Xxter bv", "Xxter"),
        (5, "Johnson Controls, Inc.", "Johnson Controls"),
    ] {
        let v = lookup(Registry::Bacnet, id).unwrap_or_else(|| panic!("bacnet {id}"));
        assert_eq!((v.registry_name, v.name), (registry_name, name), "{id}");
        assert_eq!(bacnet(id), Some(name));
    }
}

#[test]
fn one_company_one_name_across_registries() {
    // BACnet 7 "Siemens Schweiz AG" and the MAC block 00:0E:8C "Siemens AG".
    assert_eq!(bacnet(7), Some("Siemens"));
    assert_eq!(
        oui::vendor_name(MacAddr([0x00, 0x0e, 0x8c, 1, 2, 3])),
        bacnet(7)
    );
    // BACnet 10 is listed as "Schneider Electric", like the alias of TELEMECANIQUE's OUI.
    assert_eq!(
        oui::vendor_name(MacAddr([0x00, 0x80, 0xf4, 1, 2, 3])),
        bacnet(10)
    );
    assert_eq!(bacnet(0), Some("ASHRAE"));
}

#[test]
fn reserved_and_unassigned_ids_have_no_vendor() {
    // 555, 666, … are "Reserved for ASHRAE" in the list: placeholders, not vendors.
    for id in [555, 666, 777, 888, 999, 1111, u16::MAX] {
        assert_eq!(bacnet(id), None, "{id}");
    }
}

#[test]
fn facts_name_their_registry() {
    assert_eq!(from_fact("bacnet:42").map(|v| v.name), bacnet(42));
    assert_eq!(from_fact("bacnet:x"), None);
    assert_eq!(from_fact("bacnet:70000"), None);
    assert_eq!(from_fact("modbus:1"), None);
    assert_eq!(from_fact("42"), None);
}

#[test]
fn cip_vendor_ids_from_vendors_eds_files() {
    // data/cip_vendors.tsv: `VendCode`/`VendName` of each vendor's own EDS file, as written
    // (sources in data/cip_vendors.sources.tsv). CIP 1 is what the corpus's 1756-ENBT/A and
    // ControlLogix L61 state in ListIdentity and the Identity object.
    for (id, registry_name, name) in [
        (1, "Rockwell Automation", "Rockwell Automation"),
        (75, "ABB Robotics", "ABB"),
        (90, "HMS Industrial Networks AB", "HMS Industrial Networks"),
        (243, "Schneider Electric", "Schneider Electric"),
        (283, "Hilscher", "Hilscher"),
        (640, "Murrelektronik GmbH", "Murrelektronik"),
        (808, "SICK AG", "SICK"),
        (1772, "RT-Labs AB", "RT-Labs"),
    ] {
        let v = lookup(Registry::Cip, id).unwrap_or_else(|| panic!("cip {id}"));
        assert_eq!((v.registry_name, v.name), (registry_name, name), "{id}");
        assert_eq!(cip(id), Some(name));
    }
    assert_eq!(
        from_fact("cip:1").map(|v| v.name),
        Some("Rockwell Automation")
    );
    assert_eq!(table_len(Registry::Cip), 8);
}

#[test]
fn profinet_vendor_ids_from_vendors_gsdml_files() {
    // data/profinet_vendors.tsv: `DeviceIdentity VendorID` and `VendorName` of each vendor's
    // own GSDML file (sources in data/profinet_vendors.sources.tsv). 0x002A is the vendor id
    // of the SCALANCE X208 in the corpus's DCP answer (lsw__pn_dcp.pcap); DCP facts are
    // `pn_dcp:<decimal id>`.
    for (id, registry_name, name) in [
        (0x002a, "SIEMENS", "Siemens"),
        (0x010c, "HMS Industrial Networks", "HMS Industrial Networks"),
        (
            0x011e,
            "Hilscher Gesellschaft für Systemautomation mbH",
            "Hilscher",
        ),
        (0x01fd, "KEYENCE CORPORATION.", "Keyence"),
        (0x0493, "RT-Labs", "RT-Labs"),
    ] {
        let v = lookup(Registry::Profinet, id).unwrap_or_else(|| panic!("profinet {id}"));
        assert_eq!((v.registry_name, v.name), (registry_name, name), "{id}");
        assert_eq!(profinet(id), Some(name));
    }
    assert_eq!(from_fact("pn_dcp:42").map(|v| v.name), Some("Siemens"));
    assert_eq!(from_fact("profinet:1171").map(|v| v.name), Some("RT-Labs"));
    assert_eq!(table_len(Registry::Profinet), 5);
}

#[test]
fn ids_no_device_file_was_read_for_have_no_vendor() {
    // Only ids a vendor's own file states are embedded: no guess for the others (the corpus's
    // GE VersaMax answers DCP with 0x015A, which no file read here states).
    assert_eq!(cip(2), None);
    assert_eq!(cip(u16::MAX), None);
    assert_eq!(profinet(0x015a), None);
    assert_eq!(profinet(0), None);
    assert!(table_len(Registry::Bacnet) > 1500);
}

#[test]
fn one_company_one_name_across_cip_profinet_and_the_mac_registry() {
    // Hilscher's EDS says "Hilscher", its GSDML "Hilscher Gesellschaft für Systemautomation
    // mbH", the IEEE registry "Hilscher GmbH" (00:02:A2): one name.
    assert_eq!(cip(283), Some("Hilscher"));
    assert_eq!(profinet(0x011e), cip(283));
    assert_eq!(
        oui::vendor_name(MacAddr([0x00, 0x02, 0xa2, 1, 2, 3])),
        cip(283)
    );
    assert_eq!(profinet(0x002a), bacnet(7));
    assert_eq!(cip(1), Some("Rockwell Automation"));
    // HMS: EDS "HMS Industrial Networks AB", GSDML "HMS Industrial Networks", BACnet 246 and
    // the MAC block CC:3F:1D "HMS Industrial Networks SLU" (an alias), 00:30:11 as in the GSDML.
    assert_eq!(cip(90), Some("HMS Industrial Networks"));
    assert_eq!(profinet(0x010c), cip(90));
    assert_eq!(bacnet(246), cip(90));
    for mac in [[0xcc, 0x3f, 0x1d, 1, 2, 3], [0x00, 0x30, 0x11, 1, 2, 3]] {
        assert_eq!(oui::vendor_name(MacAddr(mac)), cip(90), "{mac:02x?}");
    }
}

#[test]
fn parser_rejects_bad_tables() {
    let t = |s: &str| Table::parse(s.to_owned()).map(|t| t.rows.map(|r| r.len()));
    assert_eq!(
        t("# yagura-vendor-ids 1\nbacnet\t1\tA\t\ncip\t1\tB\tb\n"),
        Ok([1, 1, 0])
    );
    assert!(t("# other\n").is_err());
    assert!(t("# yagura-vendor-ids 1\nbacnet\t1\tA\n").is_err());
    assert!(t("# yagura-vendor-ids 1\nbacnet\t1\t\t\n").is_err());
    assert!(t("# yagura-vendor-ids 1\nfoo\t1\tA\t\n").is_err());
    assert!(t("# yagura-vendor-ids 1\nbacnet\t70000\tA\t\n").is_err());
    assert!(t("# yagura-vendor-ids 1\nbacnet\t1\tA\t\nbacnet\t1\tB\t\n").is_err());
}
