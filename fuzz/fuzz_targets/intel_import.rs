//! Threat-intelligence import (`yagura_detect::intel::import::parse`): the bytes as an
//! indicator file, a plain list or (when it starts with `{`) a STIX bundle; and the bytes as
//! a STIX pattern (`intel::pattern::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_core::Timestamp;
use yagura_detect::intel::{IntelIndex, import, normalise, pattern};

fuzz_target!(|data: &[u8]| {
    let now = Timestamp(1_750_000_000_000_000_000);
    if let Ok(p) = import::parse(data, "fuzz", now) {
        assert!(p.rejected.len() <= import::MAX_REJECTS_KEPT);
        assert!(p.rejected.len() as u64 <= p.rejected_count());
        for i in &p.indicators {
            // Stored values are normalised: normalising again changes nothing.
            assert_eq!(normalise(i.kind, &i.value).as_deref(), Some(i.value.as_str()));
            assert_eq!(i.source, "fuzz");
            assert!(i.valid_until.is_none_or(|t| t > now));
        }
        let _ = IntelIndex::new(&p.indicators).is_empty();
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(c) = pattern::parse(s)
    {
        assert!(!c.is_empty());
    }
});
