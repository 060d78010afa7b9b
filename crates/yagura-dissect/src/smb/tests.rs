use yagura_core::{Direction, FieldValue, Subject};

use super::*;
use crate::testutil::{VecSink, hex};

/// iti__mb2.pcap frames 3701 (SMB1 Negotiate answer), 3705 (Session Setup answer with an
/// NTLMSSP CHALLENGE), 3710 (the final answer) and 3721 (an AUTHENTICATE for
/// PANELPC02\\Administrator). tshark: smb.native_os "Windows Server (R) 2008 Standard 6002
/// Service Pack 2", ntlmssp.challenge.target_info.nb_computer_name IAS01, nb_domain_name
/// IAS01, dns_computer_name IAS01, ntlmssp.version 6.0 build 6002; the client: native_os
/// "Windows 2002 Service Pack 3 2600", ntlmssp.auth.hostname PANELPC02, ntlmssp.auth.domain
/// PANELPC02, version 5.1 build 2600.
const MB2_NEGOTIATE: &str = "00000073ff534d4272000000009853c80000000000000000000000000000fffe000000001105000332000100044100000000010000000000fde30180c09a12bbd8c0cd010000002e009e1523d5afe49e4a9b7b314e366f6f8c601c06062b0601050502a0123010a00e300c060a2b06010401823702020a";
const MB2_CHALLENGE: &str = "00000188ff534d4273160000c09807c80000000000000000000000000000fffe02e0400004ff0088010000a9005d01a181a63081a3a0030a0101a10c060a2b06010401823702020aa2818d04818a4e544c4d53535000020000000a000a003800000005828aa2c086cd651c1d9cf600000000000000004800480042000000060072170000000f4900410053003000310002000a004900410053003000310001000a004900410053003000310004000a004900410053003000310003000a004900410053003000310007000800d0c112bbd8c0cd0100000000570069006e0064006f0077007300200053006500720076006500720020002800520029002000320030003000380020005300740061006e006400610072006400200036003000300032002000530065007200760069006300650020005000610063006b00200032000000570069006e0064006f0077007300200053006500720076006500720020002800520029002000320030003000380020005300740061006e006400610072006400200036002e0030000000";
const MB2_DONE: &str = "000000e8ff534d4273000000009807c80000000000000000000000000000fffe02e0800004ff00e80000000900bd00a1073005a0030a0100570069006e0064006f0077007300200053006500720076006500720020002800520029002000320030003000380020005300740061006e006400610072006400200036003000300032002000530065007200760069006300650020005000610063006b00200032000000570069006e0064006f0077007300200053006500720076006500720020002800520029002000320030003000380020005300740061006e006400610072006400200036002e0030000000";
const MB2_AUTH: &str = "00000164ff534d4273000000001807c80000000000000000000000000000fffe033040010cff00640104413200010000000000c20000000000d40000a02901a181bf3081bca281b90481b64e544c4d53535000030000001800180086000000180018009e00000012001200480000001a001a005a000000120012007400000000000000b6000000058288a20501280a0000000f500041004e0045004c005000430030003200410064006d0069006e006900730074007200610074006f007200500041004e0045004c0050004300300032005d4d016cedb70f1500000000000000000000000000000000432c045f9299ed3a0eb28ea85267489cdc6acdce4b95b76e00570069006e0064006f0077007300200032003000300032002000530065007200760069006300650020005000610063006b0020003300200032003600300030000000570069006e0064006f007700730020003200300030003200200035002e00310000000000";

