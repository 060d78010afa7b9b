use std::fmt;

use serde::{Serialize, Serializer};

/// A pcap/pcapng `LINKTYPE_*` value. An open set: any `u16` is a valid value, and the ones
/// Yagura does not decode are counted under their name rather than rejected.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkType(pub u16);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const ARCNET_BSD: LinkType = LinkType(7);
    pub const PPP: LinkType = LinkType(9);
    pub const FDDI: LinkType = LinkType(10);
    /// `DLT_RAW` as some BSDs number it in files written by old libpcaps.
    pub const RAW_BSD12: LinkType = LinkType(12);
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const PPP_ETHER: LinkType = LinkType(51);
    pub const RAW: LinkType = LinkType(101);
    pub const C_HDLC: LinkType = LinkType(104);
    pub const IEEE802_11: LinkType = LinkType(105);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const PFLOG: LinkType = LinkType(117);
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    pub const ARCNET_LINUX: LinkType = LinkType(129);
    pub const USER0: LinkType = LinkType(147);
    pub const BLUETOOTH_HCI_H4: LinkType = LinkType(187);
    pub const USB_LINUX: LinkType = LinkType(189);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const NETLINK: LinkType = LinkType(253);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Stable snake_case name used as a report key (`link_types`, `undecodable`).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let s = match self {
            LinkType::NULL => "null",
            LinkType::ETHERNET => "ethernet",
            LinkType::ARCNET_BSD => "arcnet_bsd",
            LinkType::PPP => "ppp",
            LinkType::FDDI => "fddi",
            LinkType::RAW_BSD12 | LinkType::RAW_BSD14 | LinkType::RAW => "raw",
            LinkType::PPP_HDLC => "ppp_hdlc",
            LinkType::PPP_ETHER => "pppoe",
            LinkType::C_HDLC => "cisco_hdlc",
            LinkType::IEEE802_11 => "ieee802_11",
            LinkType::LOOP => "loop",
            LinkType::LINUX_SLL => "linux_sll",
            LinkType::PFLOG => "pflog",
            LinkType::IEEE802_11_RADIOTAP => "ieee802_11_radiotap",
            LinkType::ARCNET_LINUX => "arcnet_linux",
            LinkType::BLUETOOTH_HCI_H4 => "bluetooth_hci_h4",
            LinkType::USB_LINUX => "usb_linux",
            LinkType::IPV4 => "ipv4",
            LinkType::IPV6 => "ipv6",
            LinkType::NETLINK => "netlink",
            LinkType::LINUX_SLL2 => "linux_sll2",
            LinkType(n) if (147..=162).contains(&n) => {
                return std::borrow::Cow::Owned(format!("user{}", n - 147));
            }
            LinkType(n) => return std::borrow::Cow::Owned(format!("linktype_{n}")),
        };
        std::borrow::Cow::Borrowed(s)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkType({}={})", self.0, self.name())
    }
}

impl Serialize for LinkType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown() {
        assert_eq!(LinkType(1).name(), "ethernet");
        assert_eq!(LinkType(129).name(), "arcnet_linux");
        assert_eq!(LinkType(150).name(), "user3");
        assert_eq!(LinkType(9999).name(), "linktype_9999");
    }
}
