//! BACnet/IP (ASHRAE 135 Annex J, UDP 47808): BVLC, NPDU and the APDU header with its
//! service choice. One datagram is one PDU.
//!
//! The parameters of the services that identify a device are decoded too ([`apdu`]): I-Am
//! (device instance, vendor id), ReadProperty/WriteProperty objects and properties, and a
//! Device object's identity properties in ReadProperty and ReadPropertyMultiple answers.
//! They become identity facts about the device that sent them: the datagram's sender, or the
//! original B/IP address of a Forwarded-NPDU. A message routed from another BACnet network
//! (the NPDU names a source network) gives no facts: its IP sender is the router, and the
//! device behind it has no IP address of its own to attach them to.

pub mod apdu;

use std::net::{IpAddr, Ipv4Addr};

use yagura_core::{
    Attribute, Direction, FieldValue, IdentityFact, OperationClass, PduStatus, Subject,
};

use crate::bytes::be16;
use crate::emit::{Fields, Summary, emit_to, u};
use crate::{Anomaly, Dissector, Parsed, PduSink, Probe, ProtocolId};
use apdu::{CharString, Info, Value};

/// BVLC field offsets.
mod field {
    pub const TYPE: usize = 0;
    pub const FUNCTION: usize = 1;
    /// Whole BVLL length, header included.
    pub const LENGTH: usize = 2;
}

/// BVLC type of BACnet/IP.
pub const BVLC_TYPE: u8 = 0x81;
/// BVLC header length.
pub const BVLC_LEN: usize = 4;
/// Forwarded-NPDU adds the original source B/IP address (6 octets).
const FORWARDED_ADDR_LEN: usize = 6;

open_enum! {
    /// BVLC functions.
    pub struct BvlcFunction(u8) {
        RESULT = 0x00 => "bvlc_result",
        WRITE_BDT = 0x01 => "write_broadcast_distribution_table",
        READ_BDT = 0x02 => "read_broadcast_distribution_table",
        READ_BDT_ACK = 0x03 => "read_broadcast_distribution_table_ack",
        FORWARDED_NPDU = 0x04 => "forwarded_npdu",
        REGISTER_FOREIGN_DEVICE = 0x05 => "register_foreign_device",
        READ_FDT = 0x06 => "read_foreign_device_table",
        READ_FDT_ACK = 0x07 => "read_foreign_device_table_ack",
        DELETE_FDT_ENTRY = 0x08 => "delete_foreign_device_table_entry",
        DISTRIBUTE_BROADCAST = 0x09 => "distribute_broadcast_to_network",
        ORIGINAL_UNICAST = 0x0a => "original_unicast_npdu",
        ORIGINAL_BROADCAST = 0x0b => "original_broadcast_npdu",
        SECURE_BVLL = 0x0c => "secure_bvll",
    }
}

open_enum! {
    /// APDU types (high nibble of the first APDU octet).
    pub struct ApduType(u8) {
        CONFIRMED_REQUEST = 0 => "confirmed_request",
        UNCONFIRMED_REQUEST = 1 => "unconfirmed_request",
        SIMPLE_ACK = 2 => "simple_ack",
        COMPLEX_ACK = 3 => "complex_ack",
        SEGMENT_ACK = 4 => "segment_ack",
        ERROR = 5 => "error",
        REJECT = 6 => "reject",
        ABORT = 7 => "abort",
    }
}

