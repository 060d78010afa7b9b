//! The operational engine: an alert for every operational request the traffic carried
//! (a PLC stopped, started or restarted, a program downloaded or uploaded, a firmware
//! update, a configuration or operating-mode change), saying who did it, to which device, with which
//! protocol function, and whether the sender is an engineering workstation.
//!
//! It needs no baseline: these operations matter whenever they happen. Only industrial
//! protocols count ([`ProtocolId::is_industrial`]): a NetBIOS name refresh is classed a
//! configuration change of its name table, not of a controller. Setting a clock is not an
//! operational request (`clock_sync`, routine on most plants). The engine's
//! [`OperationObservation`]s are already folded per client, server, protocol and function;
//! the alert book folds the functions of one behaviour together (see `docs/detection.md`).

use std::collections::HashMap;

use yagura_core::{IpAddr, MacAddr, OperationClass, Timestamp};
use yagura_dissect::ProtocolId;
use yagura_engine::operations::OperationObservation;
use yagura_model::inventory::{Asset, DeviceType};

use crate::alert::{AlertBook, Endpoint, Function, PacketRef, Raise};
use crate::baseline::BaselineIndex;
use crate::kinds::AlertKind;
use crate::policy::asset_id_of;

/// Raise the operational alerts of `ops` into `book`. `assets` is the inventory built from
/// the same traffic (or the stored one), to say what the sender is. With a `baseline`, an
/// operation learned for that client, server and port (an alert learned by an analyst, or
/// traffic seen while learning) raises nothing.
pub fn raise(
    book: &mut AlertBook,
    ops: &[OperationObservation],
    assets: &[Asset],
    baseline: Option<&BaselineIndex<'_>>,
) {
    // A side whose MAC one connection did not see (a server that never answered) takes the
    // MAC its address had elsewhere, when it had exactly one: otherwise the same behaviour
    // would split into two alerts, one with the MAC and one without.
    let mut macs: HashMap<IpAddr, Option<MacAddr>> = HashMap::new();
    for e in ops.iter().flat_map(|o| [&o.src, &o.dst]) {
        if let Some(m) = e.mac {
            macs.entry(e.ip)
                .and_modify(|known| {
                    if *known != Some(m) {
                        *known = None;
                    }
                })
                .or_insert(Some(m));
        }
    }
    let mac_of =
        |ip: IpAddr, mac: Option<MacAddr>| mac.or_else(|| macs.get(&ip).copied().flatten());
    for o in ops {
        let Some(kind) = AlertKind::for_operation(o.operation) else {
            continue;
        };
        if !ProtocolId::from_name(o.protocol).is_some_and(ProtocolId::is_industrial) {
            continue;
        }
        if let Some(b) = baseline
            && learned(b, o, assets)
        {
            continue;
        }
        let raise = Raise {
            kind,
            time: o.first_seen,
            src: Endpoint {
                ip: Some(o.src.ip),
                mac: mac_of(o.src.ip, o.src.mac),
                port: Some(o.src.port),
            },
            dst: Endpoint {
                ip: Some(o.dst.ip),
                mac: mac_of(o.dst.ip, o.dst.mac),
                port: Some(o.dst.port),
            },
            protocol: Some(o.protocol.to_owned()),
            function: o.function.map(|code| Function {
                code,
                name: o.function_name.unwrap_or_default().to_owned(),
            }),
            description: describe(o, assets),
            evidence: o
                .packets
                .iter()
                .map(|p| PacketRef {
                    index: p.index,
                    time: p.time,
                })
                .collect(),
        };
        book.raise_repeated(raise, o.count, o.last_seen);
    }
}

/// Is this operation learned for its client, server and server port?
fn learned(b: &BaselineIndex<'_>, o: &OperationObservation, assets: &[Asset]) -> bool {
    let (Some(src), Some(dst)) = (
        asset_id_of(assets, o.src.ip, o.src.mac),
        asset_id_of(assets, o.dst.ip, o.dst.mac),
    ) else {
        return false;
    };
    b.pair(src, dst).iter().any(|c| {
        (c.port == o.dst.port || c.port == 0)
            && c.operations.iter().any(|n| n == o.operation.name())
    })
}

/// What the operation does to its target, in a few words.
fn effect(op: OperationClass) -> &'static str {
    match op {
        OperationClass::Stop => "stops the controller's program",
        OperationClass::Start => "starts the controller's program",
        OperationClass::Restart => "restarts the device",
        OperationClass::ProgramDownload => "writes program logic into the controller",
        OperationClass::ProgramUpload => "reads the program out of the controller",
        OperationClass::FirmwareUpdate => "replaces the device's firmware",
        OperationClass::ConfigChange => "changes the device's configuration",
        OperationClass::ModeChange => {
            "changes the device's operating mode (it keeps running, in another mode: a test \
             mode, or one in which it stops communicating)"
        }
        _ => "changes what the device does",
    }
}

/// The asset holding address `ip` (the first, in inventory order).
fn asset_of(assets: &[Asset], ip: IpAddr) -> Option<&Asset> {
    assets.iter().find(|a| a.ips.contains(&ip))
}

/// What the inventory says of a host, for the description.
fn who(assets: &[Asset], ip: IpAddr) -> String {
    let Some(a) = asset_of(assets, ip) else {
        return format!("{ip}");
    };
    let name = a
        .hostname
        .as_deref()
        .or(a.names.first().map(String::as_str));
    let mut s = match name {
        Some(n) => format!("{ip} ({n})"),
        None => format!("{ip}"),
    };
    let mut what = Vec::new();
    if a.device_type != DeviceType::Unknown {
        what.push(a.device_type.id().replace('_', " "));
    }
    if let Some(m) = &a.model {
        what.push(m.clone());
    }
    if !what.is_empty() {
        s.push_str(&format!(" [{}]", what.join(" ")));
    }
    s
}

/// Whether the sender is an engineering workstation, and how that is known.
fn sender_status(assets: &[Asset], ip: IpAddr) -> String {
    match asset_of(assets, ip) {
        Some(a) if a.device_type == DeviceType::EngineeringWorkstation => {
            if a.user_overrides.iter().any(|o| o == "type") {
                "The sender is a known engineering workstation (so set in the inventory)."
                    .to_owned()
            } else {
                "The sender is classified as an engineering workstation from its own traffic, \
                 not confirmed by anyone: check that it is one."
                    .to_owned()
            }
        }
        Some(a) => format!(
            "The sender is not known as an engineering workstation (the inventory types it \
             {}).",
            a.device_type.id()
        ),
        None => "The sender is not in the inventory.".to_owned(),
    }
}

fn times(count: u64, first: Timestamp, last: Timestamp) -> String {
    if count <= 1 {
        format!("Seen once, at {}.", first.to_rfc3339_micros())
    } else {
        format!(
            "Seen {count} times, from {} to {}.",
            first.to_rfc3339_micros(),
            last.to_rfc3339_micros()
        )
    }
}

fn describe(o: &OperationObservation, assets: &[Asset]) -> String {
    let function = match (o.function, o.function_name) {
        (Some(c), Some(n)) => format!("{n} (function {c:#04x})"),
        (Some(c), None) => format!("function {c:#04x}"),
        (None, Some(n)) => n.to_owned(),
        (None, None) => "a request".to_owned(),
    };
    format!(
        "{} asked {} on port {}, over {}, for {}: it {}. {} {}",
        who(assets, o.src.ip),
        who(assets, o.dst.ip),
        o.dst.port,
        o.protocol,
        function,
        effect(o.operation),
        times(o.count, o.first_seen, o.last_seen),
        sender_status(assets, o.src.ip),
    )
}
