//! `yagura map`: the communication graph in a store, for Graphviz (DOT), Gephi and yEd
//! (GraphML) or any program (JSON).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use yagura_model::inventory::{Edge, Inventory};
use yagura_store::{InventoryStore, SqliteStore};

use crate::display::{display_name, sanitize};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MapFormat {
    /// Graphviz DOT (`dot -Tsvg map.dot > map.svg`).
    Dot,
    /// GraphML, with node and edge attributes (Gephi, yEd, NetworkX).
    Graphml,
    /// `{"nodes": [...], "edges": [...]}`.
    Json,
}

#[derive(Args)]
pub struct MapArgs {
    /// The inventory database (SQLite), as written by `yagura analyze --db`.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    #[arg(long, value_enum)]
    format: MapFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn map(args: MapArgs) -> Result<()> {
    let inv = SqliteStore::open_existing(&args.db)
        .with_context(|| format!("opening {}", args.db.display()))?
        .load()?;
    let text = match args.format {
        MapFormat::Dot => dot(&inv),
        MapFormat::Graphml => graphml(&inv),
        MapFormat::Json => json(&inv)?,
    };
    match &args.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

fn edge_label(e: &Edge) -> String {
    let mut s = match &e.protocol {
        Some(p) => format!("{p} {}/{}", e.dst_port, e.transport),
        None => format!("{}/{}", e.dst_port, e.transport),
    };
    if !e.operations.is_empty() {
        s.push('\n');
        s.push_str(&e.operations.join(", "));
    }
    s
}

/// Node index by asset id; edges whose endpoint is missing are left out (a store never
/// has one: every edge endpoint is an asset).
fn node_ids(inv: &Inventory) -> std::collections::HashMap<&str, usize> {
    inv.assets
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect()
}

/// The links from a carrier to the modules reached through it (a controller in a
/// backplane slot behind an EtherNet/IP module): (carrier node, module node, route in
/// words), in the order of the modules' ids. Not traffic seen between two addresses, so
/// not among the store's edges: drawn from the modules' `via` and `route`.
fn route_links<'a>(
    inv: &'a Inventory,
    ids: &std::collections::HashMap<&str, usize>,
) -> Vec<(usize, usize, &'a str)> {
    inv.assets
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let carrier = *ids.get(a.via.as_deref()?)?;
            Some((carrier, i, a.route.as_deref().unwrap_or("")))
        })
        .collect()
}

/// A DOT quoted string: control characters spelled out, then `\` and `"` escaped (in a
/// DOT label `\\` is a backslash, `\"` a quote); real line breaks are given as `\n`.
fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        for c in sanitize(line).chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

/// Graphviz DOT: one node per asset (`n<index>`), labelled with its name, address (or
/// route) and type; one edge per connection, labelled with protocol, port and operation
/// classes; a dashed edge from each carrier to each module reached through it, labelled
/// with the route.
pub fn dot(inv: &Inventory) -> String {
    let ids = node_ids(inv);
    let mut s = String::from(
        "digraph yagura {\n  graph [rankdir=LR, overlap=false];\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
    );
    for (i, a) in inv.assets.iter().enumerate() {
        let mut label = display_name(a);
        if let Some(ip) = a.ips.first()
            && label != ip.to_string()
        {
            let _ = write!(label, "\n{ip}");
        }
        if let Some(r) = &a.route
            && label != *r
        {
            let _ = write!(label, "\n{r}");
        }
        let _ = write!(label, "\n{}", a.device_type.id());
        if let Some(l) = a.purdue_level {
            let _ = write!(label, " (L{l})");
        }
        let _ = writeln!(
            s,
            "  n{i} [label={}, tooltip={}];",
            dot_str(&label),
            dot_str(&a.id)
        );
    }
    for e in &inv.edges {
        let (Some(src), Some(dst)) = (ids.get(e.src.as_str()), ids.get(e.dst.as_str())) else {
            continue;
        };
        let _ = writeln!(s, "  n{src} -> n{dst} [label={}];", dot_str(&edge_label(e)));
    }
    for (carrier, module, route) in route_links(inv, &ids) {
        let _ = writeln!(
            s,
            "  n{carrier} -> n{module} [label={}, style=dashed];",
            dot_str(route)
        );
    }
    s.push_str("}\n");
    s
}

