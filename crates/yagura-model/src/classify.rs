//! Device type and Purdue level of an asset, from what it does (the protocols it serves and
//! uses, the operations it performs) and what it says (identity facts).
//!
//! The type rules are one table ([`RULES`]): each rule looks at an asset's [`Evidence`] and
//! may vote for a type with a score (0–100) and an English reason. The type with the best
//! score wins (each further rule agreeing adds 3, up to 99); its reasons, strongest first,
//! explain it. Adding a rule is adding one function and one line in the table.

use std::collections::{BTreeMap, BTreeSet};

use yagura_core::{Attribute, OperationClass, OperationSet, Transport};

use crate::inventory::{Asset, DeviceType};

/// How an asset uses one protocol as a client.
#[derive(Debug, Default, Clone)]
pub struct Used {
    /// Assets it talks to (indices of the run's assets).
    pub servers: BTreeSet<usize>,
    /// Those it polls cyclically.
    pub cyclic: BTreeSet<usize>,
    /// Operation classes of its requests.
    pub ops: OperationSet,
}

/// What is known of an asset for classification.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    /// Why its MAC is a router's, when it is.
    pub router: Option<String>,
    /// It has a public (internet) address.
    pub public: bool,
    /// Application protocols it serves (answered), with the clients.
    pub served: BTreeMap<&'static str, BTreeSet<usize>>,
    /// Transport ports it answered on, whatever the protocol.
    pub served_ports: BTreeSet<(Transport, u16)>,
    /// Application protocols it uses as a client.
    pub used: BTreeMap<&'static str, Used>,
    /// Every asset it talks to.
    pub peers: BTreeSet<usize>,
    /// Its attribute values with their confidence.
    pub facts: Vec<(Attribute, String, u8)>,
    /// Routes (in words) to the modules behind it that answered through it: it relays
    /// CIP to them (a communication module in front of a chassis backplane).
    pub modules: Vec<String>,
}

impl Evidence {
    pub fn uses(
        &mut self,
        protocol: Option<&'static str>,
        server: usize,
        ops: OperationSet,
        cyclic: bool,
        _port: u16,
    ) {
        self.peers.insert(server);
        if let Some(p) = protocol {
            let u = self.used.entry(p).or_default();
            u.servers.insert(server);
            if cyclic {
                u.cyclic.insert(server);
            }
            u.ops = u.ops.union(ops);
        }
    }

    pub fn serves(
        &mut self,
        protocol: Option<&'static str>,
        client: usize,
        transport: Transport,
        port: u16,
        answered: bool,
    ) {
        self.peers.insert(client);
        if !answered {
            return;
        }
        self.served_ports.insert((transport, port));
        if let Some(p) = protocol {
            self.served.entry(p).or_default().insert(client);
        }
    }

    pub fn fact(&mut self, attribute: Attribute, value: &str, confidence: u8) {
        self.facts.push((attribute, value.to_string(), confidence));
    }

    fn values(&self, attribute: Attribute) -> impl Iterator<Item = &str> {
        self.facts
            .iter()
            .filter(move |f| f.0 == attribute)
            .map(|f| f.1.as_str())
    }

    fn has_protocol(&self, p: &str) -> bool {
        self.served.contains_key(p) || self.used.contains_key(p)
    }
}

/// A rule's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub device_type: DeviceType,
    pub score: u8,
    pub reason: String,
}

fn vote(out: &mut Vec<Vote>, device_type: DeviceType, score: u8, reason: String) {
    out.push(Vote {
        device_type,
        score,
        reason,
    });
}

/// A rule: looks at the evidence, adds its votes.
pub type Rule = fn(&Evidence, &mut Vec<Vote>);

/// Every type rule, in the order their reasons are listed at equal scores.
pub const RULES: &[(&str, Rule)] = &[
    ("router_detected", router_detected),
    ("serves_ot_protocol", serves_ot_protocol),
    ("serves_it_service", serves_it_service),
    ("serves_port", serves_port),
    ("program_operations", program_operations),
    ("polls_controllers", polls_controllers),
    ("historian", historian),
    ("order_number", order_number),
    ("model_name", model_name),
    ("cip_device_type", cip_device_type),
    ("relays_to_modules", relays_to_modules),
    ("capability", capability),
    ("spanning_tree", spanning_tree),
    ("operating_system", operating_system),
    ("vendor", vendor),
    ("name_hint", name_hint),
];

