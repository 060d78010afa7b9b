//! Threat intelligence end to end through the command line: `yagura intel import|list|
//! remove` with a plain list and a STIX 2.1 bundle (testdata/intel), then `yagura analyze
//! --db` raising exactly the `intel_match` alerts the indicators call for, with their
//! evidence packets, and none for the benign neighbours (a sibling domain, an address just
//! outside a network, a revoked and an expired STIX indicator).
//!
//! The captures: `testdata/pcap/sample/zeek__modbusSmall.pcap` (166 packets, from the
//! corpus: a Modbus host at 118.189.96.132 that also queries DNS for mail.google.com,
//! frames 101 and 103, and videosearch.ubuntu.com) and `testdata/intel/tls-http-loopback.pcap`
//! (27 packets, testdata/intel/README.md: a TLS 1.2 handshake to 127.0.0.2 for
//! update.plc-vendor.example, ClientHello frame 4 and certificate frame 6, and an HTTP
//! request to 127.0.0.3 for historian-backup.example, frame 19). Analysed together, the
//! second capture's packets follow the first's: frame N of it is input index 165 + N. The
//! certificate's fingerprints in bundle.json were computed with openssl over the PEM the
//! server used and checked with tshark's `tls.handshake.certificate` bytes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn yagura(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .output()
        .expect("run yagura")
}

