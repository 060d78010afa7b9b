use std::fmt;

use serde::{Serialize, Serializer};

pub use std::net::IpAddr;

/// An IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// From the first six bytes of `b`; `None` when `b` is shorter.
    #[inline]
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        b.get(..6)
            .map(|s| MacAddr([s[0], s[1], s[2], s[3], s[4], s[5]]))
    }

    /// Group (multicast or broadcast) address: the I/G bit is set.
    #[inline]
    pub fn is_group(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Locally administered (often randomised): the U/L bit is set.
    #[inline]
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 == 2
    }

    #[inline]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// `00:1b:1b:aa:bb:cc` (or with dashes), as [`fmt::Display`] writes it.
    pub fn parse(s: &str) -> Option<MacAddr> {
        let mut b = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for x in &mut b {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *x = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(MacAddr(b))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: six `{:02x}` arguments cost about 2,000 instructions, and MACs are
        // formatted for every fact, report and map.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = [b':'; 17];
        for (i, &x) in self.0.iter().enumerate() {
            s[i * 3] = HEX[usize::from(x >> 4)];
            s[i * 3 + 1] = HEX[usize::from(x & 0x0f)];
        }
        f.pad(std::str::from_utf8(&s).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_classifies() {
        let m = MacAddr([0x00, 0x1b, 0x1b, 0x0a, 0xbc, 0xde]);
        assert_eq!(m.to_string(), "00:1b:1b:0a:bc:de");
        assert!(!m.is_group() && !m.is_local());
        assert!(MacAddr::BROADCAST.is_group());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_local());
        assert_eq!(MacAddr::from_slice(&[1, 2, 3]), None);
    }

    #[test]
    fn display_agrees_with_formatting_each_byte() {
        for seed in 0u8..=255 {
            let b = [seed, seed ^ 0xff, seed.wrapping_mul(7), 0, 0xff, seed >> 3];
            let want: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            assert_eq!(MacAddr(b).to_string(), want.join(":"));
        }
        // Width and alignment still apply.
        assert_eq!(
            format!("{:>19}|", MacAddr::BROADCAST),
            "  ff:ff:ff:ff:ff:ff|"
        );
    }
}
