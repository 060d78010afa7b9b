//! The operational engine over the corpus's attack and benign captures: each attack raises
//! exactly the expected alerts, its benign neighbour none (issue 5, §5).

use std::sync::atomic::AtomicBool;

use yagura_core::{IpAddr, OperationClass, Timestamp, Transport};
use yagura_detect::{Alert, AlertBook, AlertKind, Severity, operational};
use yagura_engine::operations::{OperationEndpoint, OperationObservation, OperationPacket};
use yagura_engine::{EngineConfig, Progress};

/// Alerts of one corpus capture, as `yagura analyze` raises them.
fn alerts(rel: &str) -> Vec<Alert> {
    alerts_of_path(&yagura_testkit::corpus(rel))
}

fn alerts_of_path(path: &std::path::Path) -> Vec<Alert> {
    let path = path.to_path_buf();
    let mut src = yagura_capture::file::open_paths(std::slice::from_ref(&path)).expect("open");
    let report = yagura_engine::run(
        src.as_mut(),
        &EngineConfig::default(),
        &Progress::default(),
        &AtomicBool::new(false),
    )
    .expect("analyze");
    let built = yagura_model::fusion::build_detailed(&report);
    let mut book = AlertBook::new();
    raise_ops(
        &mut book,
        &report.observations.operations,
        &built.inventory.assets,
    );
    book.finish().alerts
}

/// `(kind, src, dst, protocol, function name, count)` of an alert.
type Row = (AlertKind, String, String, String, String, u64);

/// The [`Row`] of each alert, in id order.
fn summary(a: &[Alert]) -> Vec<Row> {
    a.iter()
        .map(|a| {
            (
                a.kind,
                a.src.ip.map(|i| i.to_string()).unwrap_or_default(),
                a.dst.ip.map(|i| i.to_string()).unwrap_or_default(),
                a.protocol.clone().unwrap_or_default(),
                a.function
                    .as_ref()
                    .map(|f| f.name.clone())
                    .unwrap_or_default(),
                a.count,
            )
        })
        .collect()
}

fn row(kind: AlertKind, src: &str, dst: &str, proto: &str, function: &str, count: u64) -> Row {
    (
        kind,
        src.into(),
        dst.into(),
        proto.into(),
        function.into(),
        count,
    )
}

#[test]
fn s7_plc_stop_raises_one_critical_alert_with_its_evidence() {
    let a = alerts("pcap/s7comm/iti__snap7_s300_stop.pcapng");
    assert_eq!(
        summary(&a),
        [row(
            AlertKind::PlcStop,
            "134.249.62.206",
            "134.249.61.163",
            "s7comm",
            "plc_stop",
            1
        )]
    );
    let a = &a[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.title_ja, "PLC 停止コマンドの送信");
    assert_eq!(a.function.as_ref().map(|f| f.code), Some(0x29));
    assert_eq!(a.dst.port, Some(102));
    // The Job carrying the stop is the capture's first packet.
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(a.evidence[0].index, 0);
    assert_eq!(a.evidence[0].time, a.first_seen);
    // Explained: who, to whom, what it does, and what the sender is.
    for part in [
        "134.249.62.206",
        "134.249.61.163",
        "plc_stop (function 0x29)",
        "stops the controller's program",
        "engineering workstation",
    ] {
        assert!(
            a.description.contains(part),
            "{part:?} not in {:?}",
            a.description
        );
    }
}

