use yagura_core::{Direction, FieldValue, Subject};

use super::*;
use crate::testutil::{VecSink, hex};

/// zeek__modbus-and-non-modbus-p502.pcap frame 49: a ClientHello without server name
/// (tshark: tls.handshake.version 0x0303, no extensions_server_name).
const CLIENT_HELLO: &str = "1603010085010000810303736ff818542129f78f492d9b1557dafcc7926f075fa314dc76a47a73d1b6f109000020c02fc030c02bc02ccca8cca9c013c009c014c00a009c009d002f0035c012000a01000038000500050100000000000a000a0008001d001700180019000b00020100000d000e000c040104030501050302010203ff0100010000120000";

/// Amazon Root CA 3 from Debian's ca-certificates (mozilla/Amazon_Root_CA_3.crt as DER;
/// `openssl x509 -subject -issuer`: C = US, O = Amazon, CN = Amazon Root CA 3 for both).
/// The corpus holds no TLS 1.2 server certificate, so a real certificate is framed here.
const CERT: &str = "308201b63082015ba0030201020213066c9fd5749736663f3b0b9ad9e89e7603f24a300a06082a8648ce3d0403023039310b3009060355040613025553310f300d060355040a1306416d617a6f6e3119301706035504031310416d617a6f6e20526f6f742043412033301e170d3135303532363030303030305a170d3430303532363030303030305a3039310b3009060355040613025553310f300d060355040a1306416d617a6f6e3119301706035504031310416d617a6f6e20526f6f7420434120333059301306072a8648ce3d020106082a8648ce3d030107034200042997a7c6417fc00d9be8011b56c6f252a5ba2db212e8d22ed7fac9c5d8aa6d1f73813b3b986b397c33a5c54e868e8017686245577d44581db337e56708eb66dea3423040300f0603551d130101ff040530030101ff300e0603551d0f0101ff040403020186301d0603551d0e04160414abb6dbd7069e37ac3086079170c79cc419b178c0300a06082a8648ce3d0403020349003046022100e08592a317b78df92b06a593ac1a98686172fae1a1d0fb1c7860a64399c5b8c40221009c02eff1949cb396f9ebc62af8b62cfe3a901416d78c6324481cdf307dd5683b";

fn str_field<'a>(e: &'a yagura_core::PduEvent, name: &str) -> Option<&'a str> {
    e.fields
        .iter()
        .find(|f| f.0 == name)
        .and_then(|f| match &f.1 {
            FieldValue::Str(v) => Some(v.as_str()),
            _ => None,
        })
}

/// A server's flight: a TLS 1.2 ServerHello (suite 0xc02f, no extensions) and a Certificate
/// message holding `CERT`, the Certificate split over two records.
fn server_flight() -> Vec<u8> {
    let cert = hex(CERT);
    let mut sh = vec![2, 0, 0, 38, 3, 3];
    sh.extend_from_slice(&[0x11; 32]);
    sh.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
    let n = cert.len();
    let mut cm = vec![11];
    cm.extend_from_slice(&((n + 6) as u32).to_be_bytes()[1..]);
    cm.extend_from_slice(&((n + 3) as u32).to_be_bytes()[1..]);
    cm.extend_from_slice(&(n as u32).to_be_bytes()[1..]);
    cm.extend_from_slice(&cert);
    let mut out = Vec::new();
    let (a, b) = cm.split_at(100);
    for frag in [&sh[..], a, b] {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(frag.len() as u16).to_be_bytes());
        out.extend_from_slice(frag);
    }
    // ChangeCipherSpec, then an encrypted Finished that must not be read.
    out.extend_from_slice(&[20, 3, 3, 0, 1, 1, 22, 3, 3, 0, 4, 1, 0, 0, 0]);
    out
}

#[test]
fn reads_a_client_hello() {
    let b = hex(CLIENT_HELLO);
    assert_eq!(crate::probes::tls(&b), Probe::Match);
    let mut s = VecSink::default();
    let p = TlsDissector::new(false).parse(&b, Direction::ToServer, &mut s);
    assert_eq!(p, Parsed::done(b.len()));
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].function_name, Some("client_hello"));
    assert_eq!(str_field(&s.events[0], "max_version"), Some("tls1.2"));
    assert!(s.events[0].anomalies.is_empty());
    assert!(s.facts.is_empty(), "no server name, no fact");
}

