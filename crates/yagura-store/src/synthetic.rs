//! Synthetic inventories of any size, for the benchmark and the store's tests (never for
//! a user's data): deterministic, with the shape of a plant network (controllers, HMIs,
//! workstations; every asset with a few sourced attribute values; cyclic polling edges).

use yagura_core::{IpAddr, MacAddr, Timestamp};
use yagura_model::inventory::{Asset, AttributeValue, DeviceType, Edge, Inventory, Source};

const T0: u64 = 1_767_225_600 * 1_000_000_000; // 2026-01-01T00:00:00Z

/// `assets` assets and `edges` edges (at most `assets × (assets − 1)`). `generation`
/// shifts the times one hour per step and changes the firmware of every tenth asset, as
/// a later capture of the same plant would.
pub fn inventory(assets: usize, edges: usize, generation: u32) -> Inventory {
    let t = |s: u64| Timestamp(T0 + (u64::from(generation) * 3600 + s) * 1_000_000_000);
    let types = [
        DeviceType::Plc,
        DeviceType::Hmi,
        DeviceType::EngineeringWorkstation,
        DeviceType::IoModule,
        DeviceType::Switch,
    ];
    let mut inv = Inventory::default();
    for i in 0..assets {
        let n = i as u32;
        let b = n.to_be_bytes();
        let mac = MacAddr([0x00, 0x1b, b[0], b[1], b[2], b[3]]);
        let firmware = if i % 10 == 0 {
            format!("V4.{generation}.0")
        } else {
            "V4.0.0".to_string()
        };
        let src = |s: &str| {
            vec![Source {
                source: s.to_string(),
                first_seen: t(1),
                last_seen: t(3000),
            }]
        };
        let ty = types[i % types.len()];
        inv.assets.push(Asset {
            id: format!("mac:{mac}"),
            via: None,
            route: None,
            ips: vec![IpAddr::from([10, b[1], b[2], b[3]])],
            mac: Some(mac),
            mac_locally_administered: Some(false),
            vendor: Some("Siemens".into()),
            device_type: ty,
            device_type_confidence: 80,
            device_type_reasons: vec![format!("serves s7comm (synthetic {i})")],
            model: Some("CPU 1214C DC/DC/DC".into()),
            order_number: Some("6ES7 214-1AG40-0XB0".into()),
            firmware: Some(firmware.clone()),
            hardware: None,
            serial: Some(format!("S C-X{i:08}")),
            hostname: Some(format!("plc-{i}")),
            names: vec![format!("PLC_{i}")],
            os: None,
            protocols: vec!["s7comm".into()],
            roles: vec!["s7comm_server".into()],
            purdue_level: Some(1),
            purdue_reasons: vec!["controller".into()],
            user_overrides: Vec::new(),
            first_seen: t(0),
            last_seen: t(3599),
            packets_sent: 1000 + i as u64,
            bytes_sent: 100_000 + i as u64,
            attributes: vec![
                AttributeValue {
                    attribute: "firmware".into(),
                    value: firmware,
                    confidence: 90,
                    sources: src("s7comm"),
                },
                AttributeValue {
                    attribute: "model".into(),
                    value: "CPU 1214C DC/DC/DC".into(),
                    confidence: 90,
                    sources: src("s7comm"),
                },
                AttributeValue {
                    attribute: "vendor".into(),
                    value: "Siemens".into(),
                    confidence: 30,
                    sources: src("oui"),
                },
            ],
        });
    }
    let n = assets.max(1);
    for j in 0..edges.min(assets * assets.saturating_sub(1)) {
        let src = j % n;
        let dst = (src + 1 + j / n) % n;
        inv.edges.push(Edge {
            src: inv.assets[src].id.clone(),
            dst: inv.assets[dst].id.clone(),
            transport: "tcp".into(),
            dst_port: 102,
            protocol: Some("s7comm".into()),
            operations: vec!["read".into()],
            packets: 200 + j as u64 % 50,
            bytes: 20_000,
            sessions: 1,
            first_seen: t(0),
            last_seen: t(3599),
            polling_period_s: Some(0.5),
        });
    }
    inv.edges
        .sort_by(|x, y| (&x.src, &x.dst).cmp(&(&y.src, &y.dst)));
    inv
}