/// iti__Sample_File_MMS_and_GOOSE.pcap frames 13 to 16: a Negotiate answer, a Session Setup
/// request with NTLMSSP NEGOTIATE, the CHALLENGE (tshark: native_os "Windows 5.0",
/// native_lanman "Windows 2000 LAN Manager", nb_computer_name SAS1) and the AUTHENTICATE
/// (tshark: ntlmssp.auth.domain DEMO, ntlmssp.auth.hostname DEMO, build 3790).
const SF: [&str; 4] = [
    "00000055ff534d4272000000009853c80000000000000000000000000000fffe00000000110500030a000100041100000000010000000000fde30080943254e5e2e8c8010000001000035f3baa4063884abd17d5721c567e15",
    "000000f4ff534d4273000000001807c80000000000000000000000000000fffe000010000cff00f40004110a00000000000000280000000000d40000a0b9004e544c4d5353500001000000078208a2000000000000000000000000000000000502ce0e0000000f00570069006e0064006f0077007300200053006500720076006500720020003200300030003300200052003200200033003700390030002000530065007200760069006300650020005000610063006b002000320000000000570069006e0064006f0077007300200053006500720076006500720020003200300030003300200052003200200035002e00320000000000",
    "000000e1ff534d4273160000c09807c80000000000000000000000000000fffe0008100004ff00e10000006c00b6004e544c4d5353500002000000080008003000000005828aa03e3fb6dd83384e160000000000000000340034003800000053004100530031000200080053004100530031000100080053004100530031000400080073006100730031000300080073006100730031000000000000570069006e0064006f0077007300200035002e0030000000570069006e0064006f00770073002000320030003000300020004c0041004e0020004d0061006e00610067006500720000",
    "00000168ff534d4273000000001807c80000000000000000000000000000fffe000820000cff00680104110a000000000000009c0000000000d40000a02d014e544c4d5353500003000000180018006c0000001800180084000000080008004800000014001400500000000800080064000000000000009c000000058288a20502ce0e0000000f440045004d004f004d006900630072006f0053004300410044004100440045004d004f000f72e0028d14459f000000000000000000000000000000008ec4dde4200fb23ce6a1f290e29d579048b5190b9d128fbd00570069006e0064006f0077007300200053006500720076006500720020003200300030003300200052003200200033003700390030002000530065007200760069006300650020005000610063006b002000320000000000570069006e0064006f0077007300200053006500720076006500720020003200300030003300200052003200200035002e00320000000000",
];

type Fact = (Subject, &'static str, String);

/// Facts of `(direction, segment)` fed in order, equal with and without events.
fn facts(segs: &[(Direction, &str)]) -> (Vec<Fact>, Vec<yagura_core::PduEvent>) {
    let mut runs = Vec::new();
    let mut events = Vec::new();
    for ev in [true, false] {
        let mut s = if ev {
            VecSink::default()
        } else {
            VecSink::counting()
        };
        let mut d = SmbDissector::new(ProtocolId::SMB, false);
        for (dir, h) in segs {
            let b = hex(h);
            assert_eq!(d.parse(&b, *dir, &mut s), Parsed::done(b.len()));
        }
        if ev {
            events = std::mem::take(&mut s.events);
        }
        runs.push(s.facts);
    }
    assert_eq!(runs[0], runs[1]);
    let f = runs
        .remove(0)
        .into_iter()
        .map(|f| (f.subject, f.attribute.name(), f.value))
        .collect();
    (f, events)
}

fn str_field<'a>(e: &'a yagura_core::PduEvent, name: &str) -> Option<&'a str> {
    e.fields
        .iter()
        .find(|f| f.0 == name)
        .and_then(|f| match &f.1 {
            FieldValue::Str(v) => Some(v.as_str()),
            _ => None,
        })
}

#[test]
fn smb1_ntlm_session_names_server_and_client() {
    let (f, ev) = facts(&[
        (Direction::ToClient, MB2_NEGOTIATE),
        (Direction::ToClient, MB2_CHALLENGE),
        (Direction::ToClient, MB2_DONE),
        (Direction::ToServer, MB2_AUTH),
    ]);
    let me = Subject::Sender;
    let s = |v: &str| v.to_string();
    assert_eq!(
        f,
        [
            (me, "hostname", s("IAS01")),
            (me, "hostname", s("IAS01")),
            (me, "domain", s("IAS01")),
            (me, "domain", s("IAS01")),
            (me, "os", s("Windows 6.0 build 6002")),
            (
                me,
                "os",
                s("Windows Server (R) 2008 Standard 6002 Service Pack 2")
            ),
            (me, "software", s("Windows Server (R) 2008 Standard 6.0")),
            (
                me,
                "os",
                s("Windows Server (R) 2008 Standard 6002 Service Pack 2")
            ),
            (me, "software", s("Windows Server (R) 2008 Standard 6.0")),
            (me, "hostname", s("PANELPC02")),
            (me, "domain", s("PANELPC02")),
            (me, "os", s("Windows 5.1 build 2600")),
            (me, "os", s("Windows 2002 Service Pack 3 2600")),
            (me, "software", s("Windows 2002 5.1")),
        ]
    );
    let names: Vec<_> = ev.iter().map(|e| e.function_name).collect();
    assert_eq!(
        names,
        [
            Some("negotiate"),
            Some("session_setup_andx"),
            Some("session_setup_andx"),
            Some("session_setup_andx")
        ]
    );
    assert_eq!(str_field(&ev[1], "nb_computer_name"), Some("IAS01"));
    assert_eq!(str_field(&ev[3], "workstation"), Some("PANELPC02"));
    // The user name never appears in events or facts.
    for e in &ev {
        assert!(
            e.fields
                .iter()
                .all(|(_, v)| !matches!(v, FieldValue::Str(s) if s.contains("Administrator")))
        );
    }
    assert!(f.iter().all(|(_, _, v)| !v.contains("Administrator")));
}