open_enum! {
    /// Confirmed service choices (21.1).
    pub struct ConfirmedService(u8) {
        ACKNOWLEDGE_ALARM = 0 => "acknowledge_alarm",
        CONFIRMED_COV_NOTIFICATION = 1 => "confirmed_cov_notification",
        CONFIRMED_EVENT_NOTIFICATION = 2 => "confirmed_event_notification",
        GET_ALARM_SUMMARY = 3 => "get_alarm_summary",
        GET_ENROLLMENT_SUMMARY = 4 => "get_enrollment_summary",
        SUBSCRIBE_COV = 5 => "subscribe_cov",
        ATOMIC_READ_FILE = 6 => "atomic_read_file",
        ATOMIC_WRITE_FILE = 7 => "atomic_write_file",
        ADD_LIST_ELEMENT = 8 => "add_list_element",
        REMOVE_LIST_ELEMENT = 9 => "remove_list_element",
        CREATE_OBJECT = 10 => "create_object",
        DELETE_OBJECT = 11 => "delete_object",
        READ_PROPERTY = 12 => "read_property",
        READ_PROPERTY_CONDITIONAL = 13 => "read_property_conditional",
        READ_PROPERTY_MULTIPLE = 14 => "read_property_multiple",
        WRITE_PROPERTY = 15 => "write_property",
        WRITE_PROPERTY_MULTIPLE = 16 => "write_property_multiple",
        DEVICE_COMMUNICATION_CONTROL = 17 => "device_communication_control",
        CONFIRMED_PRIVATE_TRANSFER = 18 => "confirmed_private_transfer",
        CONFIRMED_TEXT_MESSAGE = 19 => "confirmed_text_message",
        REINITIALIZE_DEVICE = 20 => "reinitialize_device",
        VT_OPEN = 21 => "vt_open",
        VT_CLOSE = 22 => "vt_close",
        VT_DATA = 23 => "vt_data",
        AUTHENTICATE = 24 => "authenticate",
        REQUEST_KEY = 25 => "request_key",
        READ_RANGE = 26 => "read_range",
        LIFE_SAFETY_OPERATION = 27 => "life_safety_operation",
        SUBSCRIBE_COV_PROPERTY = 28 => "subscribe_cov_property",
        GET_EVENT_INFORMATION = 29 => "get_event_information",
        SUBSCRIBE_COV_PROPERTY_MULTIPLE = 30 => "subscribe_cov_property_multiple",
        CONFIRMED_COV_NOTIFICATION_MULTIPLE = 31 => "confirmed_cov_notification_multiple",
        CONFIRMED_AUDIT_NOTIFICATION = 32 => "confirmed_audit_notification",
        AUDIT_LOG_QUERY = 33 => "audit_log_query",
    }
}

open_enum! {
    /// Unconfirmed service choices (21.2).
    pub struct UnconfirmedService(u8) {
        I_AM = 0 => "i_am",
        I_HAVE = 1 => "i_have",
        UNCONFIRMED_COV_NOTIFICATION = 2 => "unconfirmed_cov_notification",
        UNCONFIRMED_EVENT_NOTIFICATION = 3 => "unconfirmed_event_notification",
        UNCONFIRMED_PRIVATE_TRANSFER = 4 => "unconfirmed_private_transfer",
        UNCONFIRMED_TEXT_MESSAGE = 5 => "unconfirmed_text_message",
        TIME_SYNCHRONIZATION = 6 => "time_synchronization",
        WHO_HAS = 7 => "who_has",
        WHO_IS = 8 => "who_is",
        UTC_TIME_SYNCHRONIZATION = 9 => "utc_time_synchronization",
        WRITE_GROUP = 10 => "write_group",
        UNCONFIRMED_COV_NOTIFICATION_MULTIPLE = 11 => "unconfirmed_cov_notification_multiple",
        UNCONFIRMED_AUDIT_NOTIFICATION = 12 => "unconfirmed_audit_notification",
        WHO_AM_I = 13 => "who_am_i",
        YOU_ARE = 14 => "you_are",
    }
}

