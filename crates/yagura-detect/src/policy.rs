//! The policy engine: what departs from the learned [`Baseline`].
//!
//! It compares a run's inventory (assets and the edges between them) with the baseline:
//!
//! - `new_asset`: an asset the baseline does not hold (unless it took a learned address
//!   over: then `mac_change`);
//! - `mac_change`: an address the baseline learned on one MAC is now on another;
//! - `new_connection`: a pair of assets that never talked, for a service whose protocol
//!   is not industrial or whose server had no learned client of it;
//! - `new_master`: a new client of an industrial service that its server did serve to
//!   others (a second HMI or an attacker polling the PLC);
//! - `new_protocol`: a pair that did talk, with a service (transport, port, protocol) it
//!   never used;
//! - `unauthorized_write`: write requests over an industrial protocol from a client whose
//!   learned connection to that server never wrote (or that had none);
//! - `firmware_changed`: an asset whose firmware differs from the learned one.
//!
//! Its evidence is the first packet of the connection that showed the behaviour.

use std::collections::HashMap;

use yagura_core::{IpAddr, MacAddr, OperationClass, Timestamp};
use yagura_dissect::ProtocolId;
use yagura_engine::Report;
use yagura_model::fusion::Built;
use yagura_model::inventory::{Asset, DeviceType, Edge};

use crate::alert::{AlertBook, Endpoint, PacketRef, Raise};
use crate::baseline::{BaselineIndex, ConnKey, conn_key, edge_key};
use crate::kinds::AlertKind;

/// Where and when an edge or an asset was first seen in the run.
#[derive(Debug, Clone, Copy)]
struct First {
    time: Timestamp,
    packet: u64,
}

impl First {
    fn keep_earliest(slot: &mut Option<First>, f: First) {
        if slot.is_none_or(|s| (f.time, f.packet) < (s.time, s.packet)) {
            *slot = Some(f);
        }
    }

    fn evidence(self) -> Vec<PacketRef> {
        vec![PacketRef {
            index: self.packet,
            time: self.time,
        }]
    }
}

