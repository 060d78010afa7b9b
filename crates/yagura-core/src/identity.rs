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
    /// A device reached *through* the sender (or the receiver) along a route of its own
    /// ports: the module in a backplane slot behind an EtherNet/IP communication module,
    /// which answered a CIP request routed by an Unconnected Send. `via` owns the address
    /// and MAC; the fact is about the module at the end of `route`.
    Routed { via: Via, route: Route },
}

/// The end of a PDU that carries a routed device's fact: the device the route starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The PDU's sender (the responder that relayed the routed answer).
    Sender,
    /// The PDU's receiver.
    Receiver,
}

/// A CIP route: the hops (port, link address) from a device to the one it reached, as in a
/// route path's port segments (CIP Vol. 1, C-1.4.3): `port 1, link 0` is slot 0 of a
/// ControlLogix backplane. Inline and bounded (at most [`Route::MAX_BYTES`] bytes of hops),
/// so that it costs no allocation and can key a host.
///
/// Its text ([`std::fmt::Display`], also its serialised form) is stable and compact, one
/// `port:link` per hop joined by `/`: `1:0`, `1:2/2:10.0.0.5`. A one-byte link address is
/// a decimal number; a longer one is its text when it is an address-like ASCII string
/// (letters, digits, `.`, `-`, `_`), else `0x` and hex digits. [`Route::describe`] gives
/// the words for people.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    len: u8,
    /// Hops, each as port (u16, little endian), link address length, link address.
    buf: [u8; Route::MAX_BYTES],
}

impl Default for Route {
    fn default() -> Route {
        Route {
            len: 0,
            buf: [0; Route::MAX_BYTES],
        }
    }
}

impl Route {
    /// Bytes of hops a route holds: 10 backplane hops, or two hops with an IPv4 address
    /// as text. Longer routes are not kept (their facts are dropped).
    pub const MAX_BYTES: usize = 40;

    /// An empty route (no hop).
    pub fn new() -> Route {
        Route::default()
    }

    /// Add a hop: out of `port` to `link` (a slot, a node number, an address as text).
    /// False, the route unchanged, when it would not fit or `link` is empty or longer
    /// than 255 bytes.
    pub fn push(&mut self, port: u16, link: &[u8]) -> bool {
        let at = self.len as usize;
        let end = at + 3 + link.len();
        let Ok(n) = u8::try_from(link.len()) else {
            return false;
        };
        if link.is_empty() || end > Route::MAX_BYTES {
            return false;
        }
        self.buf[at..at + 2].copy_from_slice(&port.to_le_bytes());
        self.buf[at + 2] = n;
        self.buf[at + 3..end].copy_from_slice(link);
        self.len = end as u8;
        true
    }

    /// This route followed by `next` (a route taken from where this one ends); `None` when
    /// the whole does not fit.
    pub fn then(&self, next: &Route) -> Option<Route> {
        let mut r = *self;
        for (port, link) in next.hops() {
            if !r.push(port, link) {
                return None;
            }
        }
        Some(r)
    }

    /// No hop.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hops, in order: (port, link address).
    pub fn hops(&self) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        let b = &self.buf[..self.len as usize];
        let mut at = 0;
        std::iter::from_fn(move || {
            let port = u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]);
            let n = *b.get(at + 2)? as usize;
            let link = b.get(at + 3..at + 3 + n)?;
            at += 3 + n;
            Some((port, link))
        })
    }

    /// The route in words: `backplane slot 0`, `backplane slot 2, port 2 address
    /// 10.0.0.5`. Port 1 is the backplane (as Logix devices and Wireshark name it).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, (port, link)) in self.hops().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let link = LinkText(link);
            if port == 1 {
                s.push_str(&format!("backplane slot {link}"));
            } else {
                s.push_str(&format!("port {port} address {link}"));
            }
        }
        s
    }
}

/// A link address as text (see [`Route`]).
struct LinkText<'a>(&'a [u8]);

impl std::fmt::Display for LinkText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            [one] => write!(f, "{one}"),
            b if b
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')) =>
            {
                // ASCII only, so valid UTF-8.
                f.write_str(std::str::from_utf8(b).unwrap_or(""))
            }
            b => {
                f.write_str("0x")?;
                b.iter().try_for_each(|c| write!(f, "{c:02x}"))
            }
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (port, link)) in self.hops().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{port}:{}", LinkText(link))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Route({self})")
    }
}

impl Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_print_compactly_and_in_words() {
        let mut r = Route::new();
        assert!(r.is_empty());
        assert!(r.push(1, &[0]));
        assert_eq!(r.to_string(), "1:0");
        assert_eq!(r.describe(), "backplane slot 0");
        let mut next = Route::new();
        assert!(next.push(2, b"10.0.0.5"));
        let both = r.then(&next).unwrap();
        assert_eq!(both.to_string(), "1:0/2:10.0.0.5");
        assert_eq!(both.describe(), "backplane slot 0, port 2 address 10.0.0.5");
        let mut odd = Route::new();
        assert!(odd.push(300, &[0x12, b'/', 0xff]));
        assert_eq!(odd.to_string(), "300:0x122fff");
        assert_eq!(odd.describe(), "port 300 address 0x122fff");
        assert_eq!(
            both.hops().collect::<Vec<_>>(),
            [(1, &[0u8][..]), (2, &b"10.0.0.5"[..])]
        );
    }

    #[test]
    fn routes_are_bounded() {
        let mut r = Route::new();
        for slot in 0..10 {
            assert!(r.push(1, &[slot]));
        }
        // 10 hops of 4 bytes fill the 40 bytes.
        assert!(!r.push(1, &[10]));
        assert_eq!(r.hops().count(), 10);
        assert!(!Route::new().push(1, &[]), "a hop needs a link address");
        assert!(!Route::new().push(2, &[b'x'; 38]));
        assert!(Route::new().push(2, &[b'x'; 37]));
        let mut one = Route::new();
        one.push(1, &[0]);
        assert_eq!(r.then(&one), None);
    }
}