/// Text for XML character data or an attribute value: control characters spelled out
/// (XML 1.0 cannot carry most of them at all), then the five markup characters escaped.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in sanitize(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const NODE_KEYS: [(&str, &str); 15] = [
    ("label", "string"),
    ("asset_id", "string"),
    ("via", "string"),
    ("route", "string"),
    ("ips", "string"),
    ("mac", "string"),
    ("vendor", "string"),
    ("device_type", "string"),
    ("model", "string"),
    ("firmware", "string"),
    ("hostname", "string"),
    ("purdue_level", "int"),
    ("protocols", "string"),
    ("first_seen", "string"),
    ("last_seen", "string"),
];

const EDGE_KEYS: [(&str, &str); 13] = [
    ("label", "string"),
    ("kind", "string"),
    ("route", "string"),
    ("protocol", "string"),
    ("transport", "string"),
    ("dst_port", "int"),
    ("operations", "string"),
    ("packets", "long"),
    ("bytes", "long"),
    ("sessions", "long"),
    ("polling_period_s", "double"),
    ("first_seen", "string"),
    ("last_seen", "string"),
];

/// GraphML (graphml.graphdrawing.org): typed `<key>`s for every node and edge attribute,
/// which Gephi imports as columns and yEd can map to labels and colours.
pub fn graphml(inv: &Inventory) -> String {
    let ids = node_ids(inv);
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n",
    );
    for (scope, keys, prefix) in [
        ("node", &NODE_KEYS[..], "n_"),
        ("edge", &EDGE_KEYS[..], "e_"),
    ] {
        for (name, ty) in keys {
            let _ = writeln!(
                s,
                "  <key id=\"{prefix}{name}\" for=\"{scope}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
            );
        }
    }
    s.push_str("  <graph id=\"yagura\" edgedefault=\"directed\">\n");
    let data = |s: &mut String, key: &str, v: &str| {
        let _ = writeln!(s, "      <data key=\"{key}\">{}</data>", xml_text(v));
    };
    for (i, a) in inv.assets.iter().enumerate() {
        let _ = writeln!(s, "    <node id=\"n{i}\">");
        data(&mut s, "n_label", &display_name(a));
        data(&mut s, "n_asset_id", &a.id);
        let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
        data(&mut s, "n_ips", &ips.join(" "));
        let opt = [
            ("n_via", a.via.clone()),
            ("n_route", a.route.clone()),
            ("n_mac", a.mac.map(|m| m.to_string())),
            ("n_vendor", a.vendor.clone()),
            ("n_device_type", Some(a.device_type.id().to_string())),
            ("n_model", a.model.clone()),
            ("n_firmware", a.firmware.clone()),
            ("n_hostname", a.hostname.clone()),
            ("n_purdue_level", a.purdue_level.map(|l| l.to_string())),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                data(&mut s, k, &v);
            }
        }
        data(&mut s, "n_protocols", &a.protocols.join(" "));
        data(&mut s, "n_first_seen", &a.first_seen.to_rfc3339());
        data(&mut s, "n_last_seen", &a.last_seen.to_rfc3339());
        s.push_str("    </node>\n");
    }
    for (j, e) in inv.edges.iter().enumerate() {
        let (Some(src), Some(dst)) = (ids.get(e.src.as_str()), ids.get(e.dst.as_str())) else {
            continue;
        };
        let _ = writeln!(
            s,
            "    <edge id=\"e{j}\" source=\"n{src}\" target=\"n{dst}\">"
        );
        data(&mut s, "e_label", &edge_label(e).replace('\n', " "));
        data(&mut s, "e_kind", "traffic");
        if let Some(p) = &e.protocol {
            data(&mut s, "e_protocol", p);
        }
        data(&mut s, "e_transport", &e.transport);
        data(&mut s, "e_dst_port", &e.dst_port.to_string());
        data(&mut s, "e_operations", &e.operations.join(" "));
        data(&mut s, "e_packets", &e.packets.to_string());
        data(&mut s, "e_bytes", &e.bytes.to_string());
        data(&mut s, "e_sessions", &e.sessions.to_string());
        if let Some(p) = e.polling_period_s {
            data(&mut s, "e_polling_period_s", &p.to_string());
        }
        data(&mut s, "e_first_seen", &e.first_seen.to_rfc3339());
        data(&mut s, "e_last_seen", &e.last_seen.to_rfc3339());
        s.push_str("    </edge>\n");
    }
    for (j, (carrier, module, route)) in route_links(inv, &ids).into_iter().enumerate() {
        let _ = writeln!(
            s,
            "    <edge id=\"r{j}\" source=\"n{carrier}\" target=\"n{module}\">"
        );
        data(&mut s, "e_label", route);
        data(&mut s, "e_kind", "route");
        data(&mut s, "e_route", route);
        let m = &inv.assets[module];
        data(&mut s, "e_first_seen", &m.first_seen.to_rfc3339());
        data(&mut s, "e_last_seen", &m.last_seen.to_rfc3339());
        s.push_str("    </edge>\n");
    }
    s.push_str("  </graph>\n</graphml>\n");
    s
}

