//! Profinet DCP (IEC 61158-6-10, Discovery and basic Configuration Protocol) over ethertype
//! 0x8892: frame id 0xFEFC (hello), 0xFEFD (get/set, request and response), 0xFEFE
//! (identify request, multicast) or 0xFEFF (identify response); then service id, service
//! type, xid, response delay, data length and the blocks (option, suboption, length, value
//! padded to an even length). Other frame ids (cyclic real-time data, alarms, PTCP) are not
//! DCP and give nothing.

use yagura_core::{Attribute, OperationClass, PduStatus};

use super::{Out, ip_text, mac_text, printable};
use crate::Anomaly;
use crate::bytes::{be16, be32, u8_at};
use crate::emit::Summary;

const HELLO: u16 = 0xfefc;
const GET_SET: u16 = 0xfefd;
const IDENTIFY_REQUEST: u16 = 0xfefe;
const IDENTIFY_RESPONSE: u16 = 0xfeff;

const SERVICE_GET: u8 = 3;
const SERVICE_SET: u8 = 4;
const SERVICE_IDENTIFY: u8 = 5;
const SERVICE_HELLO: u8 = 6;

const OPT_IP: u8 = 1;
const OPT_DEVICE: u8 = 2;
const OPT_DHCP: u8 = 3;
const OPT_CONTROL: u8 = 5;
const OPT_INITIATIVE: u8 = 6;
const OPT_ALL: u8 = 0xff;

/// Header length after the frame id: service id, type, xid, delay, data length.
const HEADER: usize = 10;
const MAX_TEXT: usize = 240;

/// How the blocks of a PDU are laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Identify request filters: option, suboption, length, value.
    Filter,
    /// Get request: option/suboption pairs.
    Options,
    /// Set request: option, suboption, length, block qualifier, value.
    Qualified,
    /// Responses and hello: option, suboption, length, block info, value (control/response
    /// blocks have no block info).
    Info,
}

/// Role bits of the Device Role block, as role ids.
const ROLES: [&str; 4] = [
    "profinet_io_device",
    "profinet_io_controller",
    "profinet_io_multidevice",
    "profinet_supervisor",
];

/// Parse one frame of ethertype 0x8892; `None` when it is not DCP.
pub(super) fn parse(p: &[u8], out: &mut Out) -> Option<Summary> {
    let frame_id = be16(p, 0)?;
    if !(HELLO..=IDENTIFY_RESPONSE).contains(&frame_id) {
        return None;
    }
    let d = &p[2..];
    let mut s = Summary::new("pn_dcp", false, p.len());
    let (Some(service), Some(stype), Some(xid), Some(dlen), Some(data)) = (
        u8_at(d, 0),
        u8_at(d, 1),
        be32(d, 2),
        be16(d, 8),
        d.get(HEADER..),
    ) else {
        s.anomalies.set(Anomaly::Truncated);
        s.status = PduStatus::Malformed;
        return Some(s);
    };
    s.function = Some(u32::from(service));
    s.response = stype & 0x01 != 0;
    out.num("frame_id", frame_id);
    out.num("xid", xid);
    // The data length bounds the blocks; what follows is Ethernet padding.
    let dlen = usize::from(dlen);
    if dlen > data.len() {
        s.anomalies.set(Anomaly::Truncated);
    }
    let blocks = &data[..dlen.min(data.len())];
    s.length = u32::try_from(2 + HEADER + blocks.len()).unwrap_or(u32::MAX);
    if s.response && stype & 0x04 != 0 {
        s.status = PduStatus::Exception;
        out.text("service_status", "not_supported");
    }
    let expected = match frame_id {
        HELLO => SERVICE_HELLO,
        IDENTIFY_REQUEST | IDENTIFY_RESPONSE => SERVICE_IDENTIFY,
        _ => service,
    };
    if service != expected || (frame_id == GET_SET && !matches!(service, SERVICE_GET | SERVICE_SET))
    {
        s.anomalies.set(Anomaly::UnknownFunction);
    }
    // Identity facts come only from what a device says of itself: identify responses and
    // hellos. A set request carries the values a tool writes into the device.
    let (layout, facts) = match (service, s.response) {
        (SERVICE_IDENTIFY, false) => (Layout::Filter, false),
        (SERVICE_GET, false) => (Layout::Options, false),
        (SERVICE_SET, false) => (Layout::Qualified, false),
        (SERVICE_HELLO, _) | (SERVICE_IDENTIFY, true) => (Layout::Info, true),
        _ => (Layout::Info, false),
    };
    let mut walk = Walk {
        out,
        facts,
        layout,
        set_action: None,
        error: false,
        options: Vec::new(),
    };
    if !walk.blocks(blocks) {
        s.anomalies.set(Anomaly::BadLength);
    }
    let Walk {
        out,
        set_action,
        error,
        options,
        ..
    } = walk;
    if !options.is_empty() {
        out.text("options", options.join(","));
    }
    (s.function_name, s.operation) = match (service, s.response) {
        (SERVICE_IDENTIFY, _) => (Some("identify"), OperationClass::Identify),
        (SERVICE_HELLO, _) => (Some("hello"), OperationClass::Other),
        (SERVICE_GET, _) => (Some("get"), OperationClass::Read),
        (SERVICE_SET, false) => {
            let action = set_action.unwrap_or("set");
            let class = if action == "signal" {
                OperationClass::Diagnostic
            } else {
                OperationClass::ConfigChange
            };
            (Some(action), class)
        }
        (SERVICE_SET, true) => (Some("set"), OperationClass::ConfigChange),
        _ => (None, OperationClass::Other),
    };
    if error && s.status == PduStatus::Ok {
        s.status = PduStatus::Exception;
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    Some(s)
}

/// The block walk's state.
struct Walk<'o> {
    out: &'o mut Out,
    /// Report identity facts (identify response, hello).
    facts: bool,
    layout: Layout,
    /// The most significant action of a set request.
    set_action: Option<&'static str>,
    /// A control/response block reported an error.
    error: bool,
    /// `option/suboption` of each block, for the event.
    options: Vec<String>,
}

