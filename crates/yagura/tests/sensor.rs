//! `yagura sensor` end to end on a real interface: a veth pair whose far end lives in a
//! network namespace created for the test; a corpus capture is replayed into it from inside
//! the namespace, and the sensor's report must show exactly the replayed packets, the same
//! conversations `yagura analyze` finds in the file, and nothing sent by the sensor. With
//! `--db`, the inventory database must be up to date while the sensor runs, survive a
//! SIGKILL, and after a graceful stop hold what one ingest of the capture gives.
//! Needs root, iproute2 and tcpreplay; otherwise it says SKIPPED and passes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yagura_store::{InventoryStore, SqliteStore};

fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn skip_reason() -> Option<String> {
    match sh("id", &["-u"]) {
        Ok(u) if u.trim() == "0" => {}
        _ => return Some("not root".into()),
    }
    for (tool, arg) in [("ip", "-V"), ("tcpreplay", "-V")] {
        if Command::new(tool).arg(arg).output().is_err() {
            return Some(format!("`{tool}` not found"));
        }
    }
    None
}

/// The namespace and veth pair, removed on drop (also when the test fails).
struct Pair {
    ns: String,
    host: String,
    peer: String,
}

impl Pair {
    fn create() -> Result<Pair, String> {
        // Unique per process and per test (the tests of this file run in parallel).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let p = Pair {
            ns: format!("ygr-sensor-{id}"),
            host: format!("ygsh{id}"),
            peer: format!("ygsp{id}"),
        };
        sh("ip", &["netns", "add", &p.ns])?;
        sh(
            "ip",
            &[
                "link", "add", &p.host, "type", "veth", "peer", "name", &p.peer,
            ],
        )?;
        sh("ip", &["link", "set", &p.peer, "netns", &p.ns])?;
        // No IPv6 and no ARP on either end: the kernel itself must send nothing, so the
        // transmit counter proves the sensor sent nothing.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", p.host),
            "1",
        );
        let v6 = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", p.peer);
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &p.ns,
                "sh",
                "-c",
                &format!("[ ! -e {v6} ] || echo 1 > {v6}"),
            ],
        )?;
        sh("ip", &["link", "set", &p.host, "arp", "off", "up"])?;
        sh(
            "ip",
            &[
                "netns", "exec", &p.ns, "ip", "link", "set", &p.peer, "arp", "off", "up",
            ],
        )?;
        let t0 = Instant::now();
        while std::fs::read_to_string(format!("/sys/class/net/{}/operstate", p.host))
            .map(|s| s.trim() != "up")
            .unwrap_or(true)
        {
            if t0.elapsed() > Duration::from_secs(5) {
                return Err(format!("{} did not come up", p.host));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(p)
    }

    fn tx_packets(&self) -> u64 {
        std::fs::read_to_string(format!(
            "/sys/class/net/{}/statistics/tx_packets",
            self.host
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = sh("ip", &["link", "del", &self.host]);
        let _ = sh("ip", &["netns", "del", &self.ns]);
    }
}

use yagura_testkit::corpus;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (src, src_port, dst, dst_port, transport, protocol, packets) of every connection.
fn conns(r: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {} {} {}",
                c["src"],
                c["src_port"],
                c["dst"],
                c["dst_port"],
                c["transport"],
                c["protocol"],
                c["packets"]
            )
        })
        .collect();
    v.sort();
    v
}

/// `yagura sensor` on the pair's host end, two workers, quiet, with `args`; killed when
/// dropped if still running (also when the test fails).
struct Sensor(Option<Child>);