#[derive(Serialize)]
struct JsonNode<'a> {
    id: &'a str,
    label: String,
    via: Option<&'a str>,
    route: Option<&'a str>,
    ips: &'a [yagura_core::IpAddr],
    mac: Option<yagura_core::MacAddr>,
    vendor: Option<&'a str>,
    device_type: &'static str,
    model: Option<&'a str>,
    firmware: Option<&'a str>,
    hostname: Option<&'a str>,
    purdue_level: Option<u8>,
    protocols: &'a [String],
    roles: &'a [String],
    first_seen: yagura_core::Timestamp,
    last_seen: yagura_core::Timestamp,
}

/// A map edge in JSON: traffic between two assets (the store's edge, every field, with
/// `kind: "traffic"`), or the link from a carrier to a module reached through it
/// (`kind: "route"`, with the route in words and the module's times).
#[derive(Serialize)]
#[serde(untagged)]
enum JsonEdge<'a> {
    Traffic {
        #[serde(flatten)]
        edge: &'a Edge,
        kind: &'static str,
    },
    Route {
        src: &'a str,
        dst: &'a str,
        kind: &'static str,
        route: &'a str,
        first_seen: yagura_core::Timestamp,
        last_seen: yagura_core::Timestamp,
    },
}

#[derive(Serialize)]
struct JsonMap<'a> {
    nodes: Vec<JsonNode<'a>>,
    edges: Vec<JsonEdge<'a>>,
}

