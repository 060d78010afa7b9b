use serde::{Serialize, Serializer};

/// A capture timestamp: nanoseconds since the Unix epoch (UTC).
///
/// Nanoseconds cover pcap (µs), pcapng (any `if_tsresol`) and AF_PACKET (ns) alike; `u64`
/// reaches past the year 2500, and timestamps before 1970 (a broken capture) clamp to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    /// From whole seconds and a nanosecond part.
    #[inline]
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Timestamp {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(u64::from(nanos)),
        )
    }

    #[inline]
    pub fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    #[inline]
    pub fn subsec_nanos(self) -> u32 {
        (self.0 % 1_000_000_000) as u32
    }

    /// Nanoseconds from `earlier` to `self`, zero when `earlier` is later.
    #[inline]
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with nanosecond precision, e.g. `2026-01-01T00:00:00.000000001Z`.
    pub fn to_rfc3339(self) -> String {
        self.format(9)
    }

    /// RFC 3339 in UTC with microsecond precision, e.g. `2026-01-01T00:00:00.000001Z`
    /// (the precision of classic pcap, used in `--events`).
    pub fn to_rfc3339_micros(self) -> String {
        self.format(6)
    }

    fn format(self, digits: u32) -> String {
        let secs = self.secs();
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:0w$}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60,
            self.subsec_nanos() / 10u32.pow(9 - digits),
            w = digits as usize
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) — Howard Hinnant's
/// `civil_from_days`, exact for every `u64` second count we can hold.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000000Z");
        // 2026-01-01 00:00:00 UTC, the benchmark capture's T0.
        let t = Timestamp::from_secs_nanos(1_767_225_600, 1_500);
        assert_eq!(t.to_rfc3339(), "2026-01-01T00:00:00.000001500Z");
        assert_eq!(t.to_rfc3339_micros(), "2026-01-01T00:00:00.000001Z");
        // Leap day.
        let t = Timestamp::from_secs_nanos(951_782_400, 0);
        assert_eq!(t.to_rfc3339(), "2000-02-29T00:00:00.000000000Z");
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_never_panics(ns in proptest::prelude::any::<u64>()) {
            let s = Timestamp(ns).to_rfc3339();
            proptest::prop_assert!(s.ends_with('Z'));
        }
    }
}
