//! The readable end-of-run summary.

use std::io::Write;
use std::time::Duration;

use yagura_engine::Report;
use yagura_model::inventory::{DeviceType, Inventory};

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A rate in packets per second.
pub fn rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} M pkt", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} k pkt", pps / 1e3)
    } else {
        format!("{pps:.0} pkt")
    }
}

fn duration(secs: f64) -> String {
    let s = secs as u64;
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    if h >= 48 {
        format!("{}d {}h {m:02}m", h / 24, h % 24)
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{secs:.3} s")
    }
}

pub fn print(
    out: &mut impl Write,
    r: &Report,
    inv: &Inventory,
    alerts: &yagura_detect::Alerts,
    elapsed: Duration,
) -> std::io::Result<()> {
    let c = &r.capture;
    writeln!(out, "Yagura {} — capture summary", r.generator.version)?;
    writeln!(out, "  files        {}", c.files.len())?;
    writeln!(out, "  packets      {}", count(c.packets))?;
    writeln!(
        out,
        "  bytes        {} ({})",
        count(c.bytes),
        bytes(c.bytes)
    )?;
    match (&c.first_seen, &c.last_seen) {
        (Some(a), Some(b)) => writeln!(
            out,
            "  time span    {} → {} ({})",
            a.to_rfc3339_micros(),
            b.to_rfc3339_micros(),
            duration(c.duration_s)
        )?,
        _ => writeln!(out, "  time span    (no packets)")?,
    }
    let links: Vec<String> = c
        .link_types
        .iter()
        .map(|(k, v)| format!("{k} {}", count(*v)))
        .collect();
    writeln!(
        out,
        "  link types   {}",
        if links.is_empty() {
            "-".into()
        } else {
            links.join(", ")
        }
    )?;
    let ips = inv.assets.iter().filter(|a| !a.ips.is_empty()).count();
    writeln!(
        out,
        "  assets       {} ({} with IP, {} layer-2 only; {} edges)",
        inv.assets.len(),
        ips,
        inv.assets.len() - ips,
        inv.edges.len()
    )?;
    if let Some(line) = vendors(inv) {
        writeln!(out, "  vendors      {line}")?;
    }
    if let Some(line) = device_types(inv) {
        writeln!(out, "  device types {line}")?;
    }
    identities(out, inv)?;
    let sessions: u64 = r.connections.iter().map(|c| c.sessions).sum();
    writeln!(
        out,
        "  flows        {} ({} connections)",
        count(sessions),
        count(r.connections.len() as u64)
    )?;
    if !r.protocols.is_empty() {
        writeln!(out, "  application protocols")?;
        writeln!(
            out,
            "    {:<14} {:>12} {:>14} {:>6}",
            "protocol", "packets", "bytes", "conns"
        )?;
        for p in &r.protocols {
            writeln!(
                out,
                "    {:<14} {:>12} {:>14} {:>6}",
                p.protocol,
                count(p.packets),
                bytes(p.bytes),
                p.connections
            )?;
        }
    }
    let undecodable: u64 = c.undecodable.values().sum();
    if undecodable > 0 {
        writeln!(out, "  undecodable  {}", count(undecodable))?;
        for (k, v) in &c.undecodable {
            writeln!(out, "    {k:<28} {}", count(*v))?;
        }
    }
    if c.drops.kernel + c.drops.internal > 0 {
        writeln!(
            out,
            "  dropped      {} by the kernel, {} internally",
            count(c.drops.kernel),
            count(c.drops.internal)
        )?;
    }
    if !c.warnings.is_empty() {
        writeln!(out, "  warnings     {}", c.warnings.len())?;
    }
    alert_lines(out, alerts)?;
    let secs = elapsed.as_secs_f64().max(1e-6);
    writeln!(
        out,
        "  analysed in  {:.3} s ({}/s)",
        secs,
        rate(c.packets as f64 / secs)
    )?;
    Ok(())
}

