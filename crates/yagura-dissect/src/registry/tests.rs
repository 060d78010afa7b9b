//! Registry tests: names, port tables, detection on real first payloads, and the
//! never-panic properties of every dissector and of `detect`.

use proptest::prelude::*;
use yagura_core::{Direction, Transport};

use super::*;
use crate::testutil::{VecSink, hex};

const NAMES: &[&str] = &[
    "modbus",
    "umas",
    "s7comm",
    "s7comm_plus",
    "cotp",
    "enip",
    "cip",
    "dnp3",
    "iec104",
    "bacnet",
    "opcua",
    "mms",
    "goose",
    "pn_dcp",
    "pn_io",
    "fins",
    "slmp",
    "srtp",
    "ads",
    "hart_ip",
    "c37118",
    "fox",
    "proconos",
    "mqtt",
    "bsap",
    "genisys",
    "c1222",
    "codesys",
    "dns",
    "mdns",
    "llmnr",
    "nbns",
    "nbdgm",
    "dhcp",
    "dhcpv6",
    "ntp",
    "snmp",
    "syslog",
    "http",
    "tls",
    "ssh",
    "smb",
    "dcerpc",
    "ssdp",
    "rdp",
    "telnet",
    "ftp",
    "tftp",
    "smtp",
    "ldap",
    "kerberos",
    "netbios_ssn",
    "vnc",
];

#[test]
fn a_restricted_registry_labels_everything_but_parses_only_its_protocols() {
    let r = Registry::only(Registry::OT_CORE);
    let full = Registry::new();
    for id in [
        ProtocolId::MODBUS,
        ProtocolId::S7COMM,
        ProtocolId::ENIP,
        ProtocolId::DNP3,
    ] {
        assert!(r.dissector(id, Transport::TCP).is_some(), "{id:?}");
    }
    for id in [ProtocolId::DNS, ProtocolId::BACNET, ProtocolId::HTTP] {
        assert!(r.dissector(id, Transport::UDP).is_none(), "{id:?}");
        assert!(full.dissector(id, Transport::UDP).is_some(), "{id:?}");
    }
    // Detection is the full registry's.
    let modbus = hex("41a00000000601030000000a");
    assert_eq!(
        r.detect(Transport::TCP, 40000, 502, &modbus),
        full.detect(Transport::TCP, 40000, 502, &modbus)
    );
}

#[test]
fn every_required_name_has_an_id() {
    for n in NAMES {
        let id = ProtocolId::from_name(n).unwrap_or_else(|| panic!("{n} missing"));
        assert_eq!(id.name(), *n);
        assert_ne!(id, ProtocolId::UNKNOWN);
    }
    assert_eq!(ProtocolId::UNKNOWN.name(), "unknown");
    let mut ids: Vec<_> = ProtocolId::ALL.iter().map(|p| p.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), ProtocolId::ALL.len());
    assert_eq!(Registry::new().all().count(), ProtocolId::ALL.len());
}

#[test]
fn port_tables_have_no_duplicates() {
    for table in [TCP_PORTS, UDP_PORTS] {
        let mut seen = std::collections::HashSet::new();
        for e in table {
            for p in e.lo..=e.hi {
                assert!(seen.insert(p), "port {p} twice");
            }
        }
    }
}

#[test]
fn service_ports() {
    let r = Registry::new();
    assert!(r.is_service_port(Transport::TCP, 502));
    assert!(r.is_service_port(Transport::UDP, 47810));
    assert!(!r.is_service_port(Transport::TCP, 47810));
    assert!(!r.is_service_port(Transport::TCP, 40000));
    assert!(!r.is_service_port(Transport::ICMP, 502));
}

fn det(t: Transport, sp: u16, dp: u16, h: &str) -> Detect {
    Registry::new().detect(t, sp, dp, &hex(h))
}

fn found(n: &str) -> Detect {
    Detect::Found(ProtocolId::from_name(n).unwrap())
}

