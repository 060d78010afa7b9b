use super::*;
use crate::testutil::{VecSink, hex};

/// A BOOTP message from the hex of its first 34 bytes, zeros up to the cookie, then the
/// hex of the cookie and options (corpus datagrams, their zero runs elided).
fn bootp(head: &str, options: &str) -> Vec<u8> {
    let mut d = hex(head);
    d.resize(236, 0);
    d.extend_from_slice(&hex(options));
    d
}

fn parse(d: &[u8]) -> (VecSink, VecSink) {
    let mut events = VecSink::default();
    DhcpDissector.parse(d, Direction::ToServer, &mut events);
    let mut counting = VecSink::counting();
    DhcpDissector.parse(d, Direction::ToServer, &mut counting);
    assert_eq!(
        events.facts, counting.facts,
        "facts do not depend on events"
    );
    (events, counting)
}

fn text(s: &VecSink, name: &str) -> Option<String> {
    s.events[0]
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| match v {
            FieldValue::Str(x) => Some(x.clone()),
            _ => None,
        })
}

#[test]
fn parses_discover_and_offer() {
    // zeek__dhcp.pcap, frames 1 and 2.
    let d1 = bootp(
        "01010600000007c0000000000000000000000000000000000000000090b11c994929",
        "638253633501013204c0a8d3c20c0d62746573742e69732e636f6f6cff",
    );
    assert_eq!(probe(&d1), Probe::Match);
    let (s, _) = parse(&d1);
    assert_eq!(s.events[0].function_name, Some("discover"));
    assert!(!s.events[0].response);
    assert_eq!(
        text(&s, "requested_address").as_deref(),
        Some("192.168.211.194")
    );
    // The host name is about the client's MAC, not whoever sent (or relayed) the message.
    let mac = MacAddr([0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29]);
    assert_eq!(s.facts.len(), 1);
    assert_eq!(s.facts[0].subject, Subject::Mac(mac));
    assert_eq!(s.fact_pairs(), [("hostname", "btest.is.cool")]);

    let d2 = bootp(
        "02010600000007c0000000000000000080020661ac13e6070000000090b11c994929",
        "638253633501023604800206983304000003840104ffffff00ff",
    );
    let (s, _) = parse(&d2);
    assert_eq!(s.events[0].function_name, Some("offer"));
    assert!(s.events[0].response);
    assert_eq!(text(&s, "offered_address").as_deref(), Some("128.2.6.97"));
    assert_eq!(
        text(&s, "relay_address"),
        None,
        "172.19.230.7 is siaddr, not giaddr"
    );
    assert_eq!(s.field(0, "lease_time"), Some(900));
    // The server identifier names the server.
    assert_eq!(
        s.facts[0].subject,
        Subject::Ip("128.2.6.152".parse().unwrap())
    );
    assert_eq!(s.fact_pairs(), [("role", "dhcp_server")]);

    let (s, _) = parse(&d2[..100]);
    assert_eq!(s.events[0].anomalies, ["truncated"]);
}

#[test]
fn windows_client_request() {
    // lsw__cip_1.pcap frame 310: a Windows XP-era client asks for 169.254.84.42.
    let d = bootp(
        "010106009e9a304700008000000000000000000000000000000000000004e2343d07",
        "638253633501017401013d07010004e2343d073204a9fe542a0c076175746c61623\
         13c084d53465420352e30370b010f03062c2e2f1f21f92b2b02dc00ff0000",
    );
    let (s, counting) = parse(&d);
    let mac = MacAddr([0x00, 0x04, 0xe2, 0x34, 0x3d, 0x07]);
    assert!(s.facts.iter().all(|f| f.subject == Subject::Mac(mac)));
    assert_eq!(
        s.fact_pairs(),
        [
            ("hostname", "autlab1"),
            ("capability", "MSFT 5.0"),
            ("os", "Windows"),
        ]
    );
    assert_eq!(counting.counted, [("dhcp", 0)]);
    assert_eq!(
        text(&s, "parameter_request_list").as_deref(),
        Some("1,15,3,6,44,46,47,31,33,249,43")
    );
    assert_eq!(text(&s, "client_id").as_deref(), Some("00:04:e2:34:3d:07"));
    assert_eq!(text(&s, "os_hint").as_deref(), Some("Windows"));
}

