//! The protocol registry: protocol ids, port tables, probes, and per-flow dissectors.
//!
//! Detection order for a payload travelling from `src_port` to `dst_port`:
//! 1. the candidates registered on `dst_port`, then those on `src_port`, each confirmed by
//!    its probe (ports alone never label a flow);
//! 2. if none matched, the strong port-independent probes (TLS, HTTP, SSH, TPKT/COTP, DNP3
//!    with its header CRC, OPC UA hello, MQTT connect, …): only formats whose first bytes
//!    carry enough fixed structure that a false label is unlikely. Modbus (MBAP is 4 bytes of
//!    zeros and a length) and the other weak formats are never guessed off their port.
//!
//! `NeedMore` is returned only when a candidate could still match with more bytes (a short
//! prefix, or an ISO-on-TCP connection request whose payload protocol shows only in the
//! first data TPDU): the engine calls `detect` again with the next payload of the flow.

use yagura_core::Transport;

use crate::{Dissector, Probe, probes};

macro_rules! protocols {
    ($( $(#[$m:meta])* $konst:ident = $num:literal, $name:literal; )*) => {
        impl ProtocolId {
            $( $(#[$m])* pub const $konst: ProtocolId = ProtocolId($num); )*

            /// Every known protocol id, in id order.
            pub const ALL: &'static [ProtocolId] = &[ $( ProtocolId::$konst, )* ];

            /// The snake_case name used in reports and events (`unknown` for 0 and unassigned ids).
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $( $num => $name, )*
                    _ => "unknown",
                }
            }

            /// The id with this snake_case name.
            pub fn from_name(name: &str) -> Option<ProtocolId> {
                match name {
                    $( $name => Some(ProtocolId::$konst), )*
                    _ => None,
                }
            }
        }

        /// A zero-sized, non-allocating boxed [`crate::opaque::Opaque`] for `id`.
        fn opaque(id: ProtocolId) -> Option<Box<dyn Dissector>> {
            match id.0 {
                $( $num => Some(Box::new(crate::opaque::Opaque::<$num>)), )*
                _ => None,
            }
        }
    };
}

/// An application protocol, as a small number so the flow table stays compact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ProtocolId(pub u8);

impl ProtocolId {
    /// Not (yet) recognised.
    pub const UNKNOWN: ProtocolId = ProtocolId(0);

    /// An industrial protocol (ids 1 to 63 below), rather than an IT one (64 on).
    pub const fn is_industrial(self) -> bool {
        self.0 >= 1 && self.0 < 64
    }
}

protocols! {
    // OT: 1..=63.
    /// Modbus/TCP and Modbus over UDP (MBAP).
    MODBUS = 1, "modbus";
    /// Schneider UMAS (Modbus function 90); reserved, recognised inside Modbus later.
    UMAS = 2, "umas";
    /// Siemens S7comm (0x32) over ISO-on-TCP.
    S7COMM = 3, "s7comm";
    /// Siemens S7comm-plus (0x72) over ISO-on-TCP.
    S7COMM_PLUS = 4, "s7comm_plus";
    /// ISO-on-TCP (TPKT + COTP) whose payload is not recognised.
    COTP = 5, "cotp";
    /// EtherNet/IP encapsulation.
    ENIP = 6, "enip";
    /// CIP; over UDP 2222 the implicit (I/O) messaging without encapsulation.
    CIP = 7, "cip";
    /// DNP3 over TCP or UDP.
    DNP3 = 8, "dnp3";
    /// IEC 60870-5-104.
    IEC104 = 9, "iec104";
    /// BACnet/IP (BVLC).
    BACNET = 10, "bacnet";
    /// OPC UA binary (UA TCP).
    OPCUA = 11, "opcua";
    /// IEC 61850 / ISO 9506 MMS over ISO-on-TCP.
    MMS = 12, "mms";
    /// IEC 61850 GOOSE (an EtherType, not detected from ports).
    GOOSE = 13, "goose";
    /// Profinet DCP (an EtherType, not detected from ports).
    PN_DCP = 14, "pn_dcp";
    /// Profinet IO context manager (DCE/RPC over UDP 34964).
    PN_IO = 15, "pn_io";
    /// Omron FINS over UDP or TCP.
    FINS = 16, "fins";
    /// Mitsubishi MELSEC SLMP / MC protocol (3E/4E frames, MELSOFT).
    SLMP = 17, "slmp";
    /// GE SRTP.
    SRTP = 18, "srtp";
    /// Beckhoff ADS/AMS.
    ADS = 19, "ads";
    /// HART-IP.
    HART_IP = 20, "hart_ip";
    /// IEEE C37.118 synchrophasor.
    C37118 = 21, "c37118";
    /// Tridium Niagara Fox.
    FOX = 22, "fox";
    /// Phoenix Contact PCWorx / ProConOS.
    PROCONOS = 23, "proconos";
    /// MQTT.
    MQTT = 24, "mqtt";
    /// Emerson BSAP over IP.
    BSAP = 25, "bsap";
    /// GENISYS (rail signalling) over TCP.
    GENISYS = 26, "genisys";
    /// ANSI C12.22 metering.
    C1222 = 27, "c1222";
    /// CODESYS runtime/gateway.
    CODESYS = 28, "codesys";
    /// Rockwell PCCC inside CIP; reserved, recognised inside CIP later.
    PCCC = 29, "pccc";
    // IT: 64..
    /// DNS.
    DNS = 64, "dns";
    /// Multicast DNS.
    MDNS = 65, "mdns";
    /// Link-local multicast name resolution.
    LLMNR = 66, "llmnr";
    /// NetBIOS name service.
    NBNS = 67, "nbns";
    /// NetBIOS datagram service.
    NBDGM = 68, "nbdgm";
    /// DHCP (BOOTP).
    DHCP = 69, "dhcp";
    /// DHCPv6.
    DHCPV6 = 70, "dhcpv6";
    /// NTP.
    NTP = 71, "ntp";
    /// SNMP.
    SNMP = 72, "snmp";
    /// Syslog.
    SYSLOG = 73, "syslog";
    /// HTTP/1.x.
    HTTP = 74, "http";
    /// TLS.
    TLS = 75, "tls";
    /// SSH.
    SSH = 76, "ssh";
    /// SMB (1, 2, 3) over NetBIOS session or direct TCP.
    SMB = 77, "smb";
    /// DCE/RPC.
    DCERPC = 78, "dcerpc";
    /// SSDP (UPnP discovery).
    SSDP = 79, "ssdp";
    /// RDP.
    RDP = 80, "rdp";
    /// Telnet.
    TELNET = 81, "telnet";
    /// FTP control.
    FTP = 82, "ftp";
    /// TFTP.
    TFTP = 83, "tftp";
    /// SMTP.
    SMTP = 84, "smtp";
    /// LDAP.
    LDAP = 85, "ldap";
    /// Kerberos.
    KERBEROS = 86, "kerberos";
    /// NetBIOS session service without SMB.
    NETBIOS_SSN = 87, "netbios_ssn";
    /// VNC (RFB).
    VNC = 88, "vnc";
}

/// The result of [`Registry::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    /// The flow carries this protocol.
    Found(ProtocolId),
    /// A candidate could still match: offer the flow's next payload.
    NeedMore,
    /// No registered protocol matches.
    Unknown,
}

/// A probe that names the protocol it recognised (a TPKT probe can answer several).
pub(crate) type ProbeFn = fn(&[u8]) -> Detect;

/// `Probe` of protocol `id` as a `Detect`.
#[inline]
pub(crate) fn found(id: ProtocolId, p: Probe) -> Detect {
    match p {
        Probe::Match => Detect::Found(id),
        Probe::NeedMore => Detect::NeedMore,
        Probe::NoMatch => Detect::Unknown,
    }
}

/// One protocol's probe, as a `ProbeFn`.
macro_rules! by {
    ($id:ident, $probe:path) => {
        (|d: &[u8]| found(ProtocolId::$id, $probe(d))) as ProbeFn
    };
}

/// A port range and the probes of the protocols registered on it.
struct PortEntry {
    lo: u16,
    hi: u16,
    probes: &'static [ProbeFn],
}

const fn port(p: u16, probes: &'static [ProbeFn]) -> PortEntry {
    PortEntry {
        lo: p,
        hi: p,
        probes,
    }
}

const fn ports(lo: u16, hi: u16, probes: &'static [ProbeFn]) -> PortEntry {
    PortEntry { lo, hi, probes }
}

/// TCP service ports. Sources: IANA registrations, vendor documentation, and the ports the
/// corpus captures use (MANIFEST.tsv, `tshark -z conv,tcp`).
const TCP_PORTS: &[PortEntry] = &[
    port(21, &[by!(FTP, probes::ftp)]),
    port(22, &[by!(SSH, probes::ssh)]),
    port(23, &[by!(TELNET, probes::telnet)]),
    port(25, &[by!(SMTP, probes::smtp)]),
    port(53, &[by!(DNS, crate::dns::probe_tcp)]),
    port(80, &[by!(HTTP, crate::http::probe_http)]),
    port(88, &[by!(KERBEROS, probes::kerberos_tcp)]),
    port(102, &[probes::iso_tsap]),
    port(135, &[by!(DCERPC, probes::dcerpc_co)]),
    port(139, &[probes::netbios_ssn]),
    port(389, &[by!(LDAP, probes::ldap)]),
    port(443, &[by!(TLS, probes::tls)]),
    port(445, &[by!(SMB, probes::smb)]),
    port(502, &[by!(MODBUS, crate::modbus::probe)]),
    port(587, &[by!(SMTP, probes::smtp)]),
    port(636, &[by!(TLS, probes::tls)]),
    port(1153, &[by!(C1222, probes::c1222)]),
    port(1200, &[by!(CODESYS, probes::codesys)]),
    port(1883, &[by!(MQTT, probes::mqtt)]),
    port(1911, &[by!(FOX, probes::fox)]),
    port(1962, &[by!(PROCONOS, probes::pcworx)]),
    port(2404, &[by!(IEC104, crate::iec104::probe)]),
    port(2455, &[by!(CODESYS, probes::codesys)]),
    port(3389, &[by!(RDP, probes::rdp)]),
    port(4712, &[by!(C37118, probes::c37118)]),
    port(4840, &[by!(OPCUA, probes::opcua)]),
    port(4911, &[by!(TLS, probes::tls)]),
    // MELSEC: 5007 is MELSOFT/GX Works, 5001 the MC-protocol port the corpus uses.
    port(5001, &[by!(SLMP, probes::slmp)]),
    port(5007, &[by!(SLMP, probes::slmp)]),
    port(5094, &[by!(HART_IP, probes::hart_ip)]),
    port(5355, &[by!(LLMNR, crate::dns::probe_tcp)]),
    ports(5900, 5903, &[by!(VNC, probes::vnc)]),
    port(8000, &[by!(HTTP, crate::http::probe_http)]),
    port(8080, &[by!(HTTP, crate::http::probe_http)]),
    port(8443, &[by!(TLS, probes::tls)]),
    port(8883, &[by!(TLS, probes::tls)]),
    port(9600, &[by!(FINS, probes::fins_tcp)]),
    port(10001, &[by!(GENISYS, probes::genisys)]),
    port(18245, &[by!(SRTP, probes::srtp)]),
    port(20000, &[by!(DNP3, crate::dnp3::probe)]),
    port(20547, &[by!(PROCONOS, probes::proconos)]),
    port(44818, &[by!(ENIP, crate::enip::probe)]),
    port(48898, &[by!(ADS, probes::ads_tcp)]),
];

/// Ports that belong to a protocol's *client* side (DHCP 68, DHCPv6 546): they label a flow
/// like the service ports but never make their side the server when a flow is oriented.
const CLIENT_PORTS: &[(Transport, u16)] = &[(Transport::UDP, 68), (Transport::UDP, 546)];

/// UDP service ports.
const UDP_PORTS: &[PortEntry] = &[
    port(53, &[by!(DNS, crate::dns::probe)]),
    ports(67, 68, &[by!(DHCP, crate::dhcp::probe)]),
    port(69, &[by!(TFTP, probes::tftp)]),
    port(88, &[by!(KERBEROS, probes::kerberos_udp)]),
    port(123, &[by!(NTP, crate::ntp::probe)]),
    port(135, &[by!(DCERPC, probes::dcerpc_cl)]),
    port(137, &[by!(NBNS, crate::dns::probe)]),
    port(138, &[by!(NBDGM, probes::nbdgm)]),
    ports(161, 162, &[by!(SNMP, crate::snmp::probe)]),
    port(389, &[by!(LDAP, probes::ldap)]),
    port(502, &[by!(MODBUS, crate::modbus::probe)]),
    port(514, &[by!(SYSLOG, probes::syslog)]),
    ports(546, 547, &[by!(DHCPV6, crate::dhcp::probe_v6)]),
    port(1153, &[by!(C1222, probes::c1222)]),
    port(1234, &[by!(BSAP, probes::bsap_ip)]),
    port(1235, &[by!(BSAP, probes::bsap_serial)]),
    port(1900, &[by!(SSDP, crate::http::probe_ssdp)]),
    port(2222, &[by!(CIP, probes::cip_io)]),
    ports(4712, 4713, &[by!(C37118, probes::c37118)]),
    port(5006, &[by!(SLMP, probes::slmp)]),
    port(5094, &[by!(HART_IP, probes::hart_ip)]),
    port(5353, &[by!(MDNS, crate::dns::probe)]),
    port(5355, &[by!(LLMNR, crate::dns::probe)]),
    port(9600, &[by!(FINS, probes::fins_udp)]),
    port(20000, &[by!(DNP3, crate::dnp3::probe)]),
    port(34964, &[by!(PN_IO, probes::pn_io_any)]),
    port(44818, &[by!(ENIP, crate::enip::probe)]),
    ports(47808, 47823, &[by!(BACNET, crate::bacnet::probe)]),
    port(48899, &[by!(ADS, probes::ads_udp)]),
];

/// Port-independent TCP probes: formats with enough fixed structure in their first bytes.
const STRONG_TCP: &[ProbeFn] = &[
    by!(TLS, probes::tls_strong),
    by!(HTTP, crate::http::probe_http),
    by!(SSH, probes::ssh),
    probes::iso_tsap_strong,
    by!(DNP3, crate::dnp3::probe),
    by!(OPCUA, probes::opcua_hello),
    by!(MQTT, probes::mqtt_connect),
    by!(ENIP, crate::enip::probe_strict),
    by!(SMB, probes::smb),
    by!(DCERPC, probes::dcerpc_co_bind),
    by!(C37118, probes::c37118_crc),
    by!(FINS, probes::fins_tcp),
    by!(VNC, probes::vnc),
    by!(FOX, probes::fox),
    by!(HART_IP, probes::hart_ip_exact),
];

/// Port-independent UDP probes.
const STRONG_UDP: &[ProbeFn] = &[
    by!(DNP3, crate::dnp3::probe),
    by!(PN_IO, probes::pn_io_uuid),
    by!(C37118, probes::c37118_crc),
    by!(BACNET, crate::bacnet::probe_strict),
    by!(DHCP, crate::dhcp::probe),
    by!(HART_IP, probes::hart_ip_exact),
];

/// Index of a port's probe group, per transport (0 = no service on that port).
struct PortTable {
    index: Box<[u8]>,
}

impl PortTable {
    fn new(entries: &'static [PortEntry]) -> PortTable {
        assert!(entries.len() < 255, "port table index is a u8");
        let mut index = vec![0u8; 65536].into_boxed_slice();
        for (i, e) in entries.iter().enumerate() {
            for p in e.lo..=e.hi {
                debug_assert_eq!(index[p as usize], 0, "port {p} registered twice");
                index[p as usize] = (i + 1) as u8;
            }
        }
        PortTable { index }
    }

    #[inline]
    fn get(&self, entries: &'static [PortEntry], port: u16) -> &'static [ProbeFn] {
        match self.index[port as usize] {
            0 => &[],
            i => entries[i as usize - 1].probes,
        }
    }
}

/// Every built-in protocol: port tables, probes, and a factory of per-flow dissectors.
pub struct Registry {
    tcp: PortTable,
    udp: PortTable,
    /// Hand out dissectors (false: flows are labelled, no PDU is parsed).
    parse: bool,
    /// When set, hand out dissectors only for these protocols.
    only: Option<&'static [ProtocolId]>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// A registry with every built-in dissector.
    pub fn new() -> Registry {
        Registry {
            tcp: PortTable::new(TCP_PORTS),
            udp: PortTable::new(UDP_PORTS),
            parse: true,
            only: None,
        }
    }

    /// A registry that labels every flow but parses only the protocols in `only` (the
    /// others get no dissector, as with [`Registry::detection_only`]): to measure what some
    /// dissectors cost, such as the five industrial families of [`Registry::OT_CORE`].
    pub fn only(only: &'static [ProtocolId]) -> Registry {
        Registry {
            only: Some(only),
            ..Registry::new()
        }
    }

    /// The five industrial protocol families dissected in depth first: Modbus/TCP with
    /// UMAS, S7comm and S7comm-plus over ISO-on-TCP, EtherNet/IP with CIP and PCCC, DNP3,
    /// IEC 60870-5-104.
    pub const OT_CORE: &'static [ProtocolId] = &[
        ProtocolId::MODBUS,
        ProtocolId::S7COMM,
        ProtocolId::S7COMM_PLUS,
        ProtocolId::COTP,
        ProtocolId::ENIP,
        ProtocolId::CIP,
        ProtocolId::DNP3,
        ProtocolId::IEC104,
    ];

    /// A registry that labels flows but hands out no dissector: the pipeline up to
    /// protocol detection, to measure what the dissectors themselves cost.
    pub fn detection_only() -> Registry {
        Registry {
            parse: false,
            ..Registry::new()
        }
    }

    fn table(&self, transport: Transport) -> Option<(&PortTable, &'static [PortEntry])> {
        match transport {
            Transport::TCP => Some((&self.tcp, TCP_PORTS)),
            Transport::UDP => Some((&self.udp, UDP_PORTS)),
            _ => None,
        }
    }

    /// Recognise a flow's protocol from a payload travelling from `src_port` to `dst_port`.
    pub fn detect(
        &self,
        transport: Transport,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Detect {
        let Some((table, entries)) = self.table(transport) else {
            return Detect::Unknown;
        };
        // Empty and one-byte payloads (TCP keep-alive probes carry one stale byte) say nothing.
        if payload.len() < 2 {
            return Detect::NeedMore;
        }
        let mut need_more = false;
        let dst = table.get(entries, dst_port);
        let src = if src_port == dst_port {
            &[][..]
        } else {
            table.get(entries, src_port)
        };
        for probe in dst.iter().chain(src) {
            match probe(payload) {
                Detect::Found(id) => return Detect::Found(id),
                Detect::NeedMore => need_more = true,
                Detect::Unknown => {}
            }
        }
        let strong = if transport == Transport::TCP {
            STRONG_TCP
        } else {
            STRONG_UDP
        };
        for probe in strong {
            match probe(payload) {
                Detect::Found(id) => return Detect::Found(id),
                Detect::NeedMore => need_more = true,
                Detect::Unknown => {}
            }
        }
        if need_more {
            Detect::NeedMore
        } else {
            Detect::Unknown
        }
    }

    /// Is `port` a well-known service port of a registered protocol (to orient flows whose
    /// start we missed)?
    #[inline]
    pub fn is_service_port(&self, transport: Transport, port: u16) -> bool {
        self.table(transport)
            .is_some_and(|(t, _)| t.index[port as usize] != 0)
            && !CLIENT_PORTS.contains(&(transport, port))
    }

    /// A fresh per-flow dissector for `id` over `transport`. Over UDP each `parse` call is one
    /// datagram. Stateless dissectors are zero-sized (the box does not allocate); protocols
    /// recognised but not dissected yet get an [`crate::opaque::Opaque`] that consumes their
    /// bytes and emits nothing. `None` for [`ProtocolId::UNKNOWN`] and unassigned ids.
    pub fn dissector(&self, id: ProtocolId, transport: Transport) -> Option<Box<dyn Dissector>> {
        if !self.parse || self.only.is_some_and(|o| !o.contains(&id)) {
            return None;
        }
        let udp = transport != Transport::TCP;
        let d: Box<dyn Dissector> = match id {
            ProtocolId::MODBUS => Box::new(crate::modbus::ModbusDissector::new(udp)),
            ProtocolId::S7COMM | ProtocolId::S7COMM_PLUS | ProtocolId::COTP => {
                Box::new(crate::s7comm::IsoDissector::new(id, udp))
            }
            ProtocolId::ENIP => Box::new(crate::enip::EnipDissector::new(udp)),
            ProtocolId::DNP3 => Box::new(crate::dnp3::Dnp3Dissector::new(udp)),
            ProtocolId::IEC104 => Box::new(crate::iec104::Iec104Dissector::new(udp)),
            ProtocolId::BACNET => Box::new(crate::bacnet::BacnetDissector),
            ProtocolId::DNS | ProtocolId::MDNS | ProtocolId::LLMNR | ProtocolId::NBNS => {
                Box::new(crate::dns::DnsDissector::new(id, udp))
            }
            ProtocolId::DHCP => Box::new(crate::dhcp::DhcpDissector),
            ProtocolId::DHCPV6 => Box::new(crate::dhcp::Dhcpv6Dissector),
            ProtocolId::NTP => Box::new(crate::ntp::NtpDissector::default()),
            ProtocolId::SNMP => Box::new(crate::snmp::SnmpDissector::default()),
            ProtocolId::SSDP => Box::new(crate::http::HttpDissector::new(ProtocolId::SSDP, true)),
            ProtocolId::HTTP => Box::new(crate::http::HttpDissector::new(ProtocolId::HTTP, udp)),
            ProtocolId::TLS => Box::new(crate::tls::TlsDissector::new(udp)),
            ProtocolId::SMB | ProtocolId::NETBIOS_SSN => {
                Box::new(crate::smb::SmbDissector::new(id, udp))
            }
            other => return opaque(other),
        };
        Some(d)
    }

    /// Every registered protocol id (for reports and tests).
    pub fn all(&self) -> impl Iterator<Item = ProtocolId> {
        ProtocolId::ALL.iter().copied()
    }
}

#[cfg(test)]
mod tests;