/// Protocols whose servers are controllers (or what else they reveal), with a readable name.
const SERVED_OT: &[(&str, &str, DeviceType, u8)] = &[
    ("s7comm", "S7comm", DeviceType::Plc, 80),
    ("s7comm_plus", "S7comm-plus", DeviceType::Plc, 80),
    ("umas", "Modicon UMAS", DeviceType::Plc, 80),
    ("pccc", "PCCC", DeviceType::Plc, 70),
    ("srtp", "GE SRTP", DeviceType::Plc, 70),
    ("fins", "Omron FINS", DeviceType::Plc, 65),
    ("slmp", "Mitsubishi SLMP", DeviceType::Plc, 65),
    ("proconos", "ProConOS", DeviceType::Plc, 65),
    ("codesys", "CODESYS", DeviceType::Plc, 65),
    ("modbus", "Modbus/TCP", DeviceType::Plc, 60),
    ("ads", "Beckhoff ADS", DeviceType::Plc, 60),
    ("enip", "EtherNet/IP", DeviceType::Plc, 55),
    ("cip", "CIP", DeviceType::Plc, 55),
    ("bacnet", "BACnet", DeviceType::Plc, 40),
    ("dnp3", "DNP3 (an outstation)", DeviceType::Rtu, 75),
    (
        "iec104",
        "IEC 60870-5-104 (a controlled station)",
        DeviceType::Rtu,
        75,
    ),
    ("bsap", "BSAP", DeviceType::Rtu, 65),
    ("genisys", "Genisys", DeviceType::Rtu, 60),
    ("mms", "IEC 61850 MMS", DeviceType::Ied, 70),
    ("c37118", "IEEE C37.118 synchrophasors", DeviceType::Ied, 65),
    ("hart_ip", "HART-IP", DeviceType::Gateway, 60),
    ("opcua", "OPC UA", DeviceType::OpcServer, 70),
];