/// `{"nodes": [...], "edges": [...]}`; an edge's `src`/`dst` are node ids (asset ids).
pub fn json(inv: &Inventory) -> Result<String> {
    let ids = node_ids(inv);
    let mut edges: Vec<JsonEdge<'_>> = inv
        .edges
        .iter()
        .map(|edge| JsonEdge::Traffic {
            edge,
            kind: "traffic",
        })
        .collect();
    for (carrier, module, route) in route_links(inv, &ids) {
        let m = &inv.assets[module];
        edges.push(JsonEdge::Route {
            src: &inv.assets[carrier].id,
            dst: &m.id,
            kind: "route",
            route,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
        });
    }
    let nodes = inv
        .assets
        .iter()
        .map(|a| JsonNode {
            id: &a.id,
            label: display_name(a),
            via: a.via.as_deref(),
            route: a.route.as_deref(),
            ips: &a.ips,
            mac: a.mac,
            vendor: a.vendor.as_deref(),
            device_type: a.device_type.id(),
            model: a.model.as_deref(),
            firmware: a.firmware.as_deref(),
            hostname: a.hostname.as_deref(),
            purdue_level: a.purdue_level,
            protocols: &a.protocols,
            roles: &a.roles,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&JsonMap { nodes, edges })?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::tests::{HOSTILE, hostile_asset};
    use yagura_core::Timestamp;

    fn hostile_inventory() -> Inventory {
        let assets: Vec<_> = (0..HOSTILE.len()).map(hostile_asset).collect();
        let edges = (0..HOSTILE.len())
            .map(|i| Edge {
                src: assets[i].id.clone(),
                dst: assets[(i + 1) % assets.len()].id.clone(),
                transport: "tcp".into(),
                dst_port: 502,
                protocol: Some(HOSTILE[i].into()),
                operations: vec![HOSTILE[(i + 2) % HOSTILE.len()].into(), "write".into()],
                packets: 10,
                bytes: 640,
                sessions: 1,
                first_seen: Timestamp(1),
                last_seen: Timestamp(2),
                polling_period_s: Some(0.5),
            })
            .collect();
        Inventory { assets, edges }
    }

    /// Reads the quoted strings of a DOT document back (the inverse of `dot_str` for
    /// what it emits), failing on anything that would end a string early.
    fn dot_strings(doc: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = doc.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut s = String::new();
            loop {
                match chars.next().expect("unterminated DOT string") {
                    '"' => break,
                    '\\' => match chars.next().expect("dangling escape") {
                        '\\' => s.push('\\'),
                        '"' => s.push('"'),
                        'n' => s.push('\n'),
                        other => panic!("unexpected escape \\{other}"),
                    },
                    '\n' => panic!("raw newline inside a DOT string"),
                    c => s.push(c),
                }
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn dot_escapes_every_hostile_name() {
        let inv = hostile_inventory();
        let d = dot(&inv);
        // One statement per line: nodes, edges, and the fixed lines.
        let statements = d.lines().filter(|l| l.trim_end().ends_with(';')).count();
        assert_eq!(statements, 3 + inv.assets.len() + inv.edges.len(), "{d}");
        assert!(!d.contains('\u{1b}') && !d.contains('\r'));
        let strings = dot_strings(&d);
        for (i, h) in HOSTILE.iter().enumerate() {
            // The label shows the name exactly, control characters spelled out.
            let shown = crate::display::sanitize(h).into_owned();
            let split = h
                .split('\n')
                .map(|l| crate::display::sanitize(l).into_owned());
            let with_breaks = split.collect::<Vec<_>>().join("\n");
            assert!(
                strings
                    .iter()
                    .any(|s| s.starts_with(&with_breaks) || s.starts_with(&shown)),
                "{i}: {h:?} not found in {strings:?}"
            );
        }
        assert!(strings.iter().any(|s| s.contains("制御盤-第1ライン")));
    }

    #[test]
    fn graphml_is_well_formed_and_round_trips_names() {
        let inv = hostile_inventory();
        let g = graphml(&inv);
        let mut r = quick_xml::Reader::from_str(&g);
        let (mut nodes, mut edges) = (0, 0);
        loop {
            match r.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Start(e) => match e.name().0 {
                    "node" => nodes += 1,
                    "edge" => edges += 1,
                    _ => {}
                },
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!((nodes, edges), (inv.assets.len(), inv.edges.len()));
        // Every hostname is there, escaped exactly once: unescaping gives the name back
        // (control characters spelled out).
        for h in HOSTILE {
            let esc = xml_text(h);
            assert!(g.contains(&format!("<data key=\"n_hostname\">{esc}</data>")));
            let back = quick_xml::escape::unescape(&esc).unwrap();
            assert_eq!(back, crate::display::sanitize(h));
        }
        assert!(g.contains("&lt;b&gt;&amp;amp;&lt;/b&gt; ]]&gt; --&gt; &lt;!--"));
        assert!(g.contains("制御盤-第1ライン"));
    }

    #[test]
    fn json_map_keeps_names_exactly() {
        let inv = hostile_inventory();
        let v: serde_json::Value = serde_json::from_str(&json(&inv).unwrap()).unwrap();
        let nodes = v["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), inv.assets.len());
        for (n, h) in nodes.iter().zip(HOSTILE) {
            assert_eq!(n["hostname"], h);
            assert_eq!(n["label"], h);
        }
        assert_eq!(v["edges"].as_array().unwrap().len(), inv.edges.len());
        assert_eq!(v["edges"][0]["protocol"], HOSTILE[0]);
    }
}
