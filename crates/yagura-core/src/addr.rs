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
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
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
}
