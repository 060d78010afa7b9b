//! Reading indicator files: plain lists (one indicator per line) and STIX 2.1 bundles.
//!
//! Pure: bytes in, indicators and the reasons for what was refused out. The caller (the
//! store) keeps them. Bounded: files larger than [`MAX_FILE_BYTES`] and imports of more
//! than [`MAX_INDICATORS`] indicators are refused whole, and at most [`MAX_REJECTS_KEPT`]
//! refusals are kept with their place (all are counted).

use std::collections::BTreeMap;
use std::collections::HashSet;

use serde::Deserialize;
use yagura_core::Timestamp;

use super::pattern;
use super::{Indicator, IndicatorKind, normalise};

/// Largest file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Most indicators one import takes.
pub const MAX_INDICATORS: usize = 1_000_000;
/// Refusals kept with their place and value (the others are only counted by reason).
pub const MAX_REJECTS_KEPT: usize = 1000;
/// Longest line, name or description kept (characters); longer ones are cut.
const MAX_TEXT: usize = 1024;

/// Why a file cannot be imported at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the file is {0} bytes, more than the {MAX_FILE_BYTES} an import reads")]
    TooLarge(u64),
    #[error("more than {MAX_INDICATORS} indicators in one import: split the feed")]
    TooMany,
    #[error("not a STIX 2.1 bundle: {0}")]
    Stix(String),
}

/// One indicator, or one part of a STIX pattern, that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `line 12`, or the STIX object's id.
    pub at: String,
    /// What was read (cut to a line's worth).
    pub value: String,
    pub reason: String,
}

/// What reading one file gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The indicators, each (kind, value) once (the first occurrence kept).
    pub indicators: Vec<Indicator>,
    /// The first [`MAX_REJECTS_KEPT`] refusals.
    pub rejected: Vec<Rejected>,
    /// Refusals by reason (all of them).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// STIX indicators marked revoked, not imported.
    pub revoked: u64,
    /// STIX indicators whose `valid_until` has passed, not imported.
    pub expired: u64,
    /// Indicators given twice in the file (kept once).
    pub duplicates: u64,
}

impl Parsed {
    /// Refusals in all.
    pub fn rejected_count(&self) -> u64 {
        self.rejected_by_reason.values().sum()
    }

    fn reject(&mut self, at: String, value: &str, reason: String) {
        if self.rejected.len() < MAX_REJECTS_KEPT {
            self.rejected.push(Rejected {
                at,
                value: cut(value),
                reason: reason.clone(),
            });
        }
        *self.rejected_by_reason.entry(reason).or_default() += 1;
    }

    fn push(
        &mut self,
        seen: &mut HashSet<(IndicatorKind, String)>,
        i: Indicator,
    ) -> Result<(), ImportError> {
        if !seen.insert((i.kind, i.value.clone())) {
            self.duplicates += 1;
            return Ok(());
        }
        if self.indicators.len() >= MAX_INDICATORS {
            return Err(ImportError::TooMany);
        }
        self.indicators.push(i);
        Ok(())
    }
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Read `data`, a plain list or a STIX bundle (told apart by a leading `{`), as indicators
/// of `source`. `now` decides which STIX indicators have expired.
pub fn parse(data: &[u8], source: &str, now: Timestamp) -> Result<Parsed, ImportError> {
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge(data.len() as u64));
    }
    let text = String::from_utf8_lossy(data);
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        stix(text, source, now)
    } else {
        list(text, source)
    }
}

/// A plain list: one indicator per line (an address or CIDR network, a domain name, a URL,
/// an MD5, SHA-1 or SHA-256 hex digest); `#` starts a comment, blank lines are skipped, and
/// of a `value,comment` line only the value counts. Defanged forms (`evil[.]example`,
/// `hxxp://`) are read as the real ones.
fn list(text: &str, source: &str) -> Result<Parsed, ImportError> {
    let mut out = Parsed::default();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let value = line.split([',', ';', '\t']).next().unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        match detect(value) {
            Ok((kind, value)) => out.push(
                &mut seen,
                Indicator {
                    kind,
                    value,
                    source: source.to_owned(),
                    name: None,
                    description: None,
                    stix_id: None,
                    valid_from: None,
                    valid_until: None,
                },
            )?,
            Err(reason) => out.reject(format!("line {}", n + 1), value, reason),
        }
    }
    Ok(out)
}

