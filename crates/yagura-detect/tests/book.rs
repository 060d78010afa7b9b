//! The alert book: folding, the bound, and merges that do not depend on their order.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use yagura_core::{MacAddr, Timestamp};
use yagura_detect::{
    AlertBook, AlertKind, Alerts, Endpoint, Engine, Function, MAX_EVIDENCE, PacketRef, Raise,
    Severity, Status,
};

fn ip(last: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
}

fn mac(last: u8) -> Option<MacAddr> {
    Some(MacAddr([0x00, 0x1b, 0x1b, 0, 0, last]))
}

fn at(index: u64, secs: u64) -> PacketRef {
    PacketRef {
        index,
        time: Timestamp::from_secs_nanos(secs, 0),
    }
}

/// An S7 stop from the engineering station .10 to the PLC .20, seen at packet `index`.
fn stop(index: u64, secs: u64) -> Raise {
    Raise {
        kind: AlertKind::PlcStop,
        time: Timestamp::from_secs_nanos(secs, 0),
        src: Endpoint {
            ip: ip(10),
            mac: mac(10),
            port: Some(49_152 + index as u16),
        },
        dst: Endpoint {
            ip: ip(20),
            mac: mac(20),
            port: Some(102),
        },
        protocol: Some("s7comm".into()),
        function: Some(Function {
            code: 0x29,
            name: "plc_stop".into(),
        }),
        description: format!("10.0.0.10 sent an S7 PLC Stop to 10.0.0.20 (packet {index})"),
        evidence: vec![at(index, secs)],
    }
}

#[test]
fn a_raise_becomes_a_new_alert_with_the_catalogue_fields() {
    let mut book = AlertBook::new();
    book.raise(stop(5, 100));
    let Alerts { alerts, overflow } = book.finish();
    assert_eq!(overflow, 0);
    let [a] = &alerts[..] else {
        panic!("{alerts:?}")
    };
    assert_eq!(a.id, 1);
    assert_eq!(a.count, 1);
    assert_eq!(a.first_seen, Timestamp::from_secs_nanos(100, 0));
    assert_eq!(a.last_seen, a.first_seen);
    assert_eq!(a.kind, AlertKind::PlcStop);
    assert_eq!(a.engine, Engine::Operational);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.title, "PLC stop command sent");
    assert_eq!(a.title_ja, "PLC 停止コマンドの送信");
    assert_eq!(a.status, Status::New);
    assert_eq!(a.evidence, vec![at(5, 100)]);
}

#[test]
fn a_repeat_folds_into_one_alert() {
    let mut book = AlertBook::new();
    book.raise(stop(5, 100));
    book.raise(stop(9, 160)); // another source port: still the same behaviour
    assert_eq!(book.len(), 1);
    let alerts = book.finish().alerts;
    let a = &alerts[0];
    assert_eq!(a.count, 2);
    assert_eq!(a.first_seen, Timestamp::from_secs_nanos(100, 0));
    assert_eq!(a.last_seen, Timestamp::from_secs_nanos(160, 0));
    assert_eq!(a.evidence, vec![at(5, 100), at(9, 160)]);
    // The alert describes its first occurrence.
    assert!(a.description.ends_with("(packet 5)"), "{}", a.description);
    assert_eq!(a.src.port, Some(49_157));
}

#[test]
fn evidence_keeps_the_first_packets_only() {
    let mut book = AlertBook::new();
    // Out of order, as two workers' packets may come: the first ones by index are kept.
    for i in (0..20).rev() {
        book.raise(stop(100 + i, 1_000 + i));
    }
    let alerts = book.finish().alerts;
    let a = &alerts[0];
    assert_eq!(a.count, 20);
    assert_eq!(a.evidence.len(), MAX_EVIDENCE);
    let kept: Vec<u64> = a.evidence.iter().map(|p| p.index).collect();
    assert_eq!(kept, (100..108).collect::<Vec<_>>());
    assert_eq!(a.first_seen, Timestamp::from_secs_nanos(1_000, 0));
    assert_eq!(a.last_seen, Timestamp::from_secs_nanos(1_019, 0));
}