#[test]
fn attack_captures_raise_exactly_the_expected_alerts() {
    use AlertKind::*;
    let cases: &[(&str, Vec<Row>)] = &[
        (
            "pcap/enip/iti__cip_start_plc.pcap",
            vec![row(
                PlcStart,
                "192.168.1.69",
                "192.168.1.30",
                "cip",
                "start",
                1,
            )],
        ),
        (
            // The "remote mode change" is a CIP Stop (0x07) to the Logix controller object
            // (class 0x8e): Remote Run to Remote Program, in which the controller no longer
            // runs its logic. A stop, not a `mode_change` (a mode in which it keeps running).
            "pcap/enip/iti__CL5000EIP-Remote_Mode_Change_Attempt.pcap",
            vec![row(
                PlcStop,
                "192.168.10.105",
                "192.168.10.121",
                "cip",
                "stop",
                1,
            )],
        ),
        (
            // One download, four functions (request download, two blocks the controller
            // asks for, download ended and the PI service that installs it): one alert.
            "pcap/s7comm/iti__step7_s300_download.pcapng",
            vec![row(
                ProgramDownload,
                "134.249.53.130",
                "134.249.61.182",
                "s7comm",
                "request_download",
                4,
            )],
        ),
        (
            // TIA Portal's hardware-configuration download: stop, download, start.
            "pcap/s7comm/iti__tia_s300_downloadHwConfig.pcapng",
            vec![
                row(
                    PlcStop,
                    "134.217.61.131",
                    "134.217.61.211",
                    "s7comm",
                    "plc_stop",
                    1,
                ),
                row(
                    ProgramDownload,
                    "134.217.61.131",
                    "134.217.61.211",
                    "s7comm",
                    "pi_service",
                    38,
                ),
                row(
                    PlcStart,
                    "134.217.61.131",
                    "134.217.61.211",
                    "s7comm",
                    "pi_service",
                    1,
                ),
            ],
        ),
        (
            // Modbus diagnostics from 10.0.0.57: three "force listen only mode" (answered
            // with exception 11, the gateway's target did not respond), three "restart
            // communications option" (which leaves listen-only mode), and two "clear
            // counters" (diagnostic, no alert).
            "pcap/modbus/sv__modbus.pcap",
            vec![
                row(
                    ModeChange,
                    "10.0.0.57",
                    "10.0.0.3",
                    "modbus",
                    "diagnostics",
                    3,
                ),
                row(
                    PlcRestart,
                    "10.0.0.57",
                    "10.0.0.3",
                    "modbus",
                    "diagnostics",
                    3,
                ),
            ],
        ),
        (
            // Four DeviceCommunicationControl requests (frames 265-271: disable and enable,
            // without and with a password) and four ReinitializeDevice.
            "pcap/bacnet/icsnpp-bacnet__bacnet_services.pcap",
            vec![
                row(
                    ModeChange,
                    "192.168.0.50",
                    "192.168.0.24",
                    "bacnet",
                    "device_communication_control",
                    4,
                ),
                row(
                    PlcRestart,
                    "192.168.0.50",
                    "192.168.0.24",
                    "bacnet",
                    "reinitialize_device",
                    4,
                ),
            ],
        ),
        (
            "pcap/dnp3/iti__warm_restart_and_response.pcap",
            vec![row(
                PlcRestart,
                "192.168.60.1",
                "192.168.60.130",
                "dnp3",
                "warm_restart",
                1,
            )],
        ),
        (
            "pcap/dnp3/zeek__dnp3_en_spon.pcap",
            vec![row(
                ConfigChange,
                "130.126.142.250",
                "130.126.140.229",
                "dnp3",
                "enable_unsolicited",
                1,
            )],
        ),
    ];
    for (rel, want) in cases {
        assert_eq!(&summary(&alerts(rel)), want, "{rel}");
    }
}