/// The kind of a plain list's value, and the value normalised.
fn detect(raw: &str) -> Result<(IndicatorKind, String), String> {
    let v = raw.replace("[.]", ".").replace("[:]", ":");
    let v = v.trim();
    if let Some(v) = normalise(IndicatorKind::Ip, v) {
        return Ok((IndicatorKind::Ip, v));
    }
    if v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let kind = match v.len() {
            32 => Some(IndicatorKind::Md5),
            40 => Some(IndicatorKind::Sha1),
            64 => Some(IndicatorKind::Sha256),
            _ => None,
        };
        if let Some(k) = kind {
            return Ok((k, v.to_ascii_lowercase()));
        }
    }
    if v.contains("://") {
        return url_host(v).ok_or_else(|| "a URL without a host".to_owned());
    }
    match normalise(IndicatorKind::Domain, v) {
        Some(d) => Ok((IndicatorKind::Domain, d)),
        None => {
            Err("not an address, network, domain name, URL or MD5/SHA-1/SHA-256 digest".to_owned())
        }
    }
}

/// The host of a URL, as an address or a domain indicator.
fn url_host(url: &str) -> Option<(IndicatorKind, String)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(r) = host_port.strip_prefix('[') {
        r.split_once(']')?.0
    } else {
        host_port.split(':').next()?
    };
    if let Some(ip) = normalise(IndicatorKind::Ip, host) {
        return Some((IndicatorKind::Ip, ip));
    }
    normalise(IndicatorKind::Domain, host).map(|d| (IndicatorKind::Domain, d))
}

/// The parts of a STIX object an import reads; anything else is skipped unread.
#[derive(Deserialize)]
struct StixObject {
    #[serde(rename = "type", default, deserialize_with = "text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "text")]
    id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    description: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pattern: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pattern_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    valid_from: Option<String>,
    #[serde(default, deserialize_with = "text")]
    valid_until: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    revoked: bool,
    #[serde(default)]
    objects: Option<Vec<StixObject>>,
}

/// A string field, or `None` when it holds anything else (a producer's oddity is the
/// object's problem, not the whole bundle's).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(
        serde_json::Value::deserialize(d)?,
        serde_json::Value::Bool(true)
    ))
}

/// A STIX 2.x bundle (`{"type": "bundle", "objects": […]}`), or one indicator object:
/// its `indicator` objects with `pattern_type` `stix` (or none, as STIX 2.0 had).
fn stix(text: &str, source: &str, now: Timestamp) -> Result<Parsed, ImportError> {
    // serde_json bounds its own recursion (128 levels), so a deeply nested file is an
    // error, not a stack overflow.
    let top: StixObject =
        serde_json::from_str(text).map_err(|e| ImportError::Stix(e.to_string()))?;
    let objects = match top.kind.as_deref() {
        Some("bundle") => top
            .objects
            .ok_or_else(|| ImportError::Stix("the bundle has no \"objects\" list".into()))?,
        Some("indicator") => vec![top],
        Some(t) => return Err(ImportError::Stix(format!("a {t:?} object, not a bundle"))),
        None => return Err(ImportError::Stix("no \"type\": \"bundle\"".into())),
    };
    let mut out = Parsed::default();
    let mut seen = HashSet::new();
    for (n, o) in objects.into_iter().enumerate() {
        if o.kind.as_deref() != Some("indicator") {
            continue;
        }
        let at = o.id.clone().unwrap_or_else(|| format!("object {}", n + 1));
        let pattern_text = o.pattern.as_deref().unwrap_or("");
        if o.revoked {
            out.revoked += 1;
            continue;
        }
        let valid_until = match o.valid_until.as_deref().map(super::parse_time) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                out.reject(
                    at,
                    pattern_text,
                    "valid_until is not an RFC 3339 time".into(),
                );
                continue;
            }
            None => None,
        };
        if valid_until.is_some_and(|t| t <= now) {
            out.expired += 1;
            continue;
        }
        if let Some(pt) = o.pattern_type.as_deref()
            && pt != "stix"
        {
            out.reject(
                at,
                pattern_text,
                format!("pattern_type {pt:?}: only stix patterns are read"),
            );
            continue;
        }
        let Some(p) = o.pattern.as_deref() else {
            out.reject(at, "", "an indicator without a pattern".into());
            continue;
        };
        let comparisons = match pattern::parse(p) {
            Ok(c) => c,
            Err(reason) => {
                out.reject(at, p, reason);
                continue;
            }
        };
        for c in comparisons {
            match from_comparison(&c) {
                Ok((kind, value)) => out.push(
                    &mut seen,
                    Indicator {
                        kind,
                        value,
                        source: source.to_owned(),
                        name: o.name.as_deref().map(cut),
                        description: o.description.as_deref().map(cut),
                        stix_id: o.id.as_deref().map(cut),
                        valid_from: o.valid_from.as_deref().and_then(super::parse_time),
                        valid_until,
                    },
                )?,
                Err(reason) => out.reject(
                    at.clone(),
                    &format!("{}:{} = '{}'", c.object, c.path, c.value),
                    reason,
                ),
            }
        }
    }
    Ok(out)
}