/// Protocols a controller is polled with (its clients are HMIs, SCADA servers, historians,
/// engineering stations).
fn is_ot(p: &str) -> bool {
    SERVED_OT
        .iter()
        .any(|s| s.0 == p && s.2 != DeviceType::OpcServer)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn router_detected(e: &Evidence, out: &mut Vec<Vote>) {
    if let Some(r) = &e.router {
        vote(out, DeviceType::Router, 85, r.clone());
    }
}

fn serves_ot_protocol(e: &Evidence, out: &mut Vec<Vote>) {
    for (p, name, t, score) in SERVED_OT {
        if let Some(clients) = e.served.get(p) {
            vote(
                out,
                *t,
                *score,
                format!(
                    "serves {name} to {}",
                    plural(clients.len(), "client", "clients")
                ),
            );
        }
    }
}

fn serves_it_service(e: &Evidence, out: &mut Vec<Vote>) {
    const IT: &[(&str, &str, u8)] = &[
        ("kerberos", "Kerberos (a domain controller)", 70),
        ("ldap", "LDAP", 65),
        ("dhcp", "DHCP", 55),
        ("dns", "DNS", 55),
        ("smtp", "SMTP", 55),
        ("syslog", "syslog", 55),
        ("ntp", "NTP", 50),
        ("smb", "SMB file sharing", 50),
        ("ftp", "FTP", 45),
    ];
    for (p, name, score) in IT {
        if e.served.contains_key(p) {
            vote(out, DeviceType::Server, *score, format!("serves {name}"));
        }
    }
    for role in e.values(Attribute::Role) {
        if let Some(p) = role.strip_suffix("_server")
            && IT.iter().any(|s| s.0 == p)
        {
            vote(out, DeviceType::Server, 55, format!("acts as a {p} server"));
        }
    }
}

fn serves_port(e: &Evidence, out: &mut Vec<Vote>) {
    #[rustfmt::skip]
    const PORTS: &[(u16, DeviceType, u8, &str)] = &[
        (9100, DeviceType::Printer, 80, "serves raw printing (tcp/9100)"),
        (515, DeviceType::Printer, 75, "serves LPD printing (tcp/515)"),
        (631, DeviceType::Printer, 70, "serves IPP printing (tcp/631)"),
        (554, DeviceType::Iot, 65, "serves RTSP video (tcp/554): a camera or recorder"),
        (5450, DeviceType::Historian, 75, "serves OSIsoft PI (tcp/5450)"),
    ];
    for (port, t, score, why) in PORTS {
        if e.served_ports.contains(&(Transport::TCP, *port)) {
            vote(out, *t, *score, (*why).to_string());
        }
    }
}

fn program_operations(e: &Evidence, out: &mut Vec<Vote>) {
    const PROGRAM: [(OperationClass, &str); 3] = [
        (OperationClass::ProgramDownload, "program download"),
        (OperationClass::ProgramUpload, "program upload"),
        (OperationClass::FirmwareUpdate, "firmware update"),
    ];
    const CONTROL: [(OperationClass, &str); 4] = [
        (OperationClass::Stop, "stop"),
        (OperationClass::Start, "start"),
        (OperationClass::Restart, "restart"),
        (OperationClass::ConfigChange, "configuration change"),
    ];
    for (p, u) in &e.used {
        if !is_ot(p) {
            continue;
        }
        let n = plural(u.servers.len(), "device", "devices");
        let found: Vec<&str> = PROGRAM
            .iter()
            .filter(|(op, _)| u.ops.contains(*op))
            .map(|(_, name)| *name)
            .collect();
        if !found.is_empty() {
            vote(
                out,
                DeviceType::EngineeringWorkstation,
                85,
                format!("performs {} ({p}) on {n}", found.join(", ")),
            );
            continue;
        }
        let found: Vec<&str> = CONTROL
            .iter()
            .filter(|(op, _)| u.ops.contains(*op))
            .map(|(_, name)| *name)
            .collect();
        if !found.is_empty() {
            vote(
                out,
                DeviceType::EngineeringWorkstation,
                65,
                format!("sends {} commands ({p}) to {n}", found.join(", ")),
            );
        }
    }
}

fn polls_controllers(e: &Evidence, out: &mut Vec<Vote>) {
    let mut servers = BTreeSet::new();
    let mut cyclic = BTreeSet::new();
    let mut protocols = Vec::new();
    for (p, u) in &e.used {
        if matches!(*p, "dnp3" | "iec104") {
            vote(
                out,
                DeviceType::ScadaServer,
                70,
                format!(
                    "is the {} master of {}",
                    if *p == "dnp3" { "DNP3" } else { "IEC 104" },
                    plural(u.servers.len(), "station", "stations")
                ),
            );
            continue;
        }
        if is_ot(p) {
            servers.extend(u.servers.iter().copied());
            cyclic.extend(u.cyclic.iter().copied());
            protocols.push(*p);
        }
    }
    if servers.is_empty() {
        return;
    }
    let what = protocols.join(", ");
    let n = servers.len();
    if n >= 5 {
        vote(
            out,
            DeviceType::ScadaServer,
            65,
            format!("polls {n} controllers ({what})"),
        );
    } else if !cyclic.is_empty() {
        vote(
            out,
            DeviceType::Hmi,
            60,
            format!(
                "polls {} cyclically ({what})",
                plural(cyclic.len(), "controller", "controllers")
            ),
        );
    } else {
        vote(
            out,
            DeviceType::Hmi,
            45,
            format!(
                "reads from or writes to {} ({what})",
                plural(n, "controller", "controllers")
            ),
        );
    }
}

fn historian(e: &Evidence, out: &mut Vec<Vote>) {
    const DATABASES: [u16; 5] = [1433, 1521, 3306, 5432, 5450];
    let mut servers = BTreeSet::new();
    let mut ops = OperationSet::default();
    for (p, u) in &e.used {
        if is_ot(p) {
            servers.extend(u.servers.iter().copied());
            ops = ops.union(u.ops);
        }
    }
    let read_only = ops.iter().all(|o| {
        matches!(
            o,
            OperationClass::Read | OperationClass::Identify | OperationClass::Diagnostic
        )
    });
    let database = DATABASES
        .iter()
        .any(|p| e.served_ports.contains(&(Transport::TCP, *p)));
    if servers.len() >= 3 && read_only && database {
        vote(
            out,
            DeviceType::Historian,
            75,
            format!(
                "only reads from {} controllers and serves a database",
                servers.len()
            ),
        );
    }
}

fn order_number(e: &Evidence, out: &mut Vec<Vote>) {
    #[rustfmt::skip]
    const PREFIXES: &[(&str, DeviceType, u8, &str)] = &[
        ("6ES7", DeviceType::Plc, 85, "a SIMATIC S7 CPU"),
        ("6ED1", DeviceType::Plc, 80, "a SIMATIC LOGO! controller"),
        ("6AV", DeviceType::Hmi, 85, "a SIMATIC HMI panel"),
        ("6GK5", DeviceType::Switch, 80, "a SCALANCE network component"),
        ("6GK7", DeviceType::Gateway, 70, "a SIMATIC NET communication processor"),
        ("6SL", DeviceType::IoModule, 80, "a SINAMICS drive"),
        ("6SE", DeviceType::IoModule, 80, "a SINAMICS/MICROMASTER drive"),
    ];
    for v in e.values(Attribute::OrderNumber) {
        let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        for (prefix, t, score, what) in PREFIXES {
            if compact.to_ascii_uppercase().starts_with(prefix) {
                vote(out, *t, *score, format!("order number {v} is {what}"));
            }
        }
    }
}

fn model_name(e: &Evidence, out: &mut Vec<Vote>) {
    // (pattern, whole-prefix match, type, score, what it is)
    #[rustfmt::skip]
    const MODELS: &[(&str, bool, DeviceType, u8, &str)] = &[
        ("CPU ", true, DeviceType::Plc, 85, "a controller CPU"),
        ("1756-L", true, DeviceType::Plc, 90, "a ControlLogix controller"),
        ("1769-L", true, DeviceType::Plc, 90, "a CompactLogix controller"),
        ("1768-L", true, DeviceType::Plc, 90, "a CompactLogix controller"),
        ("5069-L", true, DeviceType::Plc, 90, "a CompactLogix controller"),
        ("1747-L", true, DeviceType::Plc, 90, "an SLC 500 controller"),
        ("1761-L", true, DeviceType::Plc, 90, "a MicroLogix controller"),
        ("1762-L", true, DeviceType::Plc, 90, "a MicroLogix controller"),
        ("1763-L", true, DeviceType::Plc, 90, "a MicroLogix controller"),
        ("1764-L", true, DeviceType::Plc, 90, "a MicroLogix controller"),
        ("1766-L", true, DeviceType::Plc, 90, "a MicroLogix controller"),
        ("BMX P34", true, DeviceType::Plc, 90, "a Modicon M340 CPU"),
        ("BMXP34", true, DeviceType::Plc, 90, "a Modicon M340 CPU"),
        ("BME P58", true, DeviceType::Plc, 90, "a Modicon M580 CPU"),
        ("BMEP58", true, DeviceType::Plc, 90, "a Modicon M580 CPU"),
        ("140CPU", true, DeviceType::Plc, 90, "a Modicon Quantum CPU"),
        ("TM221", true, DeviceType::Plc, 85, "a Modicon M221 controller"),
        ("TM241", true, DeviceType::Plc, 85, "a Modicon M241 controller"),
        ("TM251", true, DeviceType::Plc, 85, "a Modicon M251 controller"),
        ("-AENT", false, DeviceType::IoModule, 85, "an EtherNet/IP I/O adapter"),
        ("1756-EN", true, DeviceType::Gateway, 65,
            "a ControlLogix EtherNet/IP communication module (the controller sits behind it, on the chassis backplane)"),
        ("1768-EN", true, DeviceType::Gateway, 65, "a CompactLogix EtherNet/IP communication module"),
        ("POWERFLEX", false, DeviceType::IoModule, 85, "a drive"),
        ("SINAMICS", false, DeviceType::IoModule, 85, "a drive"),
        ("PANELVIEW", false, DeviceType::Hmi, 85, "an operator panel"),
        ("SIPROTEC", false, DeviceType::Ied, 85, "a protection relay"),
        ("SEL-", true, DeviceType::Ied, 75, "an SEL protection relay or controller"),
        ("RELAY", false, DeviceType::Ied, 70, "a relay"),
        ("NPORT", false, DeviceType::Gateway, 80, "a serial device server"),
        ("MGATE", false, DeviceType::Gateway, 80, "a protocol gateway"),
        ("ANYBUS", false, DeviceType::Gateway, 75, "a protocol gateway"),
        ("SCALANCE", false, DeviceType::Switch, 75, "an industrial network component"),
        ("STRATIX", false, DeviceType::Switch, 80, "an industrial switch"),
        ("LASERJET", false, DeviceType::Printer, 80, "a printer"),
    ];
    for v in e
        .values(Attribute::Model)
        .chain(e.values(Attribute::ProductCode))
    {
        let up = v.to_ascii_uppercase();
        for (pat, prefix, t, score, what) in MODELS {
            let hit = if *prefix {
                up.starts_with(pat)
            } else {
                up.contains(pat)
            };
            if hit {
                vote(out, *t, *score, format!("model {v} is {what}"));
                break;
            }
        }
    }
}

/// CIP identity device types (CIP Vol. 1, device profiles) that say what a device is.
fn cip_device_type(e: &Evidence, out: &mut Vec<Vote>) {
    for v in e.values(Attribute::Capability) {
        let Some((proto, n)) = v.split_once(':') else {
            continue;
        };
        if !matches!(proto, "enip" | "cip") {
            continue;
        }
        let (t, score, what) = match n.parse::<u32>() {
            Ok(0x0e) => (DeviceType::Plc, 85, "Programmable Logic Controller"),
            Ok(0x18) => (DeviceType::Hmi, 80, "Human-Machine Interface"),
            Ok(0x02) => (DeviceType::IoModule, 75, "AC Drive"),
            Ok(0x13) => (DeviceType::IoModule, 75, "DC Drive"),
            Ok(0x25) => (DeviceType::IoModule, 75, "CIP Motion Drive"),
            Ok(0x07) => (DeviceType::IoModule, 75, "General Purpose Discrete I/O"),
            Ok(0x0c) => (DeviceType::Gateway, 55, "Communications Adapter"),
            _ => continue,
        };
        vote(
            out,
            t,
            score,
            format!("CIP identity says device type {n} ({what})"),
        );
    }
}

/// Relaying CIP to modules behind it (routed requests answered by a backplane slot) is
/// what a communication module does. Modest: a controller with its own Ethernet port
/// routes to its chassis too, and its identity (model, CIP device type) outvotes this.
fn relays_to_modules(e: &Evidence, out: &mut Vec<Vote>) {
    if e.modules.is_empty() {
        return;
    }
    vote(
        out,
        DeviceType::Gateway,
        60,
        format!(
            "relays CIP to {} behind it ({}): a communication module",
            plural(e.modules.len(), "module", "modules"),
            e.modules.join("; ")
        ),
    );
}

fn capability(e: &Evidence, out: &mut Vec<Vote>) {
    let caps: Vec<String> = e
        .values(Attribute::Capability)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let bridge = caps
        .iter()
        .any(|c| c.contains("bridge") || c.contains("switch"));
    let router = caps.iter().any(|c| c.contains("router"));
    if bridge {
        vote(
            out,
            DeviceType::Switch,
            80,
            "announces the bridge (switch) capability".into(),
        );
    } else if router {
        vote(
            out,
            DeviceType::Router,
            80,
            "announces the router capability".into(),
        );
    }
    if caps.iter().any(|c| c.starts_with("msft")) {
        vote(
            out,
            DeviceType::Workstation,
            45,
            "its DHCP vendor class is Microsoft's".into(),
        );
    }
}

fn spanning_tree(e: &Evidence, out: &mut Vec<Vote>) {
    if e.facts
        .iter()
        .any(|f| f.0 == Attribute::Role && f.1.starts_with("stp"))
        || e.has_protocol("stp")
    {
        vote(
            out,
            DeviceType::Switch,
            70,
            "sends spanning-tree BPDUs".into(),
        );
    }
}

fn operating_system(e: &Evidence, out: &mut Vec<Vote>) {
    for os in e.values(Attribute::Os) {
        let l = os.to_ascii_lowercase();
        if l.contains("windows") && l.contains("server") {
            vote(out, DeviceType::Server, 60, format!("runs {os}"));
        } else if l.contains("windows") {
            vote(out, DeviceType::Workstation, 55, format!("runs {os}"));
        }
    }
    if e.used.contains_key("smb") && !e.served.contains_key("smb") {
        vote(
            out,
            DeviceType::Workstation,
            40,
            "uses SMB as a client".into(),
        );
    }
}

fn vendor(e: &Evidence, out: &mut Vec<Vote>) {
    const FIREWALLS: [&str; 6] = [
        "fortinet",
        "palo alto",
        "check point",
        "sonicwall",
        "watchguard",
        "sophos",
    ];
    for v in e.values(Attribute::Vendor) {
        let l = v.to_ascii_lowercase();
        if FIREWALLS.iter().any(|f| l.contains(f)) {
            if e.router.is_some() {
                vote(
                    out,
                    DeviceType::Firewall,
                    88,
                    format!("routes traffic and is made by {v}, a firewall maker"),
                );
            } else {
                vote(
                    out,
                    DeviceType::Firewall,
                    50,
                    format!("made by {v}, a firewall maker"),
                );
            }
        }
        if l.contains("schweitzer") {
            vote(
                out,
                DeviceType::Ied,
                55,
                format!("made by {v}, a protection-relay maker"),
            );
        }
    }
}

fn name_hint(e: &Evidence, out: &mut Vec<Vote>) {
    const HINTS: &[(&str, DeviceType, &str)] = &[
        ("hist", DeviceType::Historian, "historian"),
        ("scada", DeviceType::ScadaServer, "SCADA"),
        ("hmi", DeviceType::Hmi, "HMI"),
        ("plc", DeviceType::Plc, "PLC"),
    ];
    for name in e
        .values(Attribute::Hostname)
        .chain(e.values(Attribute::Name))
    {
        let l = name.to_ascii_lowercase();
        for (hint, t, what) in HINTS {
            if l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.starts_with(hint))
            {
                vote(out, *t, 45, format!("its name {name} says {what}"));
            }
        }
    }
}

