//! Identity facts: what the traffic reveals about a device (vendor, model, firmware, names…).
//!
//! Dissectors report them through `PduSink::identity` whatever the sink wants of events
//! (they are rare: a handful per device), the engine keeps them per host with their source
//! protocol and time, and the inventory (`yagura-model`) fuses them into assets.

use serde::Serialize;

use crate::{IpAddr, MacAddr};

/// Whom a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The sender of the PDU that carried it (a device answering an identification request,
    /// a DHCP client describing itself, an LLDP/CDP speaker).
    Sender,
    /// The receiver of that PDU.
    Receiver,
    /// A device named by its MAC inside the PDU (a DHCP client's `chaddr` relayed by
    /// another host).
    Mac(MacAddr),
    /// A device named by its address inside the PDU (a DNS, mDNS or NBNS answer).
    Ip(IpAddr),
}

/// What kind of attribute a fact gives, with a stable snake_case id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// Manufacturer name as the device states it ("Siemens", "Rockwell Automation").
    Vendor,
    /// A protocol's numeric vendor id (CIP, BACnet, Profinet), as `<protocol>:<number>`.
    VendorId,
    /// Product or model name ("CPU 1516-3 PN/DP", "1756-EN2T/D").
    Model,
    /// Product code or device type as a protocol numbers it (`cip:12`).
    ProductCode,
    /// Order number / catalogue number ("6ES7 516-3AN01-0AB0").
    OrderNumber,
    /// Firmware or software version ("V2.9.4", "20.11").
    Firmware,
    /// Hardware version.
    Hardware,
    /// Serial number.
    Serial,
    /// Host name (DHCP option 12, NBNS, mDNS, LLMNR, SMB, LLDP/CDP system name, DNS PTR).
    Hostname,
    /// Another name a device is known by: PLC/station/module name, plant id, SNMP sysName.
    Name,
    /// Windows domain or NetBIOS workgroup.
    Domain,
    /// Operating system ("Windows 10", "Linux", "VxWorks") or an OS hint.
    Os,
    /// A free-text self-description (SNMP sysDescr, LLDP system description, CDP version).
    Description,
    /// Hardware platform (CDP platform).
    Platform,
    /// SNMP sysObjectID.
    ObjectId,
    /// What the device says it is (LLDP/CDP capabilities `bridge`, `router`; CIP device
    /// type name; DHCP vendor class).
    Capability,
    /// A service the device announces or serves (mDNS/SSDP service type, HTTP Server
    /// header, TLS certificate subject).
    Service,
    /// A client program it runs (HTTP User-Agent).
    Software,
    /// A switch port the device sits on, or its own port id (LLDP/CDP).
    Port,
    /// A VLAN the device says it belongs to (LLDP/CDP native VLAN).
    Vlan,
    /// A management address it announces (LLDP/CDP), as text.
    ManagementAddress,
    /// A network role seen in the traffic (`dhcp_server`, `ntp_server`, `dns_server`,
    /// `stp_root_bridge`).
    Role,
    /// The state a device reports (CPU mode `run`/`stop`, CIP identity state).
    State,
    /// A fact worth noting about its security posture (an SNMP community in use, as a
    /// fingerprint, never in clear).
    Finding,
}

impl Attribute {
    /// The snake_case id used in reports and the store.
    pub const fn name(self) -> &'static str {
        match self {
            Attribute::Vendor => "vendor",
            Attribute::VendorId => "vendor_id",
            Attribute::Model => "model",
            Attribute::ProductCode => "product_code",
            Attribute::OrderNumber => "order_number",
            Attribute::Firmware => "firmware",
            Attribute::Hardware => "hardware",
            Attribute::Serial => "serial",
            Attribute::Hostname => "hostname",
            Attribute::Name => "name",
            Attribute::Domain => "domain",
            Attribute::Os => "os",
            Attribute::Description => "description",
            Attribute::Platform => "platform",
            Attribute::ObjectId => "object_id",
            Attribute::Capability => "capability",
            Attribute::Service => "service",
            Attribute::Software => "software",
            Attribute::Port => "port",
            Attribute::Vlan => "vlan",
            Attribute::ManagementAddress => "management_address",
            Attribute::Role => "role",
            Attribute::State => "state",
            Attribute::Finding => "finding",
        }
    }

    /// The attribute an event field of this name carries, for the identity field names the
    /// dissectors share (docs/events.md): `vendor`, `product_name`, `firmware_version`, …
    /// `None` for fields that are not identity facts.
    pub fn from_field(name: &str) -> Option<Attribute> {
        Some(match name {
            "vendor" => Attribute::Vendor,
            "vendor_id" => Attribute::VendorId,
            "product_name" | "model_name" | "module_type_name" | "model" => Attribute::Model,
            "product_code" => Attribute::ProductCode,
            "device_type" => Attribute::Capability,
            "order_number" => Attribute::OrderNumber,
            "firmware_version" | "software_version" => Attribute::Firmware,
            "hardware_version" => Attribute::Hardware,
            "serial_number" => Attribute::Serial,
            "hostname" => Attribute::Hostname,
            "station_name" | "plc_name" | "module_name" | "plant_id" | "application_name"
            | "sys_name" => Attribute::Name,
            "os" => Attribute::Os,
            "cpu_mode" | "state" => Attribute::State,
            _ => return None,
        })
    }
}

/// One identity fact as a dissector reports it; the engine stamps it with the time and
/// resolves the subject to the host's address and MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFact {
    /// Protocol that revealed it (`s7comm`, `lldp`, `dhcp`, …).
    pub protocol: &'static str,
    pub subject: Subject,
    pub attribute: Attribute,
    /// The value as seen (trimmed of padding); never a secret.
    pub value: String,
}
