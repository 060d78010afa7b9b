//! `yagura sensor` end to end on a real interface: a veth pair whose far end lives in a
//! network namespace created for the test; a corpus capture is replayed into it from inside
//! the namespace, and the sensor's report must show exactly the replayed packets, the same
//! conversations `yagura analyze` finds in the file, and nothing sent by the sensor.
//! Needs root, iproute2 and tcpreplay; otherwise it says SKIPPED and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        let id = std::process::id() % 100_000;
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

fn corpus(rel: &str) -> PathBuf {
    std::env::var_os("YAGURA_CORPUS")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            PathBuf::from,
        )
        .join(rel)
}

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

    let sensor = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "sensor",
            "--interface",
            &pair.host,
            "--threads",
            "2",
            "--duration",
            "4",
            "--quiet",
            "--json",
        ])
        .arg(&live_json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sensor");
    std::thread::sleep(Duration::from_millis(800));
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
            "--topspeed",
            file.to_str().unwrap(),
        ],
    )
    .expect("replay");
    let out = sensor.wait_with_output().unwrap();
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