#[test]
fn vendor_class_os_hints() {
    assert_eq!(os_of_vendor_class("MSFT 5.0").as_deref(), Some("Windows"));
    assert_eq!(
        os_of_vendor_class("android-dhcp-13").as_deref(),
        Some("Android")
    );
    assert_eq!(
        os_of_vendor_class("dhcpcd-9.4.1:Linux-6.1.0:x86_64:GenuineIntel").as_deref(),
        Some("Linux")
    );
    assert_eq!(os_of_vendor_class("ArubaAP"), None);
}

#[test]
fn fqdn_option_in_wire_format() {
    // Flags 0x05 (S, E), rcodes, then `host.example.` in DNS wire format.
    let v = hex("050000 04686f7374 076578616d706c65 00");
    assert_eq!(fqdn(&v).as_deref(), Some("host.example."));
    assert_eq!(fqdn(&hex("000000")), None);
    assert_eq!(wire_name(&hex("40")), None, "a label longer than 63 bytes");
}

#[test]
fn dhcpv6_solicit_from_windows() {
    // iti__wrapup.pcapng frame 8357: the DUID-LLT holds another interface's MAC than the
    // sender's (74:da:38:a8:83:79), so the facts are about the sender.
    let d = hex(
        "0132e5320008000200000001000e000100011cb906d4b083fe8c76910003000c1874da38000000000000\
         00000027000a0008564a54492d5043330010000e0000013700084d53465420352e300006000800180017\
         00110027",
    );
    assert_eq!(probe_v6(&d), Probe::Match);
    let mut s = VecSink::default();
    Dhcpv6Dissector.parse(&d, Direction::ToServer, &mut s);
    let mut c = VecSink::counting();
    Dhcpv6Dissector.parse(&d, Direction::ToServer, &mut c);
    assert_eq!(s.facts, c.facts);
    assert!(s.facts.iter().all(|f| f.subject == Subject::Sender));
    assert_eq!(
        s.fact_pairs(),
        [
            ("hostname", "VJTI-PC3"),
            ("capability", "MSFT 5.0"),
            ("os", "Windows")
        ]
    );
    assert_eq!(s.events[0].function_name, Some("solicit"));
    assert_eq!(
        text(&s, "client_duid_mac").as_deref(),
        Some("b0:83:fe:8c:76:91")
    );
    assert_eq!(
        text(&s, "requested_options").as_deref(),
        Some("24,23,17,39")
    );
    assert!(s.events[0].anomalies.is_empty());

    // The same solicit relayed: the facts are about the DUID's MAC, the relay is a relay.
    let mut relayed = vec![12, 0];
    relayed.extend([0u8; 32]);
    relayed.extend([0, 9]);
    relayed.extend(u16::try_from(d.len()).unwrap().to_be_bytes());
    relayed.extend(&d);
    let mut s = VecSink::default();
    Dhcpv6Dissector.parse(&relayed, Direction::ToServer, &mut s);
    let mac = MacAddr([0xb0, 0x83, 0xfe, 0x8c, 0x76, 0x91]);
    assert_eq!(s.facts[0].subject, Subject::Sender);
    assert_eq!(s.fact_pairs()[0], ("role", "dhcp_relay"));
    assert!(s.facts[1..].iter().all(|f| f.subject == Subject::Mac(mac)));
    assert_eq!(text(&s, "inner_message").as_deref(), Some("solicit"));
    assert!(s.events[0].anomalies.is_empty());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            v6 in any::<bool>(),
            b in proptest::collection::vec(any::<u8>(), 0..700),
        ) {
            let mut events = VecSink::default();
            let mut counting = VecSink::counting();
            if v6 {
                Dhcpv6Dissector.parse(&b, Direction::ToServer, &mut events);
                Dhcpv6Dissector.parse(&b, Direction::ToServer, &mut counting);
            } else {
                DhcpDissector.parse(&b, Direction::ToServer, &mut events);
                DhcpDissector.parse(&b, Direction::ToServer, &mut counting);
            }
            prop_assert_eq!(&events.facts, &counting.facts);
            prop_assert_eq!(events.events.len(), counting.counted.len());
        }

        #[test]
        fn options_after_a_valid_header_never_panic(
            opts in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut d = vec![1, 1, 6, 0];
            d.resize(236, 0);
            d.extend(MAGIC);
            d.extend(opts);
            let mut s = VecSink::default();
            DhcpDissector.parse(&d, Direction::ToServer, &mut s);
            prop_assert_eq!(s.events.len(), 1);
        }
    }
}