impl Sensor {
    fn start(pair: &Pair, args: &[&str]) -> Sensor {
        let child = Command::new(env!("CARGO_BIN_EXE_yagura"))
            .args([
                "sensor",
                "--interface",
                &pair.host,
                "--threads",
                "2",
                "--quiet",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sensor");
        // Let it open its sockets before anything is replayed.
        std::thread::sleep(Duration::from_millis(800));
        Sensor(Some(child))
    }

    fn pid(&self) -> String {
        self.0.as_ref().unwrap().id().to_string()
    }

    /// Send `signal` (`-KILL`, `-INT`) and wait for the sensor to end.
    fn signal(mut self, signal: &str) -> std::process::Output {
        sh("kill", &[signal, &self.pid()]).expect("signal the sensor");
        self.0.take().unwrap().wait_with_output().unwrap()
    }

    fn wait(mut self) -> std::process::Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Replay `file` into the pair from inside the namespace; `speed` is a tcpreplay option
/// (`--topspeed`, `--pps=N`).
fn replay(pair: &Pair, file: &Path, speed: &str) {
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &pair.ns,
            "tcpreplay",
            "-q",
            "-i",
            &pair.peer,
            speed,
            file.to_str().unwrap(),
        ],
    )
    .expect("replay");
}

#[test]
fn sensor_sees_exactly_the_replayed_traffic() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: live capture test needs root and iproute2+tcpreplay ({why})");
        return;
    }
    let file = corpus("pcap/modbus/zeek__modbusSmall.pcap");
    assert!(file.is_file(), "corpus capture missing: {}", file.display());
    let pair = Pair::create().expect("create veth pair in a test namespace");
    let tmp = tempfile::tempdir().unwrap();
    let (live_json, file_json) = (tmp.path().join("live.json"), tmp.path().join("file.json"));
    let tx_before = pair.tx_packets();

    let sensor = Sensor::start(
        &pair,
        &["--duration", "4", "--json", live_json.to_str().unwrap()],
    );
    replay(&pair, &file, "--topspeed");
    let out = sensor.wait();
    assert!(
        out.status.success(),
        "sensor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pair.tx_packets(),
        tx_before,
        "something was transmitted on the monitored interface"
    );

    let live = json(&live_json);
    assert_eq!(live["capture"]["packets"], 166, "{}", live["capture"]);
    assert_eq!(live["capture"]["link_types"]["ethernet"], 166);
    assert_eq!(live["capture"]["drops"]["kernel"], 0);
    assert!(live["capture"]["files"].as_array().unwrap().is_empty());

    let ok = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "analyze",
            "--quiet",
            file.to_str().unwrap(),
            "--json",
            file_json.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let from_file = json(&file_json);
    // The same conversations, protocols and packet counts as the file (times differ: the
    // replay stamps packets with the time they crossed the interface).
    assert_eq!(conns(&live), conns(&from_file));
    assert_eq!(live["pipeline"]["pdus"], from_file["pipeline"]["pdus"]);
}

/// An edge's identity: (src, dst, transport, server port, protocol).
type EdgeKey = (String, String, String, u16, String);

/// What an inventory database holds, as far as the sensor tests compare it.
#[derive(Debug, PartialEq)]
struct Db {
    /// Packets and bytes sent, per asset id.
    assets: BTreeMap<String, (u64, u64)>,
    /// Packets and bytes, per edge.
    edges: BTreeMap<EdgeKey, (u64, u64)>,
    /// The runs' packets and bytes, summed.
    packets: u64,
    bytes: u64,
}

/// Read the database at `path`: `Err` while it cannot be read (not created yet).
fn read_db(path: &Path) -> Result<(Db, u64), String> {
    let s = SqliteStore::open_existing(path).map_err(|e| e.to_string())?;
    let inv = s.load().map_err(|e| e.to_string())?;
    let runs = s.runs().map_err(|e| e.to_string())?;
    let db = Db {
        assets: inv
            .assets
            .iter()
            .map(|a| (a.id.clone(), (a.packets_sent, a.bytes_sent)))
            .collect(),
        edges: inv
            .edges
            .iter()
            .map(|e| (yagura_store::edge_key(e), (e.packets, e.bytes)))
            .collect(),
        packets: runs.iter().map(|r| r.packets).sum(),
        bytes: runs.iter().map(|r| r.bytes).sum(),
    };
    Ok((db, runs.iter().map(|r| r.ingests).sum()))
}

/// `yagura analyze --db` of `file` into the database at `db` (created if missing), read
/// back.
fn analyzed(file: &Path, db: &Path) -> Db {
    let ok = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(["analyze", "--quiet", "--db"])
        .arg(db)
        .arg(file)
        .status()
        .unwrap();
    assert!(ok.success());
    read_db(db).unwrap().0
}

// What the sensor and `yagura analyze` of the same file are compared on: every asset and
// edge with its packets and bytes, and the run's packets and bytes. The replay sends every
// frame of the file as it is (no link-level difference on a veth pair with ARP and IPv6
// off: the existing test proves the sensor sees exactly the file's packets), so those agree.
// Times differ (the replay stamps packets with their crossing time, and squeezes or
// stretches the capture), and so do what is derived from them: polling periods, and how
// many sessions a connection had (the file's idle gaps may end a flow where the replay's
// do not). Those are not compared.

