//! Routing packets to workers: a cheap look at the addresses, hashed symmetrically.

use yagura_core::{LinkType, shard_hash, v4_mapped};

/// Which worker owns this packet, as a 64-bit hash (take it modulo the worker count).
///
/// Hashes the IP address pair (both directions, and every fragment, of a conversation land
/// on the same worker), the ARP sender/target pair, or else the MAC pair. Reads only fixed
/// offsets for untagged and tagged Ethernet; other link types and anything unusual go
/// through the same rules with bounds checks, and what cannot be read goes to hash 0.
#[inline]
pub fn shard_of(link: LinkType, data: &[u8]) -> u64 {
    let (l3, et) = match link {
        LinkType::ETHERNET => {
            let Some(h) = data.get(..14) else { return 0 };
            let mut et = u16::from_be_bytes([h[12], h[13]]);
            let mut off = 14;
            let mut tags = 0;
            while matches!(et, 0x8100 | 0x88a8 | 0x9100) && tags < 4 {
                let Some(t) = data.get(off + 2..off + 4) else {
                    return 0;
                };
                et = u16::from_be_bytes([t[0], t[1]]);
                off += 4;
                tags += 1;
            }
            if et != 0x0800 && et != 0x86dd && et != 0x0806 {
                return mac_pair(data);
            }
            (&data[off..], et)
        }
        LinkType::LINUX_SLL => match data.get(14..16) {
            Some(p) => (
                &data[16.min(data.len())..],
                u16::from_be_bytes([p[0], p[1]]),
            ),
            None => return 0,
        },
        LinkType::LINUX_SLL2 => match data.get(0..2) {
            Some(p) => (
                &data[20.min(data.len())..],
                u16::from_be_bytes([p[0], p[1]]),
            ),
            None => return 0,
        },
        LinkType::NULL | LinkType::LOOP => (data.get(4..).unwrap_or(&[]), 0),
        _ => (data, 0),
    };
    let et = if et == 0 {
        match l3.first().map(|b| b >> 4) {
            Some(4) => 0x0800,
            Some(6) => 0x86dd,
            _ => return 0,
        }
    } else {
        et
    };
    match et {
        0x0800 => match l3.get(12..20) {
            Some(a) => shard_hash(
                &v4_mapped([a[0], a[1], a[2], a[3]]),
                &v4_mapped([a[4], a[5], a[6], a[7]]),
            ),
            None => 0,
        },
        0x86dd => match l3.get(8..40) {
            Some(a) => {
                let mut s = [0u8; 16];
                let mut d = [0u8; 16];
                s.copy_from_slice(&a[..16]);
                d.copy_from_slice(&a[16..]);
                shard_hash(&s, &d)
            }
            None => 0,
        },
        0x0806 => match l3.get(14..28) {
            Some(a) => shard_hash(
                &v4_mapped([a[0], a[1], a[2], a[3]]),
                &v4_mapped([a[10], a[11], a[12], a[13]]),
            ),
            None => 0,
        },
        _ => 0,
    }
}

fn mac_pair(data: &[u8]) -> u64 {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    a[..6].copy_from_slice(&data[0..6]);
    b[..6].copy_from_slice(&data[6..12]);
    shard_hash(&a, &b)
}
