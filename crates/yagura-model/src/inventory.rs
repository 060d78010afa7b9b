//! The inventory: assets (one per physical device) and the communication graph between
//! them, as the model builds it from a run's observations and as the store keeps it.
//!
//! These are plain data types: the fusion that fills them lives beside them in this crate,
//! the persistence in `yagura-store`. Every id is stable across runs (derived from the
//! device's MAC or, for hosts known only by address, its IP), so that a later run updates
//! the same asset.

use serde::Serialize;
use yagura_core::{IpAddr, MacAddr, Timestamp};

/// What kind of device an asset is, as a stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    Plc,
    Rtu,
    /// Protection relays, bay controllers.
    Ied,
    Hmi,
    EngineeringWorkstation,
    ScadaServer,
    Historian,
    OpcServer,
    /// Remote I/O, drives.
    IoModule,
    /// Protocol gateways, serial device servers.
    Gateway,
    Switch,
    Router,
    Firewall,
    Server,
    Workstation,
    Printer,
    /// Cameras and the like.
    Iot,
    Unknown,
}

impl DeviceType {
    /// Every type, in declaration order.
    pub const ALL: [DeviceType; 18] = [
        DeviceType::Plc,
        DeviceType::Rtu,
        DeviceType::Ied,
        DeviceType::Hmi,
        DeviceType::EngineeringWorkstation,
        DeviceType::ScadaServer,
        DeviceType::Historian,
        DeviceType::OpcServer,
        DeviceType::IoModule,
        DeviceType::Gateway,
        DeviceType::Switch,
        DeviceType::Router,
        DeviceType::Firewall,
        DeviceType::Server,
        DeviceType::Workstation,
        DeviceType::Printer,
        DeviceType::Iot,
        DeviceType::Unknown,
    ];

    /// The stable snake_case id.
    pub const fn id(self) -> &'static str {
        match self {
            DeviceType::Plc => "plc",
            DeviceType::Rtu => "rtu",
            DeviceType::Ied => "ied",
            DeviceType::Hmi => "hmi",
            DeviceType::EngineeringWorkstation => "engineering_workstation",
            DeviceType::ScadaServer => "scada_server",
            DeviceType::Historian => "historian",
            DeviceType::OpcServer => "opc_server",
            DeviceType::IoModule => "io_module",
            DeviceType::Gateway => "gateway",
            DeviceType::Switch => "switch",
            DeviceType::Router => "router",
            DeviceType::Firewall => "firewall",
            DeviceType::Server => "server",
            DeviceType::Workstation => "workstation",
            DeviceType::Printer => "printer",
            DeviceType::Iot => "iot",
            DeviceType::Unknown => "unknown",
        }
    }

    /// The type with this id.
    pub fn from_id(id: &str) -> Option<DeviceType> {
        DeviceType::ALL.into_iter().find(|t| t.id() == id)
    }
}

/// Where a value came from: the protocol (or `oui`, `user`, `inference`) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub source: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// One value of one attribute of an asset, with every source that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeValue {
    /// `yagura_core::Attribute` id (`vendor`, `model`, `firmware`, …).
    pub attribute: String,
    pub value: String,
    /// Confidence of the best source, 0–100 (OT-protocol identity 90, LLDP/SNMP 70,
    /// DHCP/NBNS 50, OUI 30, user 100).
    pub confidence: u8,
    pub sources: Vec<Source>,
}

/// A device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Asset {
    /// Stable id: `mac:00:1b:1b:aa:bb:cc` for a local host, `ip:10.0.0.5` for a host seen
    /// only through a router, `<carrier id>/<route>` (`mac:00:00:bc:3e:eb:e4/1:0`) for a
    /// module reached through another asset along a CIP route.
    pub id: String,
    /// For a module reached through another asset (a controller in a backplane slot
    /// behind an EtherNet/IP communication module): that asset's id, its carrier. It has
    /// no address and no MAC of its own.
    pub via: Option<String>,
    /// The route from the carrier to the module, in words (`backplane slot 0`).
    pub route: Option<String>,
    pub ips: Vec<IpAddr>,
    pub mac: Option<MacAddr>,
    /// The MAC is locally administered (likely randomised or virtual); absent without a MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_locally_administered: Option<bool>,
    pub vendor: Option<String>,
    pub device_type: DeviceType,
    /// 0–100.
    pub device_type_confidence: u8,
    /// Human-readable reasons for the type, strongest first.
    pub device_type_reasons: Vec<String>,
    pub model: Option<String>,
    pub order_number: Option<String>,
    pub firmware: Option<String>,
    pub hardware: Option<String>,
    pub serial: Option<String>,
    pub hostname: Option<String>,
    /// Every other name it is known by (station, PLC, NetBIOS, mDNS, sysName…).
    pub names: Vec<String>,
    pub os: Option<String>,
    /// Application protocols it speaks, sorted.
    pub protocols: Vec<String>,
    /// Roles seen in the traffic (`modbus_server`, `s7comm_client`, `dhcp_server`, …), sorted.
    pub roles: Vec<String>,
    /// Purdue level 0–5, when inferred or set.
    pub purdue_level: Option<u8>,
    pub purdue_reasons: Vec<String>,
    /// The user set type, name or level by hand (`yagura` never overwrites these).
    pub user_overrides: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Every attribute value with its sources, the evidence behind the fields above.
    pub attributes: Vec<AttributeValue>,
}

/// Who talks to whom with what: all traffic from one asset to another on one transport,
/// server port and application protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// Asset ids: `src` is the client (the side that opened or requested).
    pub src: String,
    pub dst: String,
    pub transport: String,
    /// The server's port (0 for port-less transports).
    pub dst_port: u16,
    pub protocol: Option<String>,
    /// Operation classes of the requests seen (`read`, `write`, `program_download`, …).
    pub operations: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub sessions: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The polling period in seconds, when the client's requests are cyclic.
    pub polling_period_s: Option<f64>,
}

/// A run's (or the store's) whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// Sorted by id.
    pub assets: Vec<Asset>,
    /// Sorted by (src, dst, transport, dst_port, protocol).
    pub edges: Vec<Edge>,
}