/// The type an asset's evidence points to.
pub struct Typed {
    pub device_type: DeviceType,
    pub confidence: u8,
    pub reasons: Vec<String>,
}

pub fn device_type(e: &Evidence) -> Typed {
    let mut votes = Vec::new();
    for (_, rule) in RULES {
        rule(e, &mut votes);
    }
    decide(votes)
}

/// Combine votes: per type, the best score plus 3 per further vote (at most 99); the best
/// type wins (ties: the order of [`DeviceType::ALL`]).
pub fn decide(votes: Vec<Vote>) -> Typed {
    let mut by: BTreeMap<DeviceType, Vec<Vote>> = BTreeMap::new();
    for v in votes {
        by.entry(v.device_type).or_default().push(v);
    }
    let mut best: Option<(u8, DeviceType)> = None;
    for (t, vs) in &by {
        let max = vs.iter().map(|v| v.score).max().unwrap_or(0);
        let extra = 3 * (vs.len().saturating_sub(1)).min(10) as u32;
        let score = (u32::from(max) + extra).min(99) as u8;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, *t));
        }
    }
    let Some((confidence, device_type)) = best else {
        return Typed {
            device_type: DeviceType::Unknown,
            confidence: 0,
            reasons: Vec::new(),
        };
    };
    let mut winners = by.remove(&device_type).unwrap_or_default();
    winners.sort_by_key(|v| std::cmp::Reverse(v.score));
    let mut reasons: Vec<String> = Vec::new();
    for v in winners {
        if !reasons.contains(&v.reason) {
            reasons.push(v.reason);
        }
    }
    // The strongest other reading, when it is strong, so the doubt is visible.
    if let Some(other) = by
        .values()
        .flatten()
        .filter(|v| v.score >= 50)
        .max_by(|a, b| {
            a.score
                .cmp(&b.score)
                .then(b.device_type.cmp(&a.device_type))
        })
    {
        reasons.push(format!(
            "but also {} (as a {})",
            other.reason,
            other.device_type.id()
        ));
    }
    Typed {
        device_type,
        confidence,
        reasons,
    }
}