#[test]
fn a_killed_sensor_leaves_an_up_to_date_database() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: live capture test needs root and iproute2+tcpreplay ({why})");
        return;
    }
    // Eleven devices (EtherNet/IP, NetBIOS, SMB, ARP, link-layer frames), 727 packets.
    let file = corpus("pcap/enip/iti__CL5000EIP-Remote_Mode_Change_Attempt.pcap");
    let pair = Pair::create().expect("create veth pair in a test namespace");
    let tmp = tempfile::tempdir().unwrap();
    let (live_db, file_db) = (tmp.path().join("live.db"), tmp.path().join("file.db"));
    let expected = analyzed(&file, &file_db);
    assert_eq!(expected.packets, 727);

    let sensor = Sensor::start(&pair, &["--db", live_db.to_str().unwrap()]);
    replay(&pair, &file, "--topspeed");
    // While the sensor runs, the database fills in: within a second for what is settled,
    // within the engine's 5-s hold for flows still waiting for an answer or a protocol.
    let t0 = Instant::now();
    let live = loop {
        if let Ok((db, _)) = read_db(&live_db)
            && db == expected
        {
            break db;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the running sensor's database did not catch up: {:?}\nexpected {expected:?}",
            read_db(&live_db)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(live.packets, 727);

    let out = sensor.signal("-KILL");
    assert!(!out.status.success(), "the sensor should have been killed");
    // Killed in the middle of whatever it was doing: the database opens, is consistent,
    // and holds what was committed, which was everything.
    let store = SqliteStore::open_existing(&live_db).expect("open after kill");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    drop(store);
    let (after, ingests) = read_db(&live_db).unwrap();
    assert_eq!(after, expected);
    assert!(ingests >= 1);
}

#[test]
fn a_stopped_sensor_leaves_what_one_ingest_of_the_captures_gives() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: live capture test needs root and iproute2+tcpreplay ({why})");
        return;
    }
    // Replayed at 100 packets per second and flushed every 0.1 s, so that flushes fall
    // everywhere: during the 16 Modbus connections' handshakes (their protocol not known
    // yet) and before a server first answers (its MAC not known yet).
    let files = [
        // Two devices, an S7comm connection and ARP; 240 packets.
        corpus("pcap/s7comm/iti__s7comm_reading_plc_status.pcap"),
        // One address, 16 short Modbus/TCP connections and DNS; 166 packets.
        corpus("pcap/modbus/zeek__modbusSmall.pcap"),
    ];
    let pair = Pair::create().expect("create veth pair in a test namespace");
    let tmp = tempfile::tempdir().unwrap();
    let (live_db, file_db) = (tmp.path().join("live.db"), tmp.path().join("file.db"));
    analyzed(&files[0], &file_db);
    let expected = analyzed(&files[1], &file_db);
    assert_eq!(expected.packets, 240 + 166);

    let sensor = Sensor::start(
        &pair,
        &["--db", live_db.to_str().unwrap(), "--flush-every", "0.1"],
    );
    for f in &files {
        replay(&pair, f, "--pps=100");
    }
    std::thread::sleep(Duration::from_millis(300));
    let out = sensor.signal("-INT");
    assert!(
        out.status.success(),
        "sensor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (live, ingests) = read_db(&live_db).unwrap();
    assert!(
        ingests >= 10,
        "{ingests} ingests: the test wants many flushes"
    );
    assert_eq!(live, expected);
}

/// An alert as the sensor tests compare it: (kind, source, destination) with its count and
/// its evidence packets' bytes.
type AlertsSeen = BTreeMap<(String, String, String), (u64, Vec<Vec<u8>>)>;

fn alerts_of(path: &Path) -> Result<AlertsSeen, String> {
    let s = SqliteStore::open_existing(path).map_err(|e| e.to_string())?;
    let list = s
        .alerts(&yagura_store::AlertFilter::default())
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for a in list {
        let a = a.alert;
        let side = |e: &yagura_detect::Endpoint| format!("{:?}/{:?}", e.ip, e.mac);
        let data = s
            .alert_evidence(a.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| p.data)
            .collect();
        out.insert(
            (a.kind.id().to_owned(), side(&a.src), side(&a.dst)),
            (a.count, data),
        );
    }
    Ok(out)
}