/// Raise the policy alerts of one run into `book`.
pub fn raise(book: &mut AlertBook, baseline: &BaselineIndex<'_>, report: &Report, built: &Built) {
    let assets = &built.inventory.assets;
    // The first connection of every edge and of every asset, for the evidence.
    let mut edge_first: HashMap<ConnKey, First> = HashMap::new();
    let mut asset_first: Vec<Option<First>> = vec![None; assets.len()];
    for (c, (s, d)) in report.connections.iter().zip(&built.connection_assets) {
        let f = First {
            time: c.first_seen,
            packet: c.first_packet,
        };
        for i in [s, d].into_iter().flatten() {
            First::keep_earliest(&mut asset_first[*i], f);
        }
        if let (Some(s), Some(d)) = (s, d) {
            let key = conn_key(
                &assets[*s].id,
                &assets[*d].id,
                &c.transport.name(),
                c.dst_port,
                c.protocol,
            );
            let slot = edge_first.entry(key).or_insert(f);
            if (f.time, f.packet) < (slot.time, slot.packet) {
                *slot = f;
            }
        }
    }
    let by_id: HashMap<&str, (usize, &Asset)> = assets
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), (i, a)))
        .collect();

    for (i, a) in assets.iter().enumerate() {
        let evidence = asset_first[i].map(First::evidence).unwrap_or_default();
        match baseline.asset(&a.id) {
            Some(learned) => {
                if let (Some(was), Some(now)) = (&learned.firmware, &a.firmware)
                    && was != now
                {
                    book.raise(Raise {
                        kind: AlertKind::FirmwareChanged,
                        time: a.last_seen,
                        src: endpoint(a),
                        dst: Endpoint::default(),
                        protocol: None,
                        function: None,
                        description: format!(
                            "{} reports firmware {now}; the baseline learned firmware {was}. \
                             A firmware change outside a maintenance window can be an \
                             implant.",
                            who(a)
                        ),
                        evidence,
                    });
                }
            }
            None => {
                // An address learned on another MAC: the device behind it changed.
                let moved = a.ips.iter().find_map(|ip| {
                    let old = baseline.asset_by_ip(*ip)?;
                    let old_mac = old.mac.as_deref().and_then(MacAddr::parse)?;
                    (Some(old_mac) != a.mac && a.mac.is_some()).then_some((*ip, old, old_mac))
                });
                let (kind, description) = match moved {
                    Some((ip, old, old_mac)) => (
                        AlertKind::MacChange,
                        format!(
                            "{ip} was learned on MAC {old_mac}{} and is now on MAC {}{}: \
                             the device was replaced, or another host took its address.",
                            old.vendor
                                .as_deref()
                                .map(|v| format!(" ({v})"))
                                .unwrap_or_default(),
                            a.mac.map(|m| m.to_string()).unwrap_or_default(),
                            a.vendor
                                .as_deref()
                                .map(|v| format!(" ({v})"))
                                .unwrap_or_default(),
                        ),
                    ),
                    None => (
                        AlertKind::NewAsset,
                        format!(
                            "{} is not in the baseline ({} assets learned).",
                            who(a),
                            baseline.baseline.assets.len()
                        ),
                    ),
                };
                book.raise(Raise {
                    kind,
                    time: asset_first[i].map_or(a.first_seen, |f| f.time),
                    src: endpoint(a),
                    dst: Endpoint::default(),
                    protocol: None,
                    function: None,
                    description,
                    evidence,
                });
            }
        }
    }

    for e in &built.inventory.edges {
        let (Some(&(_, src)), Some(&(_, dst))) =
            (by_id.get(e.src.as_str()), by_id.get(e.dst.as_str()))
        else {
            continue;
        };
        let key = edge_key(e);
        let first = edge_first.get(&key).copied().unwrap_or(First {
            time: e.first_seen,
            packet: 0,
        });
        let evidence = edge_first
            .get(&key)
            .map(|f| f.evidence())
            .unwrap_or_default();
        let industrial = e
            .protocol
            .as_deref()
            .and_then(ProtocolId::from_name)
            .is_some_and(ProtocolId::is_industrial);
        let service = service(e);
        let learned = baseline.connection(&key);
        if learned.is_none() {
            let others = e
                .protocol
                .as_deref()
                .and_then(|p| baseline.masters(&e.dst, p))
                .filter(|m| !m.contains(e.src.as_str()) && !m.is_empty());
            let pair = baseline.pair(&e.src, &e.dst);
            // The internet: a public address seen only through a router. Plants that
            // number their own network from public space (many do) have it on the
            // segment, with its MAC.
            let public = [src, dst]
                .iter()
                .filter(|a| a.mac.is_none() && a.via.is_none())
                .flat_map(|a| a.ips.iter())
                .find(|ip| is_public(**ip))
                .copied();
            let (kind, description) = match others {
                _ if public.is_some() => (
                    AlertKind::UnauthorizedInternetConnectivity,
                    format!(
                        "{} and {} exchanged {} and {} is a public internet address; the \
                         baseline has no such connection.",
                        who(src),
                        who(dst),
                        service,
                        public.map(|ip| ip.to_string()).unwrap_or_default()
                    ),
                ),
                Some(masters) if industrial => (
                    AlertKind::NewMaster,
                    format!(
                        "{} is a new client of {} on {}: the baseline knows {} other client{} \
                         of it ({}).",
                        who(src),
                        service,
                        who(dst),
                        masters.len(),
                        if masters.len() == 1 { "" } else { "s" },
                        masters.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ),
                _ if pair.is_empty() => (
                    AlertKind::NewConnection,
                    format!(
                        "{} connected to {} with {}; these two never talked in the baseline.",
                        who(src),
                        who(dst),
                        service
                    ),
                ),
                _ => (
                    AlertKind::NewProtocol,
                    format!(
                        "{} used {} to {}; the baseline has this pair talking only over {}.",
                        who(src),
                        service,
                        who(dst),
                        pair.iter()
                            .map(|c| learned_service(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
            book.raise_repeated(
                Raise {
                    kind,
                    time: first.time,
                    src: endpoint(src),
                    dst: endpoint(dst),
                    protocol: e.protocol.clone(),
                    function: None,
                    description,
                    evidence: evidence.clone(),
                },
                e.sessions.max(1),
                e.last_seen,
            );
        }
        if let (Some(c), Some(p)) = (learned, e.polling_period_s)
            && let (Some(min), Some(max)) = (c.period_min_s, c.period_max_s)
            && (p < min / POLLING_TOLERANCE || p > max * POLLING_TOLERANCE)
        {
            book.raise(Raise {
                kind: AlertKind::PollingDeviation,
                time: first.time,
                src: endpoint(src),
                dst: endpoint(dst),
                protocol: e.protocol.clone(),
                function: None,
                description: format!(
                    "{} polled {} over {} every {p:.3} s; the baseline learned a period of \
                     {min:.3}–{max:.3} s. A changed cycle means a changed program, \
                     configuration or load on the poller or the device.",
                    who(src),
                    who(dst),
                    service
                ),
                evidence: evidence.clone(),
            });
        }
        let writes = e
            .operations
            .iter()
            .any(|o| o == OperationClass::Write.name());
        let allowed = learned.is_some_and(|c| c.operations.iter().any(|o| o == "write"));
        if industrial && writes && !allowed {
            let context = match learned {
                Some(_) => "its learned connection to it only read".to_owned(),
                None => "it had no learned connection to it".to_owned(),
            };
            book.raise(Raise {
                kind: AlertKind::UnauthorizedWrite,
                time: first.time,
                src: endpoint(src),
                dst: endpoint(dst),
                protocol: e.protocol.clone(),
                function: None,
                description: format!(
                    "{} wrote to {} over {}; {context}.",
                    who(src),
                    who(dst),
                    service,
                ),
                evidence,
            });
        }
    }
}

/// A polling period outside the learned range divided or multiplied by this deviates.
pub const POLLING_TOLERANCE: f64 = 1.5;

/// An address on the public internet: not private, loopback, link-local, shared
/// (100.64/10), documentation, benchmarking, multicast, broadcast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
                || a.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            // Global unicast is 2000::/3, less documentation (2001:db8::/32).
            (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// An alert side for an asset: its first address and its MAC.
fn endpoint(a: &Asset) -> Endpoint {
    Endpoint {
        ip: a.ips.first().copied(),
        mac: a.mac,
        port: None,
    }
}

fn service(e: &Edge) -> String {
    let port = if e.dst_port == 0 {
        String::new()
    } else {
        format!(" port {}", e.dst_port)
    };
    match &e.protocol {
        Some(p) => format!("{p} ({}{port})", e.transport),
        None => format!("{}{port}", e.transport),
    }
}

fn learned_service(c: &crate::baseline::BaselineConnection) -> String {
    let port = match c.port {
        0 => " dynamic ports".to_owned(),
        p => format!(" port {p}"),
    };
    match &c.protocol {
        Some(p) => format!("{p} ({}{port})", c.transport),
        None => format!("{}{port}", c.transport),
    }
}

/// What the inventory says of an asset, for descriptions: address, name, type and model.
pub(crate) fn who(a: &Asset) -> String {
    let label = match (a.ips.first(), a.mac) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => a.id.clone(),
    };
    who_as(a, label)
}

/// [`who`], naming the asset by `label` (the address it used in the traffic described,
/// for an asset with several) instead of its first address.
pub(crate) fn who_as(a: &Asset, label: String) -> String {
    let mut s = label;
    if let Some(n) = a
        .hostname
        .as_deref()
        .or(a.names.first().map(String::as_str))
    {
        s.push_str(&format!(" ({n})"));
    }
    let mut what = Vec::new();
    if a.device_type != DeviceType::Unknown {
        what.push(a.device_type.id().replace('_', " "));
    }
    if let Some(v) = &a.vendor {
        what.push(v.clone());
    }
    if let Some(m) = &a.model {
        what.push(m.clone());
    }
    if !what.is_empty() {
        s.push_str(&format!(" [{}]", what.join(", ")));
    }
    s
}

/// The asset ids of an operation's ends, through the inventory's addresses.
pub(crate) fn asset_id_of(assets: &[Asset], ip: IpAddr, mac: Option<MacAddr>) -> Option<&str> {
    assets
        .iter()
        .find(|a| a.ips.contains(&ip) && (mac.is_none() || a.mac.is_none() || a.mac == mac))
        .or_else(|| assets.iter().find(|a| a.ips.contains(&ip)))
        .map(|a| a.id.as_str())
}
