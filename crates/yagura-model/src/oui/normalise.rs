//! Display names for registry organisation names.
//!
//! The IEEE registries spell one company many ways (`Siemens AG`, `SIEMENS AG`, `Siemens AG,`,
//! `Siemens Industrial Automation Products Ltd., Chengdu`). [`normalise`] applies, in order:
//!
//! 1. trim, and collapse runs of white space to one space;
//! 2. drop trailing legal-form words, repeatedly: the last word (split at a space or a comma,
//!    trailing `.` and `,` ignored, case-insensitive) is dropped while it is one of
//!    [`LEGAL_FORMS`] and something is left before it (`Phoenix Contact GmbH & Co. KG` →
//!    `Phoenix Contact`; `Nokia Shanghai Bell Co., Ltd.` → `Nokia Shanghai Bell`);
//! 3. a name with no lower-case ASCII letter is title-cased, word by word, except words of
//!    three letters or fewer, which are likely acronyms (`HUAWEI TECHNOLOGIES` → `Huawei
//!    Technologies`, `ABB` stays);
//! 4. the curated [`ALIASES`] table: a name that starts with one of a vendor's patterns (whole
//!    words, case-insensitive) becomes that vendor's name, so subsidiaries and old names map to
//!    one vendor (`Telemecanique Electrique` → `Schneider Electric`).

/// Legal-form words dropped from the end of a name (lower case, without trailing dots).
pub const LEGAL_FORMS: &[&str] = &[
    "&",
    "a.s",
    "a/s",
    "ab",
    "ag",
    "aps",
    "as",
    "b.v",
    "bhd",
    "bv",
    "co",
    "co.,ltd",
    "co.ltd",
    "corp",
    "corporation",
    "e.k",
    "e.v",
    "gmbh",
    "inc",
    "incorporated",
    "k.k",
    "kg",
    "kk",
    "l.l.c",
    "limited",
    "llc",
    "ltd",
    "ltda",
    "n.v",
    "nv",
    "oy",
    "oyj",
    "plc",
    "pte",
    "pty",
    "pvt",
    "s.a",
    "s.a.s",
    "s.a.u",
    "s.l",
    "s.l.u",
    "s.p.a",
    "s.r.l",
    "s.r.o",
    "sa",
    "sas",
    "sdn",
    "se",
    "sl",
    "spa",
    "srl",
    "sro",
];

/// Curated vendor names for the major OT and network vendors: `(vendor, patterns)`. A
/// pattern matches the start of a normalised name, case-insensitively, ending at the end of
/// the name or before a character that is not a letter or digit.
pub const ALIASES: &[(&str, &[&str])] = &[
    ("ABB", &["abb"]),
    ("Advantech", &["advantech"]),
    ("Azbil", &["azbil", "yamatake"]),
    ("B&R", &["b&r industrial", "b & r industrial"]),
    ("Beckhoff", &["beckhoff"]),
    (
        "Belden (Hirschmann)",
        &["belden", "hirschmann", "garrettcom"],
    ),
    ("Cisco", &["cisco"]),
    (
        "Emerson",
        &[
            "emerson",
            "fisher-rosemount",
            "fisher rosemount",
            "rosemount",
        ],
    ),
    (
        "Endress+Hauser",
        &["endress+hauser", "endress + hauser", "endress hauser"],
    ),
    ("Fuji Electric", &["fuji electric"]),
    ("GE", &["ge", "general electric"]),
    ("Hilscher", &["hilscher"]),
    ("Hitachi", &["hitachi"]),
    (
        "HMS Industrial Networks",
        &["hms industrial networks", "hms networks"],
    ),
    ("Honeywell", &["honeywell"]),
    ("Keyence", &["keyence"]),
    ("Mitsubishi Electric", &["mitsubishi electric"]),
    ("Moxa", &["moxa"]),
    ("Omron", &["omron"]),
    ("Panasonic", &["panasonic", "matsushita electric"]),
    (
        "Pepperl+Fuchs",
        &["pepperl+fuchs", "pepperl + fuchs", "pepperl & fuchs"],
    ),
    ("Phoenix Contact", &["phoenix contact"]),
    (
        "Rockwell Automation",
        &["rockwell automation", "allen-bradley", "allen bradley"],
    ),
    (
        "Schneider Electric",
        &[
            "schneider electric",
            "telemecanique",
            "modicon",
            "square d",
            "apc by schneider",
            "american power conversion",
            "invensys",
            "foxboro",
        ],
    ),
    ("SEL", &["schweitzer engineering"]),
    ("Siemens", &["siemens", "ruggedcom"]),
    ("Toshiba", &["toshiba"]),
    ("WAGO", &["wago"]),
    ("Yokogawa", &["yokogawa"]),
];