#[test]
fn a_different_peer_or_function_is_a_different_alert() {
    let mut book = AlertBook::new();
    book.raise(stop(1, 10));
    let mut other_dst = stop(2, 20);
    other_dst.dst.ip = ip(21);
    book.raise(other_dst);
    let mut other_dst_mac = stop(3, 30);
    other_dst_mac.dst.mac = mac(21);
    book.raise(other_dst_mac);
    let plc_control = Some(Function {
        code: 0x28,
        name: "plc_control".into(),
    });
    // A policy kind is about the function itself: another function, another alert.
    let mut policy = stop(4, 40);
    policy.kind = AlertKind::UnauthorizedFunction;
    book.raise(policy.clone());
    policy.function = plc_control.clone();
    policy.time = Timestamp::from_secs_nanos(41, 0);
    book.raise(policy);
    let mut other_kind = stop(5, 50);
    other_kind.kind = AlertKind::PlcStart;
    book.raise(other_kind);
    let alerts = book.finish().alerts;
    assert_eq!(alerts.len(), 6);
    assert!(alerts.iter().all(|a| a.count == 1));
    let ids: Vec<u64> = alerts.iter().map(|a| a.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    assert_eq!(alerts[5].kind, AlertKind::PlcStart);
    assert_eq!(alerts[5].severity, Severity::Major);
}

#[test]
fn an_operational_behaviour_folds_across_its_functions() {
    // A program download takes several functions of one protocol: one alert, with the
    // earliest occurrence's function.
    let mut book = AlertBook::new();
    let mut later = stop(2, 20);
    later.function = Some(Function {
        code: 0x28,
        name: "plc_control".into(),
    });
    book.raise(later);
    book.raise(stop(1, 10));
    let alerts = book.finish().alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 2);
    assert_eq!(alerts[0].function.as_ref().map(|f| f.code), Some(0x29));
}

#[test]
fn ids_follow_first_occurrence_not_arrival() {
    let mut book = AlertBook::new();
    let mut late = stop(50, 500);
    late.dst.ip = ip(30);
    book.raise(late);
    book.raise(stop(1, 10));
    let alerts = book.finish().alerts;
    assert_eq!(alerts[0].id, 1);
    assert_eq!(alerts[0].dst.ip, ip(20));
    assert_eq!(alerts[1].id, 2);
    assert_eq!(alerts[1].dst.ip, ip(30));
}

#[test]
fn a_full_book_counts_new_alerts_as_overflow() {
    let mut book = AlertBook::with_max_alerts(2);
    for host in 0..5u8 {
        let mut r = stop(u64::from(host), u64::from(host));
        r.src.ip = ip(100 + host);
        book.raise(r.clone());
        // A repeat of a stored alert still folds; a repeat of a refused one overflows.
        book.raise(r);
    }
    assert_eq!(book.len(), 2);
    assert_eq!(book.overflow(), 6);
    let Alerts { alerts, overflow } = book.finish();
    assert_eq!(overflow, 6);
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a.count == 2));
}

#[test]
fn merge_beyond_the_bound_keeps_the_earliest() {
    let book_of = |hosts: std::ops::Range<u8>| {
        let mut book = AlertBook::with_max_alerts(3);
        for h in hosts {
            let mut r = stop(u64::from(h), u64::from(h));
            r.src.ip = ip(100 + h);
            book.raise(r);
        }
        book
    };
    let mut a = book_of(3..6);
    a.merge(book_of(0..3));
    assert_eq!(
        a.len(),
        6,
        "merge keeps the union; finish applies the bound"
    );
    let Alerts { alerts, overflow } = a.finish();
    assert_eq!(overflow, 3);
    let srcs: Vec<_> = alerts.iter().map(|a| a.src.ip).collect();
    assert_eq!(srcs, [ip(100), ip(101), ip(102)]);
}