impl Walk<'_> {
    /// Walk the blocks; false when one overruns the data.
    fn blocks(&mut self, b: &[u8]) -> bool {
        let mut i = 0;
        while i < b.len() {
            let (Some(opt), Some(sub)) = (u8_at(b, i), u8_at(b, i + 1)) else {
                return false;
            };
            if self.options.len() < 32 {
                self.options.push(format!("{opt}/{sub}"));
            }
            if self.layout == Layout::Options {
                i += 2;
                continue;
            }
            let Some(len) = be16(b, i + 2) else {
                return false;
            };
            let len = usize::from(len);
            let Some(v) = b.get(i + 4..i + 4 + len) else {
                return false;
            };
            self.block(opt, sub, v);
            i += 4 + len + (len & 1);
        }
        true
    }

    fn block(&mut self, opt: u8, sub: u8, v: &[u8]) {
        // Filters carry the value alone; control/response blocks have no block info.
        let has_info = match self.layout {
            Layout::Filter | Layout::Options => false,
            Layout::Qualified => true,
            Layout::Info => (opt, sub) != (OPT_CONTROL, 4),
        };
        let (info, v) = if has_info {
            (be16(v, 0), v.get(2..).unwrap_or_default())
        } else {
            (None, v)
        };
        let out = &mut *self.out;
        match (opt, sub) {
            (OPT_IP, 1) => {
                if let Some(m) = mac_text(v) {
                    out.text("mac_address", m);
                }
            }
            (OPT_IP, 2 | 3) if v.len() >= 12 => {
                let ip = ip_text(&v[0..4]).unwrap_or_default();
                out.text("ip_address", ip.clone());
                out.text("subnet_mask", ip_text(&v[4..8]).unwrap_or_default());
                out.text("gateway", ip_text(&v[8..12]).unwrap_or_default());
                if self.layout == Layout::Info
                    && let Some(info) = info
                {
                    out.num("ip_block_info", info);
                }
                if self.facts && v[0..4] != [0, 0, 0, 0] {
                    out.fact(Attribute::ManagementAddress, ip);
                }
                self.action("set_ip", 2);
            }
            (OPT_DEVICE, 1) => {
                let vendor = printable(v, MAX_TEXT);
                if self.facts {
                    out.fact(Attribute::Model, vendor.clone());
                }
                out.text("device_vendor", vendor);
            }
            (OPT_DEVICE, 2) => {
                let name = printable(v, MAX_TEXT);
                if self.facts {
                    out.fact(Attribute::Name, name.clone());
                }
                let field = if self.layout == Layout::Filter {
                    "filter_station_name"
                } else {
                    "station_name"
                };
                out.text(field, name);
                self.action("set_name_of_station", 2);
            }
            (OPT_DEVICE, 3 | 8) => {
                if let (Some(vendor), Some(device)) = (be16(v, 0), be16(v, 2)) {
                    let oem = sub == 8;
                    out.num(if oem { "oem_vendor_id" } else { "vendor_id" }, vendor);
                    out.num(if oem { "oem_device_id" } else { "device_id" }, device);
                    if self.facts && !oem {
                        out.fact(Attribute::VendorId, format!("pn_dcp:{vendor}"));
                        out.fact(Attribute::ProductCode, format!("pn_dcp:{device}"));
                    }
                }
            }
            (OPT_DEVICE, 4) => {
                if let Some(&bits) = v.first() {
                    let names: Vec<&str> = ROLES
                        .iter()
                        .enumerate()
                        .filter(|(b, _)| bits & (1 << b) != 0)
                        .map(|(_, n)| *n)
                        .collect();
                    if self.facts {
                        for n in &names {
                            out.fact(Attribute::Role, *n);
                        }
                    }
                    out.text("device_role", names.join(","));
                }
            }
            (OPT_DEVICE, 6) => out.text("alias_name", printable(v, MAX_TEXT)),
            (OPT_DEVICE, 7) => {
                if let (Some(hi), Some(lo)) = (u8_at(v, 0), u8_at(v, 1)) {
                    out.text("device_instance", format!("{hi}.{lo}"));
                }
            }
            (OPT_DHCP, _) => self.action("set_dhcp", 1),
            (OPT_CONTROL, 3) => self.action("signal", 0),
            (OPT_CONTROL, 4) => {
                if let Some(&err) = v.get(2) {
                    out.num("block_error", err);
                    self.error |= err != 0;
                }
            }
            (OPT_CONTROL, 5) => self.action("factory_reset", 3),
            (OPT_CONTROL, 6) => self.action("reset_to_factory", 3),
            (OPT_INITIATIVE, 1) => {
                if let Some(x) = be16(v, 0) {
                    out.num("device_initiative", x);
                }
            }
            (OPT_ALL, _) if self.layout == Layout::Filter => out.text("filter", "all"),
            _ => {}
        }
    }

    /// Record a set request's action, keeping the most significant (higher `rank`).
    fn action(&mut self, name: &'static str, rank: u8) {
        if self.layout != Layout::Qualified {
            return;
        }
        let rank_of = |n: &str| match n {
            "factory_reset" | "reset_to_factory" => 3,
            "set_ip" | "set_name_of_station" => 2,
            "set_dhcp" => 1,
            _ => 0,
        };
        if self.set_action.is_none_or(|a| rank_of(a) < rank) {
            self.set_action = Some(name);
        }
    }
}