/// Operation class of a confirmed service.
pub fn confirmed_operation(s: ConfirmedService) -> OperationClass {
    use OperationClass as O;
    match s.0 {
        3 | 4 | 12 | 13 | 14 | 26 | 29 => O::Read,
        8 | 9 | 15 | 16 => O::Write,
        10 | 11 => O::ConfigChange,
        6 | 7 => O::FileTransfer,
        // DeviceCommunicationControl (16.1) tells a device to stop initiating, and
        // optionally answering, all but DCC and ReinitializeDevice requests (or to resume):
        // a communication mode of a device that keeps running, as Modbus listen-only.
        17 => O::ModeChange,
        // LifeSafetyOperation silences/resets life-safety objects.
        27 => O::ControlCommand,
        20 => O::Restart,
        24 | 25 => O::Auth,
        _ => O::Other,
    }
}

/// Operation class of an unconfirmed service.
pub fn unconfirmed_operation(s: UnconfirmedService) -> OperationClass {
    use OperationClass as O;
    match s.0 {
        0 | 1 | 7 | 8 | 13 => O::Identify,
        // Setting the clock (local and UTC time synchronisation).
        6 | 9 => O::ClockSync,
        // Assigning a device identity (You-Are).
        14 => O::ConfigChange,
        10 => O::Write,
        _ => O::Other,
    }
}

/// Does `data` start with a BACnet/IP BVLC header (type 0x81, a known function, and either a
/// length equal to the datagram or an NPDU version 1 after it)? Port-bound: the corpus has
/// BACnet with BVLC lengths that disagree with the datagram, which must still be labelled
/// (and are flagged by the dissector).
pub fn probe(data: &[u8]) -> Probe {
    if data.first().is_some_and(|&t| t != BVLC_TYPE) {
        return Probe::NoMatch;
    }
    if data.len() < BVLC_LEN {
        return Probe::NeedMore;
    }
    let f = BvlcFunction(data[field::FUNCTION]);
    let exact = be16(data, field::LENGTH).is_some_and(|l| l as usize == data.len());
    let ok =
        f.name().is_some() && (exact || npdu_offset(f).is_some_and(|at| data.get(at) == Some(&1)));
    if ok { Probe::Match } else { Probe::NoMatch }
}

/// Where the NPDU starts for BVLC functions that carry one.
fn npdu_offset(f: BvlcFunction) -> Option<usize> {
    match f {
        BvlcFunction::FORWARDED_NPDU => Some(BVLC_LEN + FORWARDED_ADDR_LEN),
        BvlcFunction::ORIGINAL_UNICAST
        | BvlcFunction::ORIGINAL_BROADCAST
        | BvlcFunction::DISTRIBUTE_BROADCAST => Some(BVLC_LEN),
        _ => None,
    }
}