fn ok(args: &[&str]) -> String {
    let out = yagura(args);
    assert!(
        out.status.success(),
        "yagura {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn testdata(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel);
    assert!(p.is_file(), "missing {}", p.display());
    p.display().to_string()
}

/// `(source, destination, protocol, indicator, evidence indices)` of each `intel_match`.
type Seen = (String, String, Option<String>, String, Vec<u64>);

fn intel_alerts(db: &str) -> Vec<Seen> {
    let list: serde_json::Value = serde_json::from_str(&ok(&[
        "alerts",
        "list",
        "--db",
        db,
        "--kind",
        "intel_match",
        "--format",
        "json",
    ]))
    .unwrap();
    let mut v: Vec<Seen> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let ip = |side: &str| a[side]["ip"].as_str().unwrap_or("").to_owned();
            (
                ip("src"),
                ip("dst"),
                a["protocol"].as_str().map(str::to_owned),
                a["function"]["name"].as_str().unwrap().to_owned(),
                a["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["index"].as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn imported_indicators_raise_exactly_their_matches_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plant.db").display().to_string();
    let (feed, bundle) = (testdata("intel/feed.txt"), testdata("intel/bundle.json"));

    let out = ok(&["intel", "import", &feed, &bundle, "--db", &db]);
    assert!(
        out.contains("feed.txt: 5 indicators read, 1 rejected, 0 revoked and 0 expired skipped"),
        "{out}"
    );
    assert!(
        out.contains("line 15 \"this is not an indicator\""),
        "{out}"
    );
    assert!(
        out.contains("bundle.json: 4 indicators read, 1 rejected, 1 revoked and 1 expired skipped, 1 duplicates"),
        "{out}"
    );
    assert!(
        out.contains("AND: only patterns joined by OR are supported"),
        "{out}"
    );
    assert!(
        out.contains("bundle.json: 4 new, 0 updated, 0 unchanged, 0 removed"),
        "{out}"
    );
    assert!(
        out.contains("feed.txt: 5 new, 0 updated, 0 unchanged, 0 removed"),
        "{out}"
    );
    // Again: nothing changes.
    let again = ok(&[
        "intel", "import", &feed, &bundle, "--db", &db, "--lang", "ja",
    ]);
    assert!(
        again.contains("feed.txt: 新規 0 件、更新 0 件、変更なし 5 件、削除 0 件"),
        "{again}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["intel", "list", "--db", &db, "--format", "json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 9);
    let cert = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "sha256")
        .unwrap();
    assert_eq!(cert["name"], "Certificate of the fake update server");
    assert_eq!(
        cert["stix_id"],
        "indicator--1c7f2a4b-3d5e-4f60-9b8c-0d1e2f3a4b5c"
    );

    ok(&[
        "analyze",
        &testdata("pcap/sample/zeek__modbusSmall.pcap"),
        &testdata("intel/tls-http-loopback.pcap"),
        "--db",
        &db,
    ]);
    let s = |v: &str| v.to_owned();
    let modbus_host = s("118.189.96.132");
    let got = intel_alerts(&db);
    let (ip_alert, rest) = got.split_first().unwrap();
    // The address, over every connection of the host (to itself, in this anonymised
    // capture): its first packet is the capture's first.
    assert_eq!(
        (&ip_alert.0, &ip_alert.1, &ip_alert.2, ip_alert.3.as_str()),
        (&modbus_host, &modbus_host, &None, "ip 118.189.96.132")
    );
    assert_eq!(ip_alert.4.len(), 8);
    assert_eq!(ip_alert.4[0], 0);
    assert!(ip_alert.4.iter().all(|i| *i < 166));
    assert_eq!(
        rest,
        [
            (
                modbus_host.clone(),
                modbus_host.clone(),
                Some(s("dns")),
                s("domain google.com"),
                vec![100, 102],
            ),
            (
                s("127.0.0.1"),
                s("127.0.0.2"),
                Some(s("tls")),
                s("domain update.plc-vendor.example"),
                vec![165 + 4],
            ),
            (
                s("127.0.0.1"),
                s("127.0.0.2"),
                Some(s("tls")),
                s("sha1 bde757c886007345296610e6d4ef15a7cb47a208"),
                vec![165 + 6],
            ),
            (
                s("127.0.0.1"),
                s("127.0.0.2"),
                Some(s("tls")),
                s("sha256 09b984ad7d0282d0eaf4c15d79f5f9116ef4d9db7b145aadaddd43229a8f2198"),
                vec![165 + 6],
            ),
            (
                s("127.0.0.1"),
                s("127.0.0.3"),
                Some(s("http")),
                s("domain historian-backup.example"),
                vec![165 + 19],
            ),
        ]
    );
    // The benign neighbours: none of these indicators is in an alert.
    for quiet in [
        "ail.google.com",
        "118.189.96.128/30",
        "date.plc-vendor.example",
        "videosearch.ubuntu.com",
        "127.0.0.3",
    ] {
        let value = |a: &Seen| a.3.split_once(' ').unwrap().1.to_owned();
        assert!(got.iter().all(|a| value(a) != quiet), "{quiet} raised");
    }

    // The description says what matched, the indicator and where it came from.
    let id = |name: &str| -> String {
        let list: serde_json::Value = serde_json::from_str(&ok(&[
            "alerts",
            "list",
            "--db",
            &db,
            "--kind",
            "intel_match",
            "--format",
            "json",
        ]))
        .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["function"]["name"] == name)
            .unwrap()["id"]
            .to_string()
    };
    let sni = ok(&[
        "alerts",
        "show",
        &id("domain update.plc-vendor.example"),
        "--db",
        &db,
    ]);
    assert!(
        sni.contains("for the server name update.plc-vendor.example"),
        "{sni}"
    );
    assert!(
        sni.contains(
            "from bundle.json (\"Fake PLC vendor update server\": Serves trojanised firmware"
        ),
        "{sni}"
    );
    let dns = ok(&["alerts", "show", &id("domain google.com"), "--db", &db]);
    assert!(
        dns.contains(
            "for mail.google.com, which matches the domain indicator google.com from feed.txt"
        ),
        "{dns}"
    );
    let ipa = ok(&["alerts", "show", &id("ip 118.189.96.132"), "--db", &db]);
    assert!(ipa.contains("dns (udp 53), modbus (tcp 502)"), "{ipa}");
    assert!(ipa.contains("Seen in 19 sessions"), "{ipa}");

    // A source removed is gone; an unknown one is an error.
    assert!(ok(&["intel", "remove", "--source", "feed.txt", "--db", &db]).contains("5 indicators"));
    assert!(
        !yagura(&["intel", "remove", "--source", "feed.txt", "--db", &db])
            .status
            .success()
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["intel", "list", "--db", &db, "--format", "json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
}

#[test]
fn a_file_that_is_not_a_bundle_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plant.db").display().to_string();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type": "bundle", "objects": [ {"type": "indicator""#,
    )
    .unwrap();
    let feed = testdata("intel/feed.txt");
    let out = yagura(&["intel", "import", &feed, bad.to_str().unwrap(), "--db", &db]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a STIX 2.1 bundle"), "{err}");
    // Nothing was imported, not even the good file before it.
    if std::path::Path::new(&db).exists() {
        let listed = ok(&["intel", "list", "--db", &db, "--format", "json"]);
        assert_eq!(listed.trim(), "[]");
    }
}