/// How many alerts, by severity, and the most severe ones (at most 10), one line each:
/// `#3 critical plc_stop  10.0.0.5 → 10.0.0.10  s7comm plc_stop  ×2`.
fn alert_lines(out: &mut impl Write, a: &yagura_detect::Alerts) -> std::io::Result<()> {
    use yagura_detect::Severity;
    let n = |s: Severity| a.alerts.iter().filter(|x| x.severity == s).count();
    if a.alerts.is_empty() {
        return writeln!(out, "  alerts       none");
    }
    let by: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter(|s| n(**s) > 0)
        .map(|s| format!("{} {}", s.id(), n(*s)))
        .collect();
    writeln!(out, "  alerts       {} ({})", a.alerts.len(), by.join(", "))?;
    let mut top: Vec<_> = a.alerts.iter().collect();
    top.sort_by(|x, y| y.severity.cmp(&x.severity).then(x.id.cmp(&y.id)));
    let side = |e: &yagura_detect::Endpoint| match (e.ip, e.mac) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "-".into(),
    };
    for x in top.iter().take(10) {
        let what = [
            x.protocol.clone().unwrap_or_default(),
            x.function
                .as_ref()
                .map(|f| f.name.clone())
                .unwrap_or_default(),
        ]
        .join(" ");
        writeln!(
            out,
            "    #{:<4} {:<8} {:<26} {} → {}  {}  ×{}",
            x.id,
            x.severity.id(),
            x.kind.id(),
            side(&x.src),
            side(&x.dst),
            what.trim(),
            x.count
        )?;
    }
    if a.alerts.len() > 10 {
        writeln!(out, "    … {} more (see --json)", a.alerts.len() - 10)?;
    }
    Ok(())
}

/// Assets per device type, most first: `plc 3, hmi 1, unknown 12`.
fn device_types(inv: &Inventory) -> Option<String> {
    let mut counts: std::collections::BTreeMap<DeviceType, usize> = Default::default();
    for a in &inv.assets {
        *counts.entry(a.device_type).or_default() += 1;
    }
    if counts.is_empty() {
        return None;
    }
    let mut by: Vec<(DeviceType, usize)> = counts.into_iter().collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Some(
        by.iter()
            .map(|(t, n)| format!("{} {n}", t.id()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The assets that revealed who they are (model, order number, firmware or a name from a
/// protocol), most confidently typed first, at most 10.
fn identities(out: &mut impl Write, inv: &Inventory) -> std::io::Result<()> {
    let mut known: Vec<_> = inv
        .assets
        .iter()
        .filter(|a| a.model.is_some() || a.order_number.is_some() || a.firmware.is_some())
        .collect();
    if known.is_empty() {
        return Ok(());
    }
    known.sort_by(|a, b| {
        b.device_type_confidence
            .cmp(&a.device_type_confidence)
            .then(a.id.cmp(&b.id))
    });
    const SHOWN: usize = 10;
    writeln!(out, "  identities")?;
    for a in known.iter().take(SHOWN) {
        let who = a
            .ips
            .first()
            .map(|ip| ip.to_string())
            .or(a.mac.map(|m| m.to_string()))
            .unwrap_or_else(|| a.id.clone());
        let mut parts = vec![format!("{who:<15}"), format!("{:<10}", a.device_type.id())];
        for v in [&a.vendor, &a.model, &a.order_number].into_iter().flatten() {
            parts.push(v.clone());
        }
        if let Some(f) = &a.firmware {
            parts.push(format!("fw {f}"));
        }
        writeln!(out, "    {}", parts.join(" "))?;
    }
    if known.len() > SHOWN {
        writeln!(out, "    … {} more", known.len() - SHOWN)?;
    }
    Ok(())
}

/// The most common vendors among the assets with a MAC: `Siemens 3, VMware 1, … (2
/// unknown)`.
fn vendors(inv: &Inventory) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut unknown = 0;
    for a in inv.assets.iter().filter(|a| a.mac.is_some()) {
        match &a.vendor {
            Some(v) => *counts.entry(v.as_str()).or_default() += 1,
            None => unknown += 1,
        }
    }
    if counts.is_empty() {
        return None;
    }
    let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = by_count
        .iter()
        .take(SHOWN)
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    if by_count.len() > SHOWN {
        parts.push(format!("{} more", by_count.len() - SHOWN));
    }
    let mut line = parts.join(", ");
    if unknown > 0 {
        line.push_str(&format!(" ({unknown} unknown)"));
    }
    Some(line)
}
