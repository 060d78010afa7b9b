//! Spanning tree BPDUs (IEEE 802.1D STP, 802.1w RSTP, 802.1s/802.1Q MSTP) after the LLC
//! header: protocol id 0, version (0, 2, 3), type (0x00 configuration, 0x80 topology
//! change notification, 0x02 RST/MST), then for configuration and RST BPDUs the flags, root
//! bridge id, root path cost, bridge id, port id and the four timers.

use yagura_core::{Attribute, FieldValue, OperationClass, PduStatus};

use super::Out;
use crate::Anomaly;
use crate::bytes::{be16, be32, u8_at};
use crate::emit::Summary;

/// Length of a configuration BPDU; an RST BPDU adds the version 1 length byte.
const CONFIG_LEN: usize = 35;

/// A bridge id: 4-bit priority (multiples of 4096), 12-bit system id extension, MAC.
struct BridgeId {
    priority: u16,
    ext: u16,
    mac: [u8; 6],
}

impl BridgeId {
    fn at(b: &[u8], off: usize) -> Option<BridgeId> {
        let p = be16(b, off)?;
        let m = b.get(off + 2..off + 8)?;
        Some(BridgeId {
            priority: p & 0xf000,
            ext: p & 0x0fff,
            mac: [m[0], m[1], m[2], m[3], m[4], m[5]],
        })
    }

    fn mac(&self) -> String {
        yagura_core::MacAddr(self.mac).to_string()
    }

    /// `priority/ext/mac` as in 802.1Q's bridge identifier notation.
    fn text(&self) -> String {
        format!("{}.{}.{}", self.priority, self.ext, self.mac())
    }

    fn same(&self, o: &BridgeId) -> bool {
        self.priority == o.priority && self.ext == o.ext && self.mac == o.mac
    }
}

/// The RSTP port role of the flags' bits 2–3.
fn port_role(flags: u8) -> &'static str {
    match (flags >> 2) & 3 {
        1 => "alternate_backup",
        2 => "root",
        3 => "designated",
        _ => "master",
    }
}

/// Parse one BPDU.
pub(super) fn parse(p: &[u8], out: &mut Out) -> Summary {
    let mut s = Summary::new("stp", false, p.len());
    s.operation = OperationClass::Other;
    let (Some(proto), Some(version), Some(kind)) = (be16(p, 0), u8_at(p, 2), u8_at(p, 3)) else {
        s.anomalies.set(Anomaly::Truncated);
        s.status = PduStatus::Malformed;
        return s;
    };
    if proto != 0 {
        s.anomalies.set(Anomaly::BadProtocolId);
    }
    s.function = Some(u32::from(kind));
    out.num("version", version);
    out.text(
        "variant",
        match version {
            0 => "stp",
            2 => "rstp",
            3 => "mstp",
            _ => {
                s.anomalies.set(Anomaly::BadVersion);
                "unknown"
            }
        },
    );
    s.function_name = match kind {
        0x00 => Some("configuration"),
        0x80 => Some("topology_change_notification"),
        0x02 => Some("rapid_spanning_tree"),
        _ => None,
    };
    let Some(name) = s.function_name else {
        s.anomalies.set(Anomaly::UnknownFunction);
        s.status = PduStatus::Malformed;
        return s;
    };
    // The sender is a bridge whatever the BPDU (only bridges send them).
    out.fact(Attribute::Capability, "bridge");
    if name == "topology_change_notification" {
        s.length = 4;
        return finish(s);
    }
    let (Some(flags), Some(root), Some(cost), Some(bridge), Some(port)) = (
        u8_at(p, 4),
        BridgeId::at(p, 5),
        be32(p, 13),
        BridgeId::at(p, 17),
        be16(p, 25),
    ) else {
        s.anomalies.set(Anomaly::Truncated);
        return finish(s);
    };
    let timer = |off| be16(p, off).map(|t| u64::from(t) / 256);
    let (Some(age), Some(max_age), Some(hello), Some(delay)) =
        (timer(27), timer(29), timer(31), timer(33))
    else {
        s.anomalies.set(Anomaly::Truncated);
        return finish(s);
    };
    out.num("flags", flags);
    out.field("topology_change", FieldValue::Bool(flags & 0x01 != 0));
    out.field("topology_change_ack", FieldValue::Bool(flags & 0x80 != 0));
    if kind == 0x02 {
        out.text("port_role", port_role(flags));
        out.field("proposal", FieldValue::Bool(flags & 0x02 != 0));
        out.field("learning", FieldValue::Bool(flags & 0x10 != 0));
        out.field("forwarding", FieldValue::Bool(flags & 0x20 != 0));
        out.field("agreement", FieldValue::Bool(flags & 0x40 != 0));
    }
    // The bridge ids as text cost more than the rest of the BPDU: only for events.
    if out.events {
        out.text("root_bridge_id", root.text());
        out.num("root_priority", root.priority);
        out.num("root_system_id_ext", root.ext);
        out.text("root_mac", root.mac());
        out.num("root_path_cost", cost);
        out.text("bridge_id", bridge.text());
        out.num("bridge_priority", bridge.priority);
        out.num("bridge_system_id_ext", bridge.ext);
        out.text("bridge_mac", bridge.mac());
        out.num("port_id", port);
    }
    out.num("message_age", age);
    out.num("max_age", max_age);
    out.num("hello_time", hello);
    out.num("forward_delay", delay);
    let mut len = CONFIG_LEN;
    if kind == 0x02 {
        len += 1;
        if version >= 3
            && let Some(v3) = be16(p, 36)
        {
            out.num("version3_length", v3);
            len += 2 + usize::from(v3);
            // MST configuration identifier: format selector, 32-byte name, revision.
            if let Some(name) = p.get(39..71)
                && out.events
            {
                out.text("mst_config_name", super::printable(name, 32));
            }
        }
    }
    s.length = u32::try_from(len.min(p.len())).unwrap_or(u32::MAX);
    if len > p.len() {
        s.anomalies.set(Anomaly::Truncated);
    }
    if bridge.same(&root) {
        out.fact(Attribute::Role, "stp_root_bridge");
    }
    finish(s)
}

fn finish(mut s: Summary) -> Summary {
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    s
}