#[test]
fn detects_real_first_payloads() {
    use Transport as T;
    let cases: &[(Transport, u16, u16, &str, &str)] = &[
        (T::TCP, 53454, 502, "41a00000000601040000000e", "modbus"),
        (
            T::TCP,
            502,
            53454,
            "41a00000001f01041c000053f5000000000000000000003318000000000000000000005925",
            "modbus",
        ),
        (
            T::TCP,
            51212,
            102,
            "0300001902f08032010000000000080000f0000001000101e0",
            "s7comm",
        ),
        (
            T::TCP,
            51032,
            102,
            "0300002002f08072020011320000054200000002340000000000000072020000",
            "s7comm_plus",
        ),
        (
            T::TCP,
            31304,
            44818,
            "63000000000000000000000000000000c1debed100000000",
            "enip",
        ),
        (
            T::TCP,
            49334,
            20000,
            "05641ac40a0001008a1cc0c0030c012801000000030164000000fd6b6400000000005b",
            "dnp3",
        ),
        (T::TCP, 46413, 2404, "680407000000", "iec104"),
        (
            T::UDP,
            47808,
            47808,
            "810a001101040005010c0c023fffff194b",
            "bacnet",
        ),
        (
            T::UDP,
            5353,
            5353,
            "000000000001000000000000045f6c7869045f746370056c6f63616c00000c8001",
            "mdns",
        ),
        (
            T::UDP,
            2222,
            2222,
            "02000280080003064b00db943f00b1000600a587e80f0300",
            "cip",
        ),
        (T::TCP, 53022, 10001, "fb018340f6", "genisys"),
        (
            T::TCP,
            42167,
            1911,
            "666f7820612031202d3120666f782068656c6c6f0a",
            "fox",
        ),
        (
            T::TCP,
            5000,
            9600,
            "46494e530000001700000002000000008000020000000000007a0401000001",
            "fins",
        ),
        (
            T::TCP,
            49327,
            1883,
            "102500064d51497364700302000500177061686f2f333441414535344137354438333935363645",
            "mqtt",
        ),
        (
            T::TCP,
            2899,
            5007,
            "57000000001111070000ffff030000fe03000014001c080a0800000000000000040101010000000001",
            "slmp",
        ),
        (
            T::TCP,
            49190,
            48898,
            "000020000000050d756001011027c0a801c70101038004000400000000000000000008000000",
            "ads",
        ),
        (T::UDP, 49905, 5094, "010000000002000d0100007530", "hart_ip"),
        (
            T::TCP,
            36835,
            4712,
            "aa41001200f100000000000000000005d7d0",
            "c37118",
        ),
        (
            T::TCP,
            1577,
            1153,
            "603ea211060f2b060104018285638e7f85f1c24e00a60a06082b06010401828563a806020413e81421be1528138111800f50123468656c6c6f776f726c640000",
            "c1222",
        ),
        (
            T::UDP,
            1235,
            1235,
            "100201eba0e30803000401400f014047562e4153332e001003a94d",
            "bsap",
        ),
        (
            T::TCP,
            33986,
            1962,
            "0101001a0000000078800003000c494245544830314e305f4d00",
            "proconos",
        ),
    ];
    for (t, sp, dp, h, want) in cases {
        assert_eq!(det(*t, *sp, *dp, h), found(want), "{want}");
    }
}