fn learning_period(path: &Path) -> Option<yagura_store::LearningPeriod> {
    SqliteStore::open_existing(path)
        .ok()?
        .learning_period()
        .ok()?
}

fn baseline_assets(path: &Path) -> Vec<String> {
    SqliteStore::open_existing(path)
        .and_then(|s| s.baseline())
        .map(|b| b.assets.iter().map(|a| a.id.clone()).collect())
        .unwrap_or_default()
}

fn yagura(args: &[&str]) {
    let ok = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .status()
        .unwrap();
    assert!(ok.success(), "yagura {args:?}");
}

/// `--learn-for`: the sensor learns for the period, then detects by itself. The period is
/// kept in the database, so a restarted sensor continues it. After the switch, the learned
/// traffic raises nothing and an S7 PLC stop between two new devices raises what `yagura
/// learn` + `yagura analyze` of the same files raise, with the same evidence bytes (taken
/// from the sensor's evidence buffer, not from a file). A SIGKILL keeps all of it.
#[test]
fn a_learning_sensor_switches_to_detection_and_keeps_alerts_with_evidence() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: live capture test needs root and iproute2+tcpreplay ({why})");
        return;
    }
    // Two devices reading a PLC's status over S7comm (240 packets); then an S7 PLC stop
    // between two other devices (2 packets).
    let normal = corpus("pcap/s7comm/iti__s7comm_reading_plc_status.pcap");
    let stop = corpus("pcap/s7comm/iti__snap7_s300_stop.pcapng");
    let pair = Pair::create().expect("create veth pair in a test namespace");
    let tmp = tempfile::tempdir().unwrap();
    let (live_db, file_db) = (tmp.path().join("live.db"), tmp.path().join("file.db"));
    let (live, file) = (live_db.to_str().unwrap(), file_db.to_str().unwrap());
    yagura(&["learn", "--quiet", normal.to_str().unwrap(), "--db", file]);
    yagura(&["analyze", "--quiet", stop.to_str().unwrap(), "--db", file]);
    let expected = alerts_of(&file_db).unwrap();
    assert!(
        expected.keys().any(|k| k.0 == "plc_stop") && expected.keys().any(|k| k.0 == "new_asset"),
        "{expected:?}"
    );

    // The first sensor learns the normal traffic and is stopped within its period.
    let first = Sensor::start(
        &pair,
        &["--db", live, "--learn-for", "10s", "--flush-every", "0.2"],
    );
    let period = learning_period(&live_db).expect("the period is begun at the start");
    replay(&pair, &normal, "--topspeed");
    let t0 = Instant::now();
    while baseline_assets(&live_db) != baseline_assets(&file_db) {
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "the learning sensor's baseline {:?}, expected {:?}",
            baseline_assets(&live_db),
            baseline_assets(&file_db)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = first.signal("-INT");
    assert!(
        out.status.success(),
        "sensor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        yagura_store::now() < period.until,
        "the test is too slow: the period ended before the restart"
    );
    assert_eq!(alerts_of(&live_db).unwrap(), AlertsSeen::new());

    // A second sensor continues the same period (whatever length it asks for), then
    // detects.
    let second = Sensor::start(
        &pair,
        &["--db", live, "--learn-for", "1h", "--flush-every", "0.2"],
    );
    assert_eq!(learning_period(&live_db), Some(period));
    while yagura_store::now() < period.until {
        std::thread::sleep(Duration::from_millis(100));
    }
    // One flush in detection first, so that the replay falls after the switch.
    std::thread::sleep(Duration::from_millis(500));
    replay(&pair, &normal, "--topspeed");
    replay(&pair, &stop, "--topspeed");
    let t0 = Instant::now();
    loop {
        let got = alerts_of(&live_db);
        if got.as_ref() == Ok(&expected) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the sensor's alerts {got:?}\nexpected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // At least two more flushes: the cumulative report raises the same alerts again, and
    // they are not counted again.
    std::thread::sleep(Duration::from_millis(1000));
    let out = second.signal("-KILL");
    assert!(!out.status.success(), "the sensor should have been killed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the learning period ended"),
        "the switch is not logged: {stderr}"
    );
    let store = SqliteStore::open_existing(&live_db).expect("open after kill");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    drop(store);
    assert_eq!(alerts_of(&live_db).unwrap(), expected);
    assert_eq!(baseline_assets(&live_db), baseline_assets(&file_db));
}