/// The display name for a registry organisation name (rules in the module docs).
pub fn normalise(registry_name: &str) -> String {
    let collapsed = registry_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let stripped = strip_legal_forms(&collapsed);
    let cased = if stripped.bytes().any(|b| b.is_ascii_lowercase()) {
        stripped.to_owned()
    } else {
        title_case(stripped)
    };
    alias(&cased).map_or(cased, str::to_owned)
}

/// The curated vendor name for `name`, if it starts with one of [`ALIASES`]' patterns.
pub fn alias(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    ALIASES.iter().find_map(|(vendor, patterns)| {
        patterns
            .iter()
            .any(|p| {
                lower.starts_with(p)
                    && lower[p.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alphanumeric())
            })
            .then_some(*vendor)
    })
}

fn trim_tail(s: &str) -> &str {
    s.trim_end_matches([' ', ','])
}

fn strip_legal_forms(name: &str) -> &str {
    let mut s = trim_tail(name);
    while let Some(i) = s.rfind([' ', ',']) {
        let word = s[i + 1..].trim_end_matches(['.', ',']).to_ascii_lowercase();
        let rest = trim_tail(&s[..i]);
        if rest.is_empty() || LEGAL_FORMS.binary_search(&word.as_str()).is_err() {
            break;
        }
        s = rest;
    }
    s.trim_end_matches([' ', ',', '-', ';'])
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            if w.chars().filter(|c| c.is_alphabetic()).count() <= 3 {
                return w.to_owned();
            }
            let mut out = String::with_capacity(w.len());
            let mut start = true;
            for c in w.chars() {
                if start {
                    out.push(c);
                } else {
                    out.extend(c.to_lowercase());
                }
                start = !c.is_alphanumeric();
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms_are_sorted_for_binary_search() {
        assert!(LEGAL_FORMS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn spellings_of_one_company() {
        for (raw, want) in [
            ("Siemens AG", "Siemens"),
            ("SIEMENS AG", "Siemens"),
            ("Siemens AG,", "Siemens"),
            (
                "  Siemens   Industrial Automation Products Ltd., Chengdu ",
                "Siemens",
            ),
            ("Phoenix Contact GmbH & Co. KG", "Phoenix Contact"),
            ("TELEMECANIQUE ELECTRIQUE", "Schneider Electric"),
            ("Rockwell Automation", "Rockwell Automation"),
            ("ALLEN-BRADLEY CO. INC.", "Rockwell Automation"),
            ("Mitsubishi Electric Corporation", "Mitsubishi Electric"),
            ("MITSUBISHI ELECTRIC INDIA PVT. LTD.", "Mitsubishi Electric"),
            (
                "Hirschmann Automation and Control GmbH",
                "Belden (Hirschmann)",
            ),
            ("ABB Oy", "ABB"),
            ("GE Grid Solutions", "GE"),
            ("Moxa Technologies Corp., Ltd.", "Moxa"),
        ] {
            assert_eq!(normalise(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn other_names() {
        for (raw, want) in [
            ("Nokia Shanghai Bell Co., Ltd.", "Nokia Shanghai Bell"),
            ("DATA ELECTRONIC DEVICES, INC", "Data Electronic Devices"),
            ("QUERCUS TECHNOLOGIES, S.L.", "Quercus Technologies"),
            ("HUAWEI TECHNOLOGIES CO.,LTD", "Huawei Technologies"),
            (
                "Extreme Networks Headquarters",
                "Extreme Networks Headquarters",
            ),
            ("Private", "Private"),
            ("AB", "AB"),
            ("Abbott Laboratories", "Abbott Laboratories"),
            ("Genexis B.V.", "Genexis"),
            ("ZAT a.s.", "ZAT"),
        ] {
            assert_eq!(normalise(raw), want, "{raw:?}");
        }
    }
}