/// BACnet/IP, port-independent: [`probe`] plus, for NPDU-carrying functions, NPDU version 1.
pub fn probe_strict(data: &[u8]) -> Probe {
    if probe(data) != Probe::Match || be16(data, field::LENGTH) != Some(data.len() as u16) {
        return Probe::NoMatch;
    }
    let at = npdu_offset(BvlcFunction(data[field::FUNCTION]));
    if at.is_some_and(|at| data.get(at) == Some(&1)) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// The BACnet dissector: stateless, zero-sized.
#[derive(Debug, Clone, Copy, Default)]
pub struct BacnetDissector;

impl Dissector for BacnetDissector {
    fn protocol(&self) -> ProtocolId {
        ProtocolId::BACNET
    }
    fn parse(&mut self, data: &[u8], dir: Direction, sink: &mut dyn PduSink) -> Parsed {
        if !data.is_empty() {
            datagram(data, dir, sink);
        }
        Parsed::done(data.len())
    }
}

/// What the APDU header says.
#[derive(Debug, Clone, Copy, Default)]
struct Apdu {
    kind: Option<u8>,
    invoke_id: Option<u8>,
    service: Option<u8>,
    /// A segment of a segmented message (its parameters are not decoded).
    segmented: bool,
    /// Offset of the service parameters in the APDU.
    body: Option<usize>,
}

/// Summarise and emit one BVLL datagram.
fn datagram(d: &[u8], dir: Direction, sink: &mut dyn PduSink) {
    let mut s = Summary::new("bacnet", dir == Direction::ToClient, d.len());
    let bvlc = if d.len() >= BVLC_LEN && d[field::TYPE] == BVLC_TYPE {
        Some(BvlcFunction(d[field::FUNCTION]))
    } else {
        s.anomalies.set(Anomaly::BadHeader);
        None
    };
    if let Some(f) = bvlc {
        match be16(d, field::LENGTH).map(usize::from) {
            Some(l) if l == d.len() => {}
            Some(l) if l > d.len() => s.anomalies.set(Anomaly::Truncated),
            _ => s.anomalies.set(Anomaly::BadLength),
        }
        if f.name().is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
        }
    }
    let npdu_at = bvlc.and_then(npdu_offset);
    let mut apdu = Apdu::default();
    let mut info = Info::default();
    let mut network_message = None;
    let mut source_network = None;
    // The decoded service body, with its APDU type and service: all `info` depends on.
    let mut service_body = None;
    if let Some(at) = npdu_at {
        match npdu(d, at) {
            Ok((n, snet)) => {
                source_network = snet;
                match n {
                    Npdu::Apdu(a) => {
                        apdu = parse_apdu(&d[a..], &mut s);
                        if let (Some(k), Some(sv), Some(b), false) =
                            (apdu.kind, apdu.service, apdu.body, apdu.segmented)
                        {
                            let body = d[a..].get(b..).unwrap_or_default();
                            apdu::decode_into(k, sv, body, &mut info);
                            service_body = Some((k, sv, body));
                            if info.bad_encoding {
                                s.anomalies.set(Anomaly::BadEncoding);
                            }
                        }
                    }
                    Npdu::Network(t) => network_message = Some(t),
                }
            }
            Err(a) => s.anomalies.set(a),
        }
    } else if let Some(f) = bvlc {
        // BVLC management without an NPDU.
        s.function_name = f.name();
        s.response = matches!(
            f,
            BvlcFunction::RESULT | BvlcFunction::READ_BDT_ACK | BvlcFunction::READ_FDT_ACK
        );
        if matches!(
            f,
            BvlcFunction::WRITE_BDT
                | BvlcFunction::REGISTER_FOREIGN_DEVICE
                | BvlcFunction::DELETE_FDT_ENTRY
        ) {
            s.operation = OperationClass::ConfigChange;
        }
    }
    if network_message.is_some() {
        s.function_name = Some("network_layer_message");
        s.response = dir == Direction::ToClient;
    }
    if !s.anomalies.is_empty() {
        s.status = PduStatus::Malformed;
    }
    // The original sender of a Forwarded-NPDU (its B/IP address: IPv4 and port).
    let forwarded = (bvlc == Some(BvlcFunction::FORWARDED_NPDU))
        .then(|| d.get(BVLC_LEN..BVLC_LEN + FORWARDED_ADDR_LEN))
        .flatten()
        .map(|a| {
            (
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                u16::from_be_bytes([a[4], a[5]]),
            )
        });
    let fill = |fields: &mut Fields| {
        if let Some(f) = bvlc {
            fields.push(("bvlc_function", u(f.0)));
        }
        if let Some((ip, port)) = forwarded {
            fields.push(("forwarded_from", FieldValue::Str(format!("{ip}:{port}"))));
        }
        if let Some(n) = source_network {
            fields.push(("source_network", u(n)));
        }
        if let Some(k) = apdu.kind {
            fields.push(("apdu_type", u(k)));
        }
        if let Some(i) = apdu.invoke_id {
            fields.push(("invoke_id", u(i)));
        }
        if let Some(t) = network_message {
            fields.push(("network_message_type", u(t)));
        }
        parameter_fields(&info, fields);
    };
    let events = sink.wants_events();
    if !has_identity(&info) {
        emit_to(sink, events, &s, fill);
        return;
    }
    // An identifying answer: its facts are reported whether or not events are wanted (its
    // event fields only when they are).
    let mut fields = Vec::new();
    if events {
        fill(&mut fields);
    }
    if source_network.is_none() {
        let subject = forwarded.map_or(Subject::Sender, |(ip, _)| Subject::Ip(IpAddr::V4(ip)));
        // Devices answer the same identity over and over (I-Am broadcasts, polled
        // properties): the facts of a body seen before come from the worker's memo. They
        // depend on the body, its APDU type and service, and the subject: a forwarded
        // message's (in the BVLC) is not memoised.
        let key = service_body
            .filter(|_| forwarded.is_none())
            .map(|(k, sv, body)| (ProtocolId::BACNET, u32::from(k) << 8 | u32::from(sv), body));
        crate::memo::report_facts(sink, key, || {
            facts(&info)
                .into_iter()
                .map(|(attribute, value)| IdentityFact {
                    protocol: "bacnet",
                    subject,
                    attribute,
                    value,
                })
                .collect()
        });
    }
    emit_to(sink, events, &s, move |f| *f = fields);
}