/// The indicator one comparison names, or why Yagura cannot match it.
fn from_comparison(c: &pattern::Comparison) -> Result<(IndicatorKind, String), String> {
    let bad = |what: &str| format!("{:?} is not a valid {what}", cut(&c.value));
    match (c.object.as_str(), c.path.as_str()) {
        ("ipv4-addr", "value") => normalise(IndicatorKind::Ip, &c.value)
            .filter(|v| !v.contains(':'))
            .map(|v| (IndicatorKind::Ip, v))
            .ok_or_else(|| bad("IPv4 address or network")),
        ("ipv6-addr", "value") => normalise(IndicatorKind::Ip, &c.value)
            .filter(|v| v.contains(':'))
            .map(|v| (IndicatorKind::Ip, v))
            .ok_or_else(|| bad("IPv6 address or network")),
        ("domain-name", "value") => normalise(IndicatorKind::Domain, &c.value)
            .map(|v| (IndicatorKind::Domain, v))
            .ok_or_else(|| bad("domain name")),
        ("url", "value") => url_host(&c.value).ok_or_else(|| bad("URL with a host")),
        (_, path) if path.starts_with("hashes.") => {
            let alg = path["hashes.".len()..]
                .to_ascii_uppercase()
                .replace('-', "");
            let kind = match alg.as_str() {
                "MD5" => IndicatorKind::Md5,
                "SHA1" => IndicatorKind::Sha1,
                "SHA256" => IndicatorKind::Sha256,
                _ => {
                    return Err(format!(
                        "hash algorithm {:?} is not matched (MD5, SHA-1, SHA-256 are)",
                        &path[7..]
                    ));
                }
            };
            normalise(kind, &c.value)
                .map(|v| (kind, v))
                .ok_or_else(|| bad(kind.id()))
        }
        (object, path) => Err(format!(
            "{object}:{path} is not matched (addresses, domain names, URLs and hashes are)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_750_000_000_000_000_000);

    fn kv(p: &Parsed) -> Vec<(IndicatorKind, &str)> {
        p.indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect()
    }

    #[test]
    fn reads_a_plain_list() {
        let text = "# feed\n\n198.51.100.7\n203.0.113.0/24 # a network\n2001:DB8::1\nEvil.Example.\nevil[.]example\nhxxp://bad.example:8080/x?y\n\
            D41D8CD98F00B204E9800998ECF8427E\nda39a3ee5e6b4b0d3255bfef95601890afd80709,empty file\n\
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nnot an indicator!\n10.0.0.1/33\n";
        let p = parse(text.as_bytes(), "feed.txt", NOW).unwrap();
        use IndicatorKind::*;
        assert_eq!(
            kv(&p),
            [
                (Ip, "198.51.100.7"),
                (Ip, "203.0.113.0/24"),
                (Ip, "2001:db8::1"),
                (Domain, "evil.example"),
                (Domain, "bad.example"),
                (Md5, "d41d8cd98f00b204e9800998ecf8427e"),
                (Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
                (
                    Sha256,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ),
            ]
        );
        assert_eq!(p.duplicates, 1, "evil[.]example is evil.example again");
        assert_eq!(p.rejected_count(), 2);
        assert_eq!(p.rejected[0].at, "line 12");
        assert_eq!(p.rejected[1].value, "10.0.0.1/33");
        assert!(p.indicators.iter().all(|i| i.source == "feed.txt"));
    }

    fn bundle(objects: &str) -> String {
        format!(
            r#"{{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [{objects}]}}"#
        )
    }

    fn indicator(id: u8, pattern: &str, extra: &str) -> String {
        format!(
            r#"{{"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-0000000000{id:02}",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "name": "ind {id}", "pattern": {pattern:?}, "pattern_type": "stix",
               "valid_from": "2024-01-01T00:00:00Z"{extra}}}"#
        )
    }

    #[test]
    fn reads_a_stix_bundle() {
        let b = bundle(&[
            r#"{"type": "malware", "id": "malware--1", "name": "x", "is_family": true}"#.to_owned(),
            indicator(1, "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'C2.Example']", r#", "description": "C2""#),
            indicator(2, "[x509-certificate:hashes.'SHA-256' = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']", ""),
            indicator(3, "[url:value = 'https://[2001:db8::7]:8443/a']", ""),
            indicator(4, "[domain-name:value = 'gone.example']", r#", "revoked": true"#),
            indicator(5, "[domain-name:value = 'old.example']", r#", "valid_until": "2025-01-01T00:00:00Z""#),
            indicator(6, "[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'x.example']", ""),
            indicator(7, "[email-addr:value = 'a@b.example'] OR [file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", ""),
            indicator(8, "[domain-name:value = 'later.example']", r#", "valid_until": "2099-01-01T00:00:00.5+09:00""#),
            r#"{"type": "indicator", "id": "indicator--9", "pattern": "rule x {}", "pattern_type": "yara"}"#.to_owned(),
        ].join(","));
        let p = parse(b.as_bytes(), "bundle.json", NOW).unwrap();
        use IndicatorKind::*;
        assert_eq!(
            kv(&p),
            [
                (Ip, "198.51.100.7"),
                (Domain, "c2.example"),
                (
                    Sha256,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ),
                (Ip, "2001:db8::7"),
                (Md5, "d41d8cd98f00b204e9800998ecf8427e"),
                (Domain, "later.example"),
            ]
        );
        let first = &p.indicators[0];
        assert_eq!(first.name.as_deref(), Some("ind 1"));
        assert_eq!(first.description.as_deref(), Some("C2"));
        assert_eq!(
            first.stix_id.as_deref(),
            Some("indicator--00000000-0000-4000-8000-000000000001")
        );
        assert_eq!(
            first.valid_from,
            super::super::parse_time("2024-01-01T00:00:00Z")
        );
        assert_eq!((p.revoked, p.expired), (1, 1));
        let reasons: Vec<&str> = p.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("AND"));
        assert!(reasons[1].starts_with("email-addr:value is not matched"));
        assert!(reasons[2].contains("yara"));
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        for bad in [
            r#"{"type": "malware"}"#,
            r#"{"objects": []}"#,
            "{",
            r#"{"type": "bundle"}"#,
        ] {
            assert!(
                matches!(parse(bad.as_bytes(), "x", NOW), Err(ImportError::Stix(_))),
                "{bad}"
            );
        }
        let deep = format!("{}{}", "{\"objects\":[".repeat(2000), "]}".repeat(2000));
        assert!(parse(deep.as_bytes(), "x", NOW).is_err());
        // Fields of unexpected types spoil only their own object.
        let odd = bundle(
            &indicator(
                1,
                "[domain-name:value = 'a.example']",
                r#", "revoked": "yes", "labels": 5"#,
            )
            .replace(r#""name": "ind 1""#, r#""name": 7"#),
        );
        let p = parse(odd.as_bytes(), "x", NOW).unwrap();
        assert_eq!(p.indicators.len(), 1);
        assert_eq!(p.indicators[0].name, None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse(&b, "x", NOW);
        }

        #[test]
        fn never_panics_on_list_like_lines(lines in proptest::collection::vec("[0-9a-fA-F.:/\\[\\]#,a-z ]{0,70}", 0..20)) {
            let text = lines.join("\n");
            let p = parse(text.as_bytes(), "x", NOW).unwrap();
            for i in &p.indicators {
                let again = normalise(i.kind, &i.value);
                proptest::prop_assert_eq!(again.as_deref(), Some(i.value.as_str()));
            }
        }

        #[test]
        fn never_panics_on_bundles_with_arbitrary_patterns(pat in ".{0,120}") {
            let b = bundle(&indicator(1, &pat, ""));
            let _ = parse(b.as_bytes(), "x", NOW);
        }
    }
}
