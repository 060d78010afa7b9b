//! CRC-16/DNP (IEEE 1815 link layer): polynomial 0x3D65, reflected, initial 0, final
//! complement, transmitted low byte first.

/// The reflected polynomial (0x3D65 bit-reversed).
const POLY_REFLECTED: u16 = 0xa6bc;

/// Slicing-by-8 lookup tables, computed at compile time: `TABLES[0]` is the byte-wise
/// table, `TABLES[k][i]` the CRC contribution of byte `i` followed by `k` zero bytes.
const TABLES: [[u16; 256]; 8] = {
    let mut t = [[0u16; 256]; 8];
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
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// The CRC of `data`: eight octets per step (the 16-bit register only reaches the first
/// two of them), then steps of 4, 2 and 1.
#[inline]
pub fn crc(data: &[u8]) -> u16 {
    let t = &TABLES;
    let mut c = 0u16;
    let mut chunks = data.chunks_exact(8);
    for b in &mut chunks {
        let x = c ^ u16::from_le_bytes([b[0], b[1]]);
        c = t[7][usize::from(x as u8)]
            ^ t[6][usize::from(x >> 8)]
            ^ t[5][usize::from(b[2])]
            ^ t[4][usize::from(b[3])]
            ^ t[3][usize::from(b[4])]
            ^ t[2][usize::from(b[5])]
            ^ t[1][usize::from(b[6])]
            ^ t[0][usize::from(b[7])];
    }
    // The rest (0..=7 octets) in at most three fixed steps of 4, 2 and 1 octets rather
    // than a loop over octets.
    let mut rest = chunks.remainder();
    if let Some((b, r)) = rest.split_first_chunk::<4>() {
        let x = c ^ u16::from_le_bytes([b[0], b[1]]);
        c = t[3][usize::from(x as u8)]
            ^ t[2][usize::from(x >> 8)]
            ^ t[1][usize::from(b[2])]
            ^ t[0][usize::from(b[3])];
        rest = r;
    }
    if let Some((b, r)) = rest.split_first_chunk::<2>() {
        let x = c ^ u16::from_le_bytes([b[0], b[1]]);
        c = t[1][usize::from(x as u8)] ^ t[0][usize::from(x >> 8)];
        rest = r;
    }
    if let Some(&b) = rest.first() {
        c = (c >> 8) ^ t[0][usize::from((c as u8) ^ b)];
    }
    !c
}

/// The CRC computed one bit at a time (the reference the tables are tested against).
#[cfg(test)]
fn crc_bitwise(data: &[u8]) -> u16 {
    let mut c = 0u16;
    for &b in data {
        c ^= u16::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ POLY_REFLECTED
            } else {
                c >> 1
            };
        }
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
    fn tables_match_the_bitwise_crc() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(crc(&data[..len]), crc_bitwise(&data[..len]), "{len}");
        }
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