#[test]
fn reads_the_server_certificate_across_records() {
    let flight = server_flight();
    let mut whole = VecSink::default();
    let p = TlsDissector::new(false).parse(&flight, Direction::ToClient, &mut whole);
    assert_eq!(p, Parsed::done(flight.len()));
    let names: Vec<_> = whole.events.iter().map(|e| e.function_name).collect();
    assert_eq!(names, [Some("server_hello"), Some("certificate")]);
    assert_eq!(str_field(&whole.events[0], "version"), Some("tls1.2"));
    assert_eq!(whole.field(0, "cipher_suite"), Some(0xc02f));
    assert_eq!(
        str_field(&whole.events[1], "subject_cn"),
        Some("Amazon Root CA 3")
    );
    assert_eq!(str_field(&whole.events[1], "issuer_o"), Some("Amazon"));
    assert_eq!(
        whole.fact_pairs(),
        [
            ("service", "CN=Amazon Root CA 3, O=Amazon"),
            ("vendor", "Amazon")
        ]
    );
    assert!(whole.facts.iter().all(|f| f.subject == Subject::Sender));
    // The same however the stream is cut, and when only counting.
    for cut in 1..flight.len() {
        let mut d = TlsDissector::new(false);
        let mut s = VecSink::counting();
        let (a, b) = flight.split_at(cut);
        let used = d.parse(a, Direction::ToClient, &mut s).consumed;
        let mut rest = a[used..].to_vec();
        rest.extend_from_slice(b);
        assert_eq!(
            d.parse(&rest, Direction::ToClient, &mut s).consumed,
            rest.len()
        );
        assert_eq!(s.facts, whole.facts, "cut at {cut}");
        assert_eq!(s.counted.len(), 2, "cut at {cut}");
    }
}

#[test]
fn a_server_name_names_the_receiver() {
    // The corpus ClientHello with a server_name extension for "plc1.example" appended.
    let mut b = hex(CLIENT_HELLO);
    let name = b"plc1.example";
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    let grow = ext.len();
    b.extend_from_slice(&ext);
    for (at, width) in [(3usize, 2usize), (6, 3), (b.len() - grow - 0x3a, 2)] {
        let mut v = 0usize;
        for i in 0..width {
            v = v << 8 | b[at + i] as usize;
        }
        v += grow;
        for i in 0..width {
            b[at + i] = (v >> (8 * (width - 1 - i))) as u8;
        }
    }
    let mut s = VecSink::default();
    TlsDissector::new(false).parse(&b, Direction::ToServer, &mut s);
    assert_eq!(str_field(&s.events[0], "server_name"), Some("plc1.example"));
    assert_eq!(s.fact_pairs(), [("hostname", "plc1.example")]);
    assert_eq!(s.facts[0].subject, Subject::Receiver);
}

#[test]
fn garbage_resyncs_and_oversized_messages_are_dropped() {
    let mut d = TlsDissector::new(false);
    let mut s = VecSink::default();
    assert_eq!(
        d.parse(b"hello world", Direction::ToServer, &mut s),
        Parsed::done(11)
    );
    assert_eq!(s.events[0].anomalies, ["bad_header"]);
    let b = hex(CLIENT_HELLO);
    d.parse(&b, Direction::ToServer, &mut s);
    assert_eq!(s.events[1].function_name, Some("client_hello"));
    // A certificate message announcing 16 MiB.
    let mut d = TlsDissector::new(false);
    let big = [22, 3, 3, 0, 4, 11, 0xff, 0xff, 0xff];
    d.parse(&big, Direction::ToClient, &mut s);
    assert_eq!(s.events[2].anomalies, ["reassembly_overflow"]);
}

proptest::proptest! {
    /// Mutated real flights never panic, and counting gives the facts events give.
    #[test]
    fn mutated_flights_never_panic(pos in 0usize..600, val: u8, cut in 0usize..600, split in 0usize..600) {
        let mut b = server_flight();
        if pos < b.len() { b[pos] = val; }
        b.truncate(cut.max(1));
        let mut a = VecSink::default();
        let mut c = VecSink::counting();
        for sink in [&mut a, &mut c] {
            let mut d = TlsDissector::new(false);
            let (x, y) = b.split_at(split.min(b.len()));
            let used = d.parse(x, Direction::ToClient, sink).consumed;
            let mut rest = x[used..].to_vec();
            rest.extend_from_slice(y);
            d.parse(&rest, Direction::ToClient, sink);
        }
        proptest::prop_assert_eq!(a.facts, c.facts);
    }
}

/// A certificate's fingerprints are those openssl gives (`openssl x509 -inform der
/// -fingerprint -sha1 / -sha256` of `CERT`), handed over whether or not events are wanted;
/// the client's server name is one too.
#[test]
fn certificates_and_server_names_are_observables() {
    use yagura_core::ObservableKind;
    let mut s = VecSink::counting();
    TlsDissector::new(false).parse(&server_flight(), Direction::ToClient, &mut s);
    assert_eq!(
        s.observables,
        [
            (
                ObservableKind::TlsCertSha1,
                "0d44dd8c3c8c1a1a58756481e90f2e2affb3d26e".to_owned()
            ),
            (
                ObservableKind::TlsCertSha256,
                "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4".to_owned()
            ),
        ]
    );
    // A ClientHello without a server name names nothing.
    let mut s = VecSink::counting();
    TlsDissector::new(false).parse(&hex(CLIENT_HELLO), Direction::ToServer, &mut s);
    assert!(s.observables.is_empty());
}
