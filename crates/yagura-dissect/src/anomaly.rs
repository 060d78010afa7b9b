//! Protocol violations, as flags on a PDU that is still reported.

/// One kind of protocol violation; its [`Anomaly::name`] is the stable reason in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Anomaly {
    /// Bytes that do not start a PDU of the protocol were skipped.
    BadHeader,
    /// A length field contradicts the protocol's limits or the bytes around it.
    BadLength,
    /// The PDU ends before a part its header promises.
    Truncated,
    /// A checksum (DNP3 link CRC, C37.118 CRC) does not match.
    BadCrc,
    /// The protocol identifier or version field holds a value the protocol does not define.
    BadVersion,
    /// Modbus: MBAP protocol identifier is not 0.
    BadProtocolId,
    /// A command, function or type code that the protocol does not define.
    UnknownFunction,
    /// A status or error field is set where the protocol requires zero (e.g. in a request).
    UnexpectedStatus,
    /// Bytes left over after the PDU in a datagram or a framed unit.
    TrailingBytes,
    /// A segmented message grew past the reassembly bound and was dropped.
    ReassemblyOverflow,
    /// A continuation segment arrived without its first segment.
    MissingFirstSegment,
    /// IEC 104: an I-format APDU without an ASDU, or S/U-format with one.
    BadApci,
    /// A required magic value (DHCP cookie) is missing.
    BadMagic,
    /// BER/ASN.1 structure that does not parse.
    BadEncoding,
    /// A field holds a value outside the range the protocol allows (Modbus quantity of
    /// coils/registers, coil value other than 0x0000/0xFF00, reference type).
    BadValue,
    /// DNP3: an object header with a reserved qualifier or an inverted range.
    BadObjectHeader,
}

impl Anomaly {
    /// Every anomaly, in bit order.
    pub const ALL: [Anomaly; 16] = [
        Anomaly::BadHeader,
        Anomaly::BadLength,
        Anomaly::Truncated,
        Anomaly::BadCrc,
        Anomaly::BadVersion,
        Anomaly::BadProtocolId,
        Anomaly::UnknownFunction,
        Anomaly::UnexpectedStatus,
        Anomaly::TrailingBytes,
        Anomaly::ReassemblyOverflow,
        Anomaly::MissingFirstSegment,
        Anomaly::BadApci,
        Anomaly::BadMagic,
        Anomaly::BadEncoding,
        Anomaly::BadValue,
        Anomaly::BadObjectHeader,
    ];

    /// The stable snake_case reason used in events.
    pub const fn name(self) -> &'static str {
        match self {
            Anomaly::BadHeader => "bad_header",
            Anomaly::BadLength => "bad_length",
            Anomaly::Truncated => "truncated",
            Anomaly::BadCrc => "bad_crc",
            Anomaly::BadVersion => "bad_version",
            Anomaly::BadProtocolId => "bad_protocol_id",
            Anomaly::UnknownFunction => "unknown_function",
            Anomaly::UnexpectedStatus => "unexpected_status",
            Anomaly::TrailingBytes => "trailing_bytes",
            Anomaly::ReassemblyOverflow => "reassembly_overflow",
            Anomaly::MissingFirstSegment => "missing_first_segment",
            Anomaly::BadApci => "bad_apci",
            Anomaly::BadMagic => "bad_magic",
            Anomaly::BadEncoding => "bad_encoding",
            Anomaly::BadValue => "bad_value",
            Anomaly::BadObjectHeader => "bad_object_header",
        }
    }
}

/// A set of [`Anomaly`] flags: `Copy`, no allocation; turned into names only for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Anomalies(u32);

impl Anomalies {
    /// No anomaly.
    pub const NONE: Anomalies = Anomalies(0);

    /// Add one flag.
    #[inline]
    pub fn set(&mut self, a: Anomaly) {
        self.0 |= 1 << a as u8;
    }

    /// This set plus `a`.
    #[inline]
    pub const fn with(self, a: Anomaly) -> Anomalies {
        Anomalies(self.0 | 1 << a as u8)
    }

    /// The flags of both sets.
    #[inline]
    pub const fn union(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 | other.0)
    }

    /// Is `a` in the set?
    #[inline]
    pub const fn has(self, a: Anomaly) -> bool {
        self.0 & (1 << a as u8) != 0
    }

    /// Is the set empty?
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many flags are set.
    #[inline]
    pub fn count(self) -> u32 {
        // Nearly every PDU has none; without a popcount instruction in the baseline x86-64
        // target, counting bits costs about 17 instructions. (Out of line, or the compiler,
        // knowing that no bits count 0, drops the test and counts always.)
        #[cold]
        #[inline(never)]
        fn ones(x: u32) -> u32 {
            x.count_ones()
        }
        if self.0 == 0 { 0 } else { ones(self.0) }
    }

    /// The flags' names, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        Anomaly::ALL
            .iter()
            .filter(|a| self.has(**a))
            .map(|a| a.name())
            .collect()
    }
}

impl From<Anomaly> for Anomalies {
    fn from(a: Anomaly) -> Anomalies {
        Anomalies::NONE.with(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_bit_order_and_names_are_unique() {
        for (i, a) in Anomaly::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
        let mut names: Vec<_> = Anomaly::ALL.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Anomaly::ALL.len());
        let s = Anomalies::NONE
            .with(Anomaly::BadCrc)
            .with(Anomaly::BadHeader);
        assert_eq!(s.names(), ["bad_header", "bad_crc"]);
        assert_eq!(s.count(), 2);
    }
}