#[test]
fn alerts_serialise_with_the_report_fields() {
    let mut book = AlertBook::new();
    book.raise(stop(5, 1_767_225_600));
    let json = serde_json::to_value(book.finish()).unwrap();
    let a = &json["alerts"][0];
    assert_eq!(a["id"], 1);
    assert_eq!(a["kind"], "plc_stop");
    assert_eq!(a["engine"], "operational");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["status"], "new");
    assert_eq!(a["first_seen"], "2026-01-01T00:00:00.000000000Z");
    assert_eq!(a["src"]["ip"], "10.0.0.10");
    assert_eq!(a["src"]["mac"], "00:1b:1b:00:00:0a");
    assert_eq!(a["dst"]["port"], 102);
    assert_eq!(a["protocol"], "s7comm");
    assert_eq!(a["function"]["code"], 41);
    assert_eq!(a["evidence"][0]["index"], 5);
    assert_eq!(json["overflow"], 0);
}

/// Raises over a small space of values, so that repeats, equal times and shared packets
/// are common.
fn raise_strategy() -> impl Strategy<Value = Raise> {
    (
        0..3usize,
        0..40u64,
        (0..3u8, 0..2u8, 0..3u8),
        proptest::option::of(0..3u16),
        0..3usize,
        0..2usize,
        proptest::collection::vec((0..30u64, 0..40u64), 0..4),
    )
        .prop_map(
            |(kind, secs, (src, dst, dst_mac), port, function, desc, evidence)| Raise {
                kind: [
                    AlertKind::PlcStop,
                    AlertKind::NewConnection,
                    AlertKind::PortScan,
                ][kind],
                time: Timestamp::from_secs_nanos(secs, 0),
                src: Endpoint {
                    ip: ip(src),
                    mac: mac(src),
                    port,
                },
                dst: Endpoint {
                    ip: ip(50 + dst),
                    mac: mac(50 + dst_mac),
                    port: Some(502),
                },
                protocol: Some("modbus".into()),
                function: [
                    None,
                    Some(Function {
                        code: 5,
                        name: "write_single_coil".into(),
                    }),
                    Some(Function {
                        code: 5,
                        name: "other_name".into(),
                    }),
                ][function]
                    .clone(),
                description: ["one", "two"][desc].into(),
                evidence: evidence.into_iter().map(|(i, s)| at(i, s)).collect(),
            },
        )
}

fn book_of(raises: impl IntoIterator<Item = Raise>, max: usize) -> AlertBook {
    let mut book = AlertBook::with_max_alerts(max);
    for r in raises {
        book.raise(r);
    }
    book
}

proptest! {
    #[test]
    fn merging_a_split_equals_one_book(
        raises in proptest::collection::vec((raise_strategy(), any::<bool>()), 0..60),
    ) {
        let whole = book_of(raises.iter().map(|(r, _)| r.clone()), 10_000).finish();
        let left = || book_of(raises.iter().filter(|(_, l)| *l).map(|(r, _)| r.clone()), 10_000);
        let right = || book_of(raises.iter().filter(|(_, l)| !*l).map(|(r, _)| r.clone()), 10_000);
        let mut lr = left();
        lr.merge(right());
        let mut rl = right();
        rl.merge(left());
        let (lr, rl) = (lr.finish(), rl.finish());
        prop_assert_eq!(&lr, &whole);
        prop_assert_eq!(&rl, &whole);
        let total: u64 = whole.alerts.iter().map(|a| a.count).sum();
        prop_assert_eq!(total, raises.len() as u64);
    }

    #[test]
    fn merge_order_does_not_matter_beyond_the_bound(
        raises in proptest::collection::vec((raise_strategy(), 0..3usize), 0..60),
        max in 1..6usize,
    ) {
        let part = |n: usize| book_of(raises.iter().filter(|(_, p)| *p == n).map(|(r, _)| r.clone()), max);
        let mut a = part(0);
        a.merge(part(1));
        a.merge(part(2));
        let mut b = part(2);
        let mut c = part(1);
        c.merge(part(0));
        b.merge(c);
        let (a, b) = (a.finish(), b.finish());
        prop_assert!(a.alerts.len() <= max);
        let total: u64 = a.alerts.iter().map(|x| x.count).sum::<u64>() + a.overflow;
        prop_assert_eq!(total, raises.len() as u64);
        prop_assert_eq!(a, b);
    }
}
