//! Showing network-derived text to a person: asset names, models and firmware strings come
//! from the wire and are hostile input. Outside JSON (which escapes exactly) they are
//! shown with every control or direction-changing character spelled out, so no value can
//! move the cursor, recolour the terminal, reorder a line or add a row or a node.

use std::borrow::Cow;

use yagura_core::Timestamp;
use yagura_model::inventory::Asset;

/// Characters that reorder text when displayed (bidirectional embeddings, overrides and
/// isolates, and the marks): shown escaped so a name cannot disguise itself.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control characters (C0, DEL, C1), bidi controls and the XML non-characters
/// U+FFFE/U+FFFF replaced by their Rust escapes (`\n`, `\u{1b}`, …); a backslash stays a
/// backslash.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    let bad =
        |c: char| c.is_control() || is_bidi_control(c) || matches!(c, '\u{fffe}' | '\u{ffff}');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The name to show for an asset: its hostname (or the user's name for it), else another
/// name, else its first address; for a module reached through another asset (no address),
/// its model, else its route; else its id.
pub fn display_name(a: &Asset) -> String {
    a.hostname
        .clone()
        .or_else(|| a.names.first().cloned())
        .or_else(|| a.ips.first().map(ToString::to_string))
        .or_else(|| {
            a.via
                .as_ref()
                .and(a.model.clone().or_else(|| a.route.clone()))
        })
        .unwrap_or_else(|| a.id.clone())
}

/// `2026-01-01 00:00:00` (UTC, whole seconds).
pub fn short_time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..19).map_or(s.clone(), |x| x.replacen('T', " ", 1))
}

/// Columns a string takes in a terminal: CJK characters take two.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            if (0x1100..=0x115f).contains(&c)
                || (0x2e80..=0xa4cf).contains(&c)
                || (0xac00..=0xd7a3).contains(&c)
                || (0xf900..=0xfaff).contains(&c)
                || (0xfe30..=0xfe4f).contains(&c)
                || (0xff00..=0xff60).contains(&c)
                || (0xffe0..=0xffe6).contains(&c)
            {
                2
            } else {
                1
            }
        })
        .sum()
}

/// Write a table: `header`, then `rows`, in columns two spaces apart, each as wide as its
/// widest cell as shown (sanitized, CJK characters two columns), trailing spaces trimmed.
pub fn write_table<const N: usize>(
    out: &mut dyn std::io::Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(|h| display_width(&sanitize(h)));
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(display_width(&sanitize(c)));
        }
    }
    let line = |out: &mut dyn std::io::Write, cells: [&str; N]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            let c = sanitize(c);
            s.push_str(&c);
            if i + 1 < N {
                s.push_str(&" ".repeat(w - display_width(&c) + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header)?;
    for r in rows {
        line(out, r.each_ref().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_out_controls_and_bidi_but_keeps_text() {
        assert_eq!(sanitize("plc-1"), "plc-1");
        assert_eq!(sanitize("制御盤 1"), "制御盤 1");
        assert_eq!(sanitize("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(sanitize("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(sanitize("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
        assert_eq!(sanitize("nul\0"), "nul\\u{0}");
        assert_eq!(sanitize("\u{85}"), "\\u{85}");
    }

    #[test]
    fn short_time_is_utc_seconds() {
        assert_eq!(
            short_time(Timestamp::from_secs_nanos(1_767_225_600, 999)),
            "2026-01-01 00:00:00"
        );
    }
}
