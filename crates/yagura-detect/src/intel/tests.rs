use super::*;
use yagura_core::MacAddr;

fn ind(kind: IndicatorKind, value: &str, source: &str) -> Indicator {
    Indicator {
        kind,
        value: normalise(kind, value).expect("valid"),
        source: source.into(),
        name: None,
        description: None,
        stix_id: None,
        valid_from: None,
        valid_until: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn values_are_normalised() {
    use IndicatorKind::*;
    assert_eq!(normalise(Ip, "10.1.2.3/24").as_deref(), Some("10.1.2.0/24"));
    assert_eq!(normalise(Ip, "10.1.2.3/32").as_deref(), Some("10.1.2.3"));
    assert_eq!(
        normalise(Ip, "2001:DB8::1/128").as_deref(),
        Some("2001:db8::1")
    );
    assert_eq!(
        normalise(Ip, "2001:db8::1/32").as_deref(),
        Some("2001:db8::/32")
    );
    assert_eq!(normalise(Ip, "0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
    for bad in [
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0",
        "10.0.0.0/0008",
    ] {
        assert_eq!(normalise(Ip, bad), None, "{bad}");
    }
    assert_eq!(
        normalise(Domain, "Evil.Example.").as_deref(),
        Some("evil.example")
    );
    for bad in ["", ".", "a..b", "a b", "10.0.0.1", "-", &"a".repeat(64)] {
        let ok = bad == "-";
        assert_eq!(normalise(Domain, bad).is_some(), ok, "{bad}");
    }
    assert_eq!(normalise(Sha1, &"AB".repeat(20)), Some("ab".repeat(20)));
    assert_eq!(normalise(Sha1, &"AB".repeat(16)), None);
    assert_eq!(normalise(Md5, &"zz".repeat(16)), None);
}

#[test]
fn rfc3339_times() {
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
    assert_eq!(
        parse_time("2024-02-29T12:34:56.789Z"),
        Some(Timestamp(1_709_210_096_789_000_000))
    );
    assert_eq!(
        parse_time("2024-02-29T21:34:56.789+09:00"),
        parse_time("2024-02-29T12:34:56.789Z")
    );
    assert_eq!(
        parse_time("2021-01-01T00:00:00Z").map(|t| t.to_rfc3339()),
        Some("2021-01-01T00:00:00.000000000Z".to_owned())
    );
    for bad in [
        "",
        "2024-13-01T00:00:00Z",
        "2024-01-01 00:00:00",
        "2024-01-01T00:00:00.Z",
        "1969-12-31T23:59:59Z",
        "2024-01-01T00:00:00+0900",
        "２０２４-01-01T00:00:00Z",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn addresses_match_exactly_and_networks_by_containment() {
    use IndicatorKind::*;
    let all = [
        ind(Ip, "198.51.100.7", "a"),
        ind(Ip, "198.51.100.7", "b"),
        ind(Ip, "203.0.113.0/25", "a"),
        ind(Ip, "10.0.0.0/8", "a"),
        ind(Ip, "2001:db8::/32", "a"),
    ];
    let ix = IntelIndex::new(&all);
    let hits = |s: &str| -> Vec<&str> { ix.ip(ip(s)).map(|g| ix.groups[g].value).collect() };
    assert_eq!(hits("198.51.100.7"), ["198.51.100.7"]);
    assert_eq!(
        ix.groups[0].of.len(),
        2,
        "one value from two sources is one group"
    );
    assert!(hits("198.51.100.8").is_empty());
    assert_eq!(hits("203.0.113.127"), ["203.0.113.0/25"]);
    assert!(hits("203.0.113.128").is_empty(), "just outside the network");
    assert_eq!(hits("10.255.0.1"), ["10.0.0.0/8"]);
    assert_eq!(hits("2001:db8:ffff::1"), ["2001:db8::/32"]);
    assert!(hits("2001:db9::1").is_empty());
    assert!(hits("::ffff:10.0.0.1").is_empty(), "families are not mixed");
}

#[test]
fn domains_match_their_subdomains_only() {
    let all = [
        ind(IndicatorKind::Domain, "evil.example", "a"),
        ind(IndicatorKind::Domain, "c2.evil.example", "a"),
    ];
    let ix = IntelIndex::new(&all);
    let hits =
        |s: &str| -> Vec<&str> { ix.name(s).into_iter().map(|g| ix.groups[g].value).collect() };
    assert_eq!(hits("evil.example"), ["evil.example"]);
    assert_eq!(hits("a.b.evil.example"), ["evil.example"]);
    assert_eq!(
        hits("x.c2.evil.example"),
        ["c2.evil.example", "evil.example"]
    );
    assert!(hits("notevil.example").is_empty());
    assert!(hits("evil.example.com").is_empty());
    assert!(hits("example").is_empty());
}

#[test]
fn codes_are_stable_and_tell_indicators_apart() {
    // FNV-1a of "domain:evil.example" (computed apart, in Python): a change would split
    // open alerts in a database.
    assert_eq!(code(IndicatorKind::Domain, "evil.example"), 0xe976_a1f7);
    assert_ne!(
        code(IndicatorKind::Domain, "evil.example"),
        code(IndicatorKind::Domain, "evil.examplf")
    );
}

/// A report holding only `observables` (no connection, no asset).
fn report_of(observables: Vec<Observable>) -> Report {
    Report {
        schema: yagura_engine::report::SCHEMA,
        generator: yagura_engine::report::Generator {
            name: "yagura",
            version: "test",
        },
        capture: Default::default(),
        assets: Vec::new(),
        connections: Vec::new(),
        protocols: Vec::new(),
        pipeline: Default::default(),
        observations: yagura_engine::report::Observations {
            observables,
            ..Default::default()
        },
    }
}

fn dns(name: &str, ts: u64, index: u64, count: u64, server_mac: Option<MacAddr>) -> Observable {
    use yagura_engine::operations::{OperationEndpoint, OperationPacket};
    Observable {
        kind: ObservableKind::DnsQuery,
        value: name.into(),
        protocol: "dns",
        client: OperationEndpoint {
            ip: ip("10.0.0.8"),
            port: 40000,
            mac: MacAddr::parse("00:e0:18:00:00:08"),
        },
        server: OperationEndpoint {
            ip: ip("10.0.0.53"),
            port: 53,
            mac: server_mac,
        },
        first_seen: Timestamp(ts),
        last_seen: Timestamp(ts + 10),
        count,
        packets: vec![OperationPacket {
            index,
            time: Timestamp(ts),
        }],
    }
}

/// Names below one indicator asked of one resolver are one alert with their total, whether
/// or not the resolver's MAC was seen on every flow; a sibling name raises nothing.
#[test]
fn names_of_one_indicator_and_pair_fold_into_one_alert() {
    let resolver = MacAddr::parse("00:c0:9f:00:00:53");
    let report = report_of(vec![
        dns("a.evil.example", 1_000, 5, 3, resolver),
        dns("evil.example", 2_000, 9, 2, None),
        dns("notevil.example", 3_000, 12, 1, resolver),
    ]);
    let built = yagura_model::fusion::build_detailed(&report);
    let all = [ind(IndicatorKind::Domain, "evil.example", "feed.txt")];
    let ix = IntelIndex::new(&all);
    let mut book = AlertBook::new();
    raise(&mut book, &ix, &report, &built);
    let alerts = book.finish().alerts;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.count, 5);
    assert_eq!(a.dst.mac, resolver);
    assert_eq!(a.protocol.as_deref(), Some("dns"));
    assert_eq!(
        a.function.as_ref().map(|f| f.name.as_str()),
        Some("domain evil.example")
    );
    let idx: Vec<u64> = a.evidence.iter().map(|p| p.index).collect();
    assert_eq!(idx, [5, 9]);
    assert!(
        a.description.contains(
            "asked the DNS server 10.0.0.53 for a.evil.example, evil.example, which match the \
             domain indicator evil.example from feed.txt. Seen 5 times"
        ),
        "{}",
        a.description
    );
}