/// Alerts of hand-built traffic: a Modbus client sending each FC 8 request of `subs`
/// (sub-function, data) to a server, answered with an echo.
fn modbus_diagnostics(subs: &[(u16, u16)]) -> Vec<Alert> {
    use yagura_testkit::frames::{ACK, PSH, SYN, mac, pcap, tcp_frame};
    let c = (mac(10), [10, 0, 0, 10], 40001);
    let s = (mac(1), [10, 0, 0, 1], 502);
    let mut f = vec![
        (0, tcp_frame(c, s, 1, 0, SYN, &[])),
        (10, tcp_frame(s, c, 1, 2, SYN | ACK, &[])),
        (20, tcp_frame(c, s, 2, 2, ACK, &[])),
    ];
    let (mut cs, mut ss) = (2u32, 2u32);
    for (i, (sub, data)) in subs.iter().enumerate() {
        let t = 1000 + i as u64 * 1000;
        let [s0, s1] = sub.to_be_bytes();
        let [d0, d1] = data.to_be_bytes();
        let pdu = [0, i as u8, 0, 0, 0, 6, 1, 8, s0, s1, d0, d1];
        f.push((t, tcp_frame(c, s, cs, ss, PSH | ACK, &pdu)));
        cs += pdu.len() as u32;
        f.push((t + 100, tcp_frame(s, c, ss, cs, PSH | ACK, &pdu)));
        ss += pdu.len() as u32;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    std::fs::write(&path, pcap(&f)).unwrap();
    alerts_of_path(&path)
}

#[test]
fn modbus_force_listen_only_is_a_mode_change_and_an_echo_is_not() {
    // FC 8 sub-function 4, Force Listen Only Mode (data 0).
    let a = modbus_diagnostics(&[(4, 0)]);
    assert_eq!(
        summary(&a),
        [row(
            AlertKind::ModeChange,
            "10.0.0.10",
            "10.0.0.1",
            "modbus",
            "diagnostics",
            1
        )]
    );
    assert_eq!(a[0].severity, Severity::Major);
    assert!(
        a[0].description.contains("operating mode"),
        "{}",
        a[0].description
    );
    // Its neighbours: sub-function 0 (Return Query Data, an echo) and 0x0A (clear
    // counters), diagnostics.
    assert_eq!(summary(&modbus_diagnostics(&[(0, 0xa537), (0x0a, 0)])), []);
}

#[test]
fn s7_program_upload_is_one_alert_and_its_stop_another() {
    let s = summary(&alerts("pcap/s7comm/icsnpp-s7comm__snap7.pcap"));
    let kinds: Vec<AlertKind> = s.iter().map(|r| r.0).collect();
    assert_eq!(
        kinds,
        [
            AlertKind::ProgramUpload,
            AlertKind::PlcStop,
            AlertKind::PlcRestart
        ]
    );
    // start upload, upload and end upload of 4-5 blocks fold into one alert.
    assert_eq!(s[0].5, 13);
}

#[test]
fn benign_neighbours_raise_nothing() {
    for rel in [
        // Reading a ControlLogix's status: the neighbour of its stop and mode change.
        "pcap/enip/iti__CL5000EIP-View_Device_Status.pcap",
        // Modbus reads and writes, no restart.
        "pcap/modbus/icsnpp-modbus__modbus_example.pcap",
        // The DNP3 master setting the outstation's clock: routine, not a configuration
        // change (`clock_sync`).
        "pcap/dnp3/zeek__dnp3_rec_time.pcap",
        // BACnet time synchronisation broadcast, likewise.
        "pcap/bacnet/icsnpp-bacnet__bacnet_segmented_data.pcap",
        // A NetBIOS name refresh is a configuration change of a name table, not of a
        // controller: only industrial protocols raise operational alerts.
        "pcap/profinet/icsnpp-profinet-io-cm__profinet_io_cm_mixed_1.pcap",
        // IEC 104 control commands and interrogations (no reset process).
        "pcap/iec104/zeek-iec104__iec104.pcap",
    ] {
        assert_eq!(summary(&alerts(rel)), [], "{rel}");
    }
}

fn op(
    operation: OperationClass,
    protocol: &'static str,
    src: [u8; 4],
    dst: [u8; 4],
    t: u64,
) -> OperationObservation {
    let end = |a: [u8; 4], port| OperationEndpoint {
        ip: IpAddr::from(a),
        port,
        mac: None,
    };
    OperationObservation {
        operation,
        protocol,
        function: Some(1),
        function_name: Some("f"),
        src: end(src, 50000),
        dst: end(dst, 502),
        transport: Transport::TCP,
        first_seen: Timestamp(t),
        last_seen: Timestamp(t),
        count: 1,
        packets: vec![OperationPacket {
            index: t,
            time: Timestamp(t),
        }],
    }
}

#[test]
fn every_operational_class_raises_its_kind_and_no_other_class_does() {
    for class in OperationClass::ALL {
        let mut book = AlertBook::new();
        raise_ops(
            &mut book,
            &[op(class, "modbus", [10, 0, 0, 1], [10, 0, 0, 2], 5)],
            &[],
        );
        let a = book.finish().alerts;
        match AlertKind::for_operation(class) {
            Some(kind) => {
                assert!(class.is_operational(), "{class:?}");
                assert_eq!(a.len(), 1, "{class:?}");
                assert_eq!(a[0].kind, kind);
                assert!(a[0].description.contains("not in the inventory"));
            }
            None => {
                assert!(!class.is_operational(), "{class:?}");
                assert!(a.is_empty(), "{class:?} raised {a:?}");
            }
        }
    }
    // A firmware update (no corpus capture has one) is critical.
    let mut book = AlertBook::new();
    raise_ops(
        &mut book,
        &[op(
            OperationClass::FirmwareUpdate,
            "cip",
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            5,
        )],
        &[],
    );
    assert_eq!(book.finish().alerts[0].severity, Severity::Critical);
}

#[test]
fn it_protocols_raise_no_operational_alert() {
    for proto in ["nbns", "dhcp", "snmp", "http", "no_such_protocol"] {
        let mut book = AlertBook::new();
        raise_ops(
            &mut book,
            &[op(
                OperationClass::ConfigChange,
                proto,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                5,
            )],
            &[],
        );
        assert!(book.is_empty(), "{proto}");
    }
}

#[test]
fn repeats_fold_with_their_count_and_times() {
    let mut a = op(
        OperationClass::Stop,
        "s7comm",
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        100,
    );
    a.count = 5;
    a.last_seen = Timestamp(900);
    // The same stop through another function of the same protocol folds in.
    let mut b = op(
        OperationClass::Stop,
        "s7comm",
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        50,
    );
    b.function = Some(2);
    // Another controller is another alert.
    let c = op(
        OperationClass::Stop,
        "s7comm",
        [10, 0, 0, 1],
        [10, 0, 0, 3],
        70,
    );
    let mut book = AlertBook::new();
    raise_ops(&mut book, &[a, b, c], &[]);
    let alerts = book.finish().alerts;
    assert_eq!(alerts.len(), 2);
    let x = &alerts[0];
    assert_eq!(
        (x.count, x.first_seen, x.last_seen),
        (6, Timestamp(50), Timestamp(900))
    );
    assert_eq!(
        x.function.as_ref().map(|f| f.code),
        Some(2),
        "the earliest's function"
    );
    assert_eq!(alerts[1].dst.ip, Some(IpAddr::from([10, 0, 0, 3])));
}

/// The operational engine without a baseline (as `yagura analyze` without `--db`).
fn raise_ops(
    book: &mut AlertBook,
    ops: &[yagura_engine::operations::OperationObservation],
    assets: &[yagura_model::inventory::Asset],
) {
    operational::raise(book, ops, assets, None);
}