/// Does the APDU carry anything about its sender's identity?
fn has_identity(info: &Info<'_>) -> bool {
    debug_assert_eq!(info.any_device, info.device.iter().any(Option::is_some));
    info.i_am.is_some() || info.any_device
}

/// Event field names of [`apdu::IDENTITY_PROPERTIES`], in that order.
const PROPERTY_FIELDS: [&str; apdu::IDENTITY_PROPERTIES.len()] = [
    "vendor_id",
    "vendor",
    "model_name",
    "firmware_version",
    "application_software_version",
    "device_name",
    "location",
    "description",
    "serial_number",
];

/// The identity attribute of each of [`apdu::IDENTITY_PROPERTIES`] (location has none).
const PROPERTY_ATTRIBUTES: [Option<Attribute>; apdu::IDENTITY_PROPERTIES.len()] = [
    Some(Attribute::VendorId),
    Some(Attribute::Vendor),
    Some(Attribute::Model),
    Some(Attribute::Firmware),
    Some(Attribute::Software),
    Some(Attribute::Name),
    None,
    Some(Attribute::Description),
    Some(Attribute::Serial),
];

fn text(c: &CharString<'_>) -> Option<String> {
    c.text().filter(|t| !t.is_empty())
}

/// Fields for the decoded service parameters.
fn parameter_fields(info: &Info<'_>, fields: &mut Fields) {
    if let Some(i) = info.i_am {
        fields.push(("device_instance", u(i.device.instance)));
        fields.push(("max_apdu", u(i.max_apdu)));
        fields.push(("segmentation", u(i.segmentation)));
        fields.push(("vendor_id", u(i.vendor_id)));
    }
    if let Some(o) = info.object {
        fields.push(("object_type", u(o.object_type)));
        fields.push(("object_instance", u(o.instance)));
    }
    if let Some(p) = info.property {
        fields.push(("property", u(p)));
    }
    for (v, name) in info.device.iter().zip(PROPERTY_FIELDS) {
        match v {
            // An I-Am already gave `vendor_id`.
            Some(Value::Unsigned(n)) if info.i_am.is_none() => fields.push((name, u(*n))),
            Some(Value::Text(c)) => {
                if let Some(t) = text(c) {
                    fields.push((name, FieldValue::Str(t)));
                }
            }
            _ => {}
        }
    }
}

/// The identity facts of the decoded parameters: vendor id (`bacnet:<n>`) and device
/// instance (`BACnet device <n>`, a name) from an I-Am, and the Device object's properties.
fn facts(info: &Info<'_>) -> Vec<(Attribute, String)> {
    let mut out = Vec::new();
    if let Some(i) = info.i_am {
        out.push((Attribute::VendorId, format!("bacnet:{}", i.vendor_id)));
        out.push((
            Attribute::Name,
            format!("BACnet device {}", i.device.instance),
        ));
    }
    for (v, attribute) in info.device.iter().zip(PROPERTY_ATTRIBUTES) {
        let (Some(v), Some(attribute)) = (v, attribute) else {
            continue;
        };
        match v {
            Value::Unsigned(n) if attribute == Attribute::VendorId => {
                out.push((attribute, format!("bacnet:{n}")));
            }
            Value::Text(c) => {
                if let Some(t) = text(c) {
                    out.push((attribute, t));
                }
            }
            _ => {}
        }
    }
    out
}

