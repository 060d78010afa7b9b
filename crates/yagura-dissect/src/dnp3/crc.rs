//! CRC-16/DNP (IEEE 1815 link layer): polynomial 0x3D65, reflected, initial 0, final
//! complement, transmitted low byte first.

/// The reflected polynomial (0x3D65 bit-reversed).
const POLY_REFLECTED: u16 = 0xa6bc;

/// Byte-wise lookup table, computed at compile time.
const TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// The CRC of `data`.
#[inline]
pub fn crc(data: &[u8]) -> u16 {
    let mut c = 0u16;
    for &b in data {
        c = (c >> 8) ^ TABLE[((c ^ u16::from(b)) & 0xff) as usize];
    }
    !c
}

/// Does `block` (data followed by its 2-byte little-endian CRC) check?
#[inline]
pub fn check(block: &[u8]) -> bool {
    let Some((data, c)) = block.split_last_chunk::<2>() else {
        return false;
    };
    crc(data) == u16::from_le_bytes(*c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The CRC catalogue's check value for CRC-16/DNP over "123456789".
        assert_eq!(crc(b"123456789"), 0xea82);
    }

    #[test]
    fn real_header() {
        // iti__select_operate_and_responses.pcap: header of a SELECT request, CRC 8a 1c.
        assert!(check(&[
            0x05, 0x64, 0x1a, 0xc4, 0x0a, 0x00, 0x01, 0x00, 0x8a, 0x1c
        ]));
        assert!(!check(&[
            0x05, 0x64, 0x1a, 0xc4, 0x0a, 0x00, 0x01, 0x01, 0x8a, 0x1c
        ]));
    }
}