/// The Purdue level of a device type alone, with its reason.
fn base_level(t: DeviceType) -> Option<(u8, &'static str)> {
    Some(match t {
        DeviceType::IoModule => (0, "I/O modules and drives are field level (0)"),
        DeviceType::Plc | DeviceType::Rtu | DeviceType::Ied => {
            (1, "controllers are basic control (level 1)")
        }
        DeviceType::Gateway => (1, "protocol gateways sit with the controllers (level 1)"),
        DeviceType::Hmi
        | DeviceType::EngineeringWorkstation
        | DeviceType::ScadaServer
        | DeviceType::OpcServer
        | DeviceType::Historian => (2, "supervisory control (level 2)"),
        DeviceType::Server | DeviceType::Workstation | DeviceType::Printer => (
            4,
            "IT devices are business level (4) unless they talk to control assets",
        ),
        DeviceType::Switch
        | DeviceType::Router
        | DeviceType::Firewall
        | DeviceType::Iot
        | DeviceType::Unknown => return None,
    })
}

/// Purdue levels of the run's assets (`evidence[i]` is `assets[i]`'s): by type, then by
/// position for historians and IT devices (who they talk to), and level 5 for public
/// addresses without a type.
pub fn purdue(assets: &[Asset], evidence: &[&Evidence]) -> Vec<(Option<u8>, Vec<String>)> {
    let base: Vec<Option<(u8, &str)>> = assets.iter().map(|a| base_level(a.device_type)).collect();
    assets
        .iter()
        .zip(evidence)
        .enumerate()
        .map(|(i, (a, e))| {
            let peers = |pred: &dyn Fn(u8) -> bool| {
                e.peers
                    .iter()
                    .filter(|&&p| p != i && base[p].is_some_and(|(l, _)| pred(l)))
                    .count()
            };
            match (a.device_type, base[i]) {
                (DeviceType::Historian | DeviceType::OpcServer, Some(_)) => {
                    let it = peers(&|l| l >= 3);
                    if it > 0 && peers(&|l| l <= 2) > 0 {
                        (
                            Some(3),
                            vec![format!(
                                "{} between control and site networks (it talks to {} at level 3 or above)",
                                a.device_type.id(),
                                plural(it, "IT asset", "IT assets")
                            )],
                        )
                    } else {
                        (Some(2), vec!["supervisory control (level 2)".into()])
                    }
                }
                (DeviceType::Server | DeviceType::Workstation | DeviceType::Printer, Some(_)) => {
                    let ot = peers(&|l| l <= 2);
                    if ot > 0 {
                        (
                            Some(3),
                            vec![format!(
                                "site operations: it talks to {} at level 2 or below",
                                plural(ot, "control asset", "control assets")
                            )],
                        )
                    } else {
                        (Some(4), vec!["IT device with no control-level peer (level 4)".into()])
                    }
                }
                (_, Some((l, why))) => (Some(l), vec![why.to_string()]),
                (DeviceType::Unknown, None) if e.public => (
                    Some(5),
                    vec!["a public internet address (level 5)".into()],
                ),
                _ => (None, Vec::new()),
            }
        })
        .collect()
}