/// What follows the NPDU header.
enum Npdu {
    /// An APDU at this offset.
    Apdu(usize),
    /// A network layer message of this type.
    Network(u8),
}

/// Walk the NPDU header at `at` (20.2): version, control, optional DNET/DLEN/DADR and
/// SNET/SLEN/SADR, hop count. Also returns SNET when present.
fn npdu(d: &[u8], at: usize) -> Result<(Npdu, Option<u16>), Anomaly> {
    let (Some(&version), Some(&control)) = (d.get(at), d.get(at + 1)) else {
        return Err(Anomaly::Truncated);
    };
    if version != 1 {
        return Err(Anomaly::BadVersion);
    }
    let mut i = at + 2;
    let dnet = control & 0x20 != 0;
    if dnet {
        let dlen = *d.get(i + 2).ok_or(Anomaly::Truncated)? as usize;
        i += 3 + dlen;
    }
    let mut snet = None;
    if control & 0x08 != 0 {
        snet = be16(d, i);
        let slen = *d.get(i + 2).ok_or(Anomaly::Truncated)? as usize;
        i += 3 + slen;
    }
    if dnet {
        i += 1; // hop count
    }
    if control & 0x80 != 0 {
        return d
            .get(i)
            .map(|&t| (Npdu::Network(t), snet))
            .ok_or(Anomaly::Truncated);
    }
    if i >= d.len() {
        return Err(Anomaly::Truncated);
    }
    Ok((Npdu::Apdu(i), snet))
}

/// Read the APDU header (20.1) and fill the summary.
fn parse_apdu(a: &[u8], s: &mut Summary) -> Apdu {
    let b0 = a[0];
    let kind = b0 >> 4;
    let seg = b0 & 0x08 != 0;
    let mut out = Apdu {
        kind: Some(kind),
        segmented: seg && matches!(kind, 0 | 3),
        ..Apdu::default()
    };
    // (offset of the invoke id, offset of the service choice) per type.
    let (invoke_at, service_at) = match kind {
        0 => (Some(2), Some(if seg { 5 } else { 3 })),
        1 => (None, Some(1)),
        2 | 5 => (Some(1), Some(2)),
        3 => (Some(1), Some(if seg { 4 } else { 2 })),
        4 | 6 | 7 => (Some(1), None),
        _ => {
            s.anomalies.set(Anomaly::UnknownFunction);
            (None, None)
        }
    };
    out.invoke_id = invoke_at.and_then(|i| a.get(i).copied());
    out.service = service_at.and_then(|i| a.get(i).copied());
    out.body = service_at.map(|i| i + 1);
    if invoke_at.is_some() && out.invoke_id.is_none()
        || service_at.is_some() && out.service.is_none()
    {
        s.anomalies.set(Anomaly::Truncated);
    }
    s.response = matches!(kind, 2..=7);
    if matches!(kind, 5..=7) {
        s.status = PduStatus::Exception;
    }
    if let Some(sv) = out.service {
        s.function = Some(u32::from(sv));
        if kind == 1 {
            let u = UnconfirmedService(sv);
            s.function_name = u.name();
            s.operation = unconfirmed_operation(u);
        } else {
            let c = ConfirmedService(sv);
            s.function_name = c.name();
            s.operation = confirmed_operation(c);
        }
        if s.function_name.is_none() {
            s.anomalies.set(Anomaly::UnknownFunction);
        }
    } else {
        s.function_name = ApduType(kind).name();
    }
    out
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