#[test]
fn smb1_ntlm_session_of_a_scada_station() {
    let (f, ev) = facts(&[
        (Direction::ToClient, SF[0]),
        (Direction::ToServer, SF[1]),
        (Direction::ToClient, SF[2]),
        (Direction::ToServer, SF[3]),
    ]);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(_, a, v)| (*a, v.as_str())).collect();
    assert!(pairs.contains(&("hostname", "SAS1")), "{pairs:?}");
    assert!(pairs.contains(&("os", "Windows 5.0")), "{pairs:?}");
    assert!(
        pairs.contains(&("software", "Windows 2000 LAN Manager")),
        "{pairs:?}"
    );
    assert!(pairs.contains(&("hostname", "DEMO")), "{pairs:?}");
    assert!(pairs.contains(&("domain", "DEMO")), "{pairs:?}");
    assert!(
        pairs.contains(&("os", "Windows Server 2003 R2 3790 Service Pack 2")),
        "{pairs:?}"
    );
    assert!(
        f.iter().all(|(_, _, v)| !v.contains("MicroSCADA")),
        "no user name"
    );
    assert_eq!(ev.len(), 4);
}

#[test]
fn segmentation_and_large_messages() {
    // Every cut of the challenge answer gives the same facts.
    let b = hex(MB2_CHALLENGE);
    let (whole, _) = facts(&[(Direction::ToClient, MB2_CHALLENGE)]);
    for cut in 1..b.len() {
        let mut d = SmbDissector::new(ProtocolId::SMB, false);
        let mut s = VecSink::counting();
        let used = d.parse(&b[..cut], Direction::ToClient, &mut s).consumed;
        let mut rest = b[used..cut].to_vec();
        rest.extend_from_slice(&b[cut..]);
        assert_eq!(
            d.parse(&rest, Direction::ToClient, &mut s).consumed,
            rest.len()
        );
        let got: Vec<_> = s
            .facts
            .into_iter()
            .map(|f| (f.subject, f.attribute.name(), f.value))
            .collect();
        assert_eq!(got, whole, "cut at {cut}");
    }
    // A 1 MiB message is reported from its first bytes and skipped, not buffered.
    let mut d = SmbDissector::new(ProtocolId::SMB, false);
    let mut s = VecSink::default();
    let mut big = vec![0, 0x10, 0, 0];
    big.extend_from_slice(&hex(&MB2_DONE[8..]));
    big.resize(4 + LOOK, 0);
    assert_eq!(
        d.parse(&big, Direction::ToClient, &mut s),
        Parsed::done(big.len())
    );
    let rest = vec![0u8; (1 << 20) - LOOK];
    assert_eq!(
        d.parse(&rest, Direction::ToClient, &mut s),
        Parsed::done(rest.len())
    );
    let b = hex(MB2_DONE);
    d.parse(&b, Direction::ToClient, &mut s);
    assert_eq!(s.events.len(), 2);
    assert!(
        s.events
            .iter()
            .all(|e| e.function_name == Some("session_setup_andx"))
    );
}

proptest::proptest! {
    /// Mutated real messages never panic, and counting gives the facts events give.
    #[test]
    fn mutated_messages_never_panic(pos in 0usize..500, val: u8, cut in 0usize..500, which in 0usize..4) {
        let mut b = hex([MB2_CHALLENGE, MB2_AUTH, SF[1], SF[2]][which]);
        if pos < b.len() { b[pos] = val; }
        b.truncate(cut.max(1));
        let mut a = VecSink::default();
        let mut c = VecSink::counting();
        SmbDissector::new(ProtocolId::SMB, false).parse(&b, Direction::ToClient, &mut a);
        SmbDissector::new(ProtocolId::SMB, false).parse(&b, Direction::ToClient, &mut c);
        proptest::prop_assert_eq!(a.facts, c.facts);
    }
}