#[test]
fn strong_probes_work_off_port() {
    use Transport as T;
    // OPC UA hello to a non-standard port (lsw__opcua.pcap uses 12001).
    let hel = "48454c464f00000000000000ffff0000ffff0000a00f0000000000002f0000006f70632e7463703a2f2f766d2d78702d73746576656e3a31323030312f55412f53746576656e";
    let mut b = hex(hel);
    b.resize(0x4f, b'x');
    assert_eq!(
        Registry::new().detect(T::TCP, 58674, 12001, &b),
        found("opcua")
    );
    // DNP3 on an unexpected port, recognised by its header CRC.
    assert_eq!(
        det(
            T::TCP,
            1080,
            40000,
            "056414c4020003004503c7c8013c02063c03063c04063c010642ac"
        ),
        found("dnp3")
    );
    assert_eq!(
        Registry::new().detect(T::TCP, 40000, 8081, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        found("http")
    );
    assert_eq!(
        Registry::new().detect(T::TCP, 40000, 2222, b"SSH-2.0-OpenSSH_9.2\r\n"),
        found("ssh")
    );
    // A TLS ClientHello header.
    assert_eq!(
        det(T::TCP, 40000, 9443, "160301020001000200030300"),
        found("tls")
    );
}

#[test]
fn does_not_guess_weak_formats_off_port() {
    use Transport as T;
    // Modbus on a non-Modbus port stays unknown; so does random binary.
    assert_eq!(
        det(T::TCP, 53454, 4000, "41a00000000601040000000e"),
        Detect::Unknown
    );
    assert_eq!(
        det(T::TCP, 40000, 4000, "deadbeef00112233445566778899"),
        Detect::Unknown
    );
    // Port 502 with something that is not Modbus: unknown, or what a strong probe says.
    assert_eq!(
        det(T::TCP, 40000, 502, "0001000200ff0101020304"),
        Detect::Unknown
    );
    assert_eq!(
        Registry::new().detect(
            T::TCP,
            40000,
            502,
            b"\x16\x03\x01\x00\x10\x02\x00\x00\x0c\x03\x03"
        ),
        found("tls")
    );
}

#[test]
fn cotp_connect_needs_more() {
    let cr = "030000231ee00000001500c1020600c20f53494d415449432d524f4f542d4553c0010a";
    assert_eq!(det(Transport::TCP, 51032, 102, cr), Detect::NeedMore);
    assert_eq!(det(Transport::TCP, 51032, 102, "0300"), Detect::NeedMore);
}

#[test]
fn dissectors_exist_and_stateless_ones_do_not_allocate() {
    let r = Registry::new();
    for id in r.all() {
        for t in [Transport::TCP, Transport::UDP] {
            let d = r.dissector(id, t).expect("every id has a dissector");
            assert_eq!(d.protocol(), id);
        }
    }
    assert!(r.dissector(ProtocolId::UNKNOWN, Transport::TCP).is_none());
    assert_eq!(size_of::<crate::opaque::Opaque<1>>(), 0);
    assert_eq!(size_of::<crate::bacnet::BacnetDissector>(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn detect_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), sp in any::<u16>(), dp in any::<u16>(), udp in any::<bool>()) {
        let t = if udp { Transport::UDP } else { Transport::TCP };
        let _ = Registry::new().detect(t, sp, dp, &data);
    }

    #[test]
    fn dissectors_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6), udp in any::<bool>(), events in any::<bool>()) {
        let r = Registry::new();
        let t = if udp { Transport::UDP } else { Transport::TCP };
        for id in r.all() {
            let mut d = r.dissector(id, t).unwrap();
            let mut sink = if events { VecSink::default() } else { VecSink::counting() };
            let mut buf: Vec<u8> = Vec::new();
            for (i, c) in chunks.iter().enumerate() {
                let dir = if i % 2 == 0 { Direction::ToServer } else { Direction::ToClient };
                if i == 3 { d.on_gap(dir, 10); buf.clear(); }
                buf.extend_from_slice(c);
                let p = d.parse(&buf, dir, &mut sink);
                prop_assert!(p.consumed <= buf.len(), "{} consumed {} of {}", id.name(), p.consumed, buf.len());
                if udp { prop_assert_eq!(p.consumed, buf.len()); }
                buf.drain(..p.consumed);
            }
        }
    }

    #[test]
    fn mutated_real_pdus_never_panic(pos in 0usize..64, val in any::<u8>(), cut in 0usize..80) {
        let r = Registry::new();
        let samples: &[(ProtocolId, &str)] = &[
            (ProtocolId::MODBUS, "41a00000001f01041c000053f5000000000000000000003318000000000000000000005925"),
            (ProtocolId::S7COMM, "0300002102f080320700000100000800080001120411440100ff09000400110000"),
            (ProtocolId::S7COMM_PLUS, "0300002002f08072020011320000054200000002340000000000000072020000"),
            (ProtocolId::ENIP, "6f00140000010212000000000f740100489ae00000000000000000008b00020000000000b2000400d1000800"),
            (ProtocolId::DNP3, "05641ac40a0001008a1cc0c0030c012801000000030164000000fd6b6400000000005b"),
            (ProtocolId::IEC104, "680e02000200640107000a0000000014681a04000200010414000a0001000000020000000300000004000000"),
            (ProtocolId::BACNET, "810a00120120000d013dff5034149105911a"),
            (ProtocolId::SNMP, "302602010004067075626c6963a019020126020100020100300e300c06082b060102010102000500"),
            (ProtocolId::DNS, "981001000001000000000000046d61696c06676f6f676c6503636f6d0000010001"),
        ];
        for (id, h) in samples {
            let mut b = hex(h);
            if pos < b.len() { b[pos] = val; }
            b.truncate(cut.max(1));
            for t in [Transport::TCP, Transport::UDP] {
                let mut d = r.dissector(*id, t).unwrap();
                let p = d.parse(&b, Direction::ToServer, &mut VecSink::default());
                prop_assert!(p.consumed <= b.len());
                let _ = r.detect(t, 40000, 502, &b);
            }
        }
    }
}
