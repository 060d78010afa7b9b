//! Recognising an input by its first bytes (never by its file name).

/// How an input's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression announced by the first bytes (`1f 8b` gzip, `28 b5 2f fd` zstd).
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The variant of classic pcap announced by the magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PcapFlavour {
    /// The writer was big-endian (magic bytes read `a1 b2 ..` on disk).
    pub big_endian: bool,
    /// Fractional timestamps are nanoseconds (magic `a1b23c4d`), else microseconds.
    pub nanos: bool,
    /// Alexey Kuznetzov's "modified" pcap (magic `a1b2cd34`): 24-byte record headers.
    pub modified: bool,
}

/// The capture container at the start of the (decompressed) input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Pcap(PcapFlavour),
    Pcapng,
}

/// The pcapng Section Header Block type; a palindrome, so it reads the same in both orders.
pub(crate) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// The pcapng byte-order magic as written by a big-endian host.
pub(crate) const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];
/// The pcapng byte-order magic as written by a little-endian host.
pub(crate) const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];

impl Container {
    /// The container announced by the first bytes, `None` if they are not a capture.
    pub(crate) fn sniff(head: &[u8]) -> Option<Container> {
        let magic: [u8; 4] = *head.first_chunk::<4>()?;
        for (value, big_endian) in [
            (u32::from_be_bytes(magic), true),
            (u32::from_le_bytes(magic), false),
        ] {
            let (nanos, modified) = match value {
                0xa1b2_c3d4 => (false, false),
                0xa1b2_3c4d => (true, false),
                0xa1b2_cd34 => (false, true),
                _ => continue,
            };
            return Some(Container::Pcap(PcapFlavour {
                big_endian,
                nanos,
                modified,
            }));
        }
        if magic == SHB_MAGIC {
            // The byte-order magic tells a real SHB from text that happens to start "\n\r\r\n".
            // A file too short to hold it is still taken as pcapng and reported as truncated.
            return match head.get(8..12) {
                None => Some(Container::Pcapng),
                Some(bom) if bom == BOM_BE || bom == BOM_LE => Some(Container::Pcapng),
                Some(_) => None,
            };
        }
        None
    }
}

/// The first bytes as hex for an error message, e.g. `3c 68 74 6d`.
pub(crate) fn magic_hex(head: &[u8]) -> String {
    if head.is_empty() {
        return "none: the file is empty".to_owned();
    }
    let n = head.len().min(4);
    let mut s = String::with_capacity(3 * n);
    for (i, b) in head[..n].iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_pcap_flavours_in_both_orders() {
        let le = Container::sniff(&[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(
            le,
            Some(Container::Pcap(PcapFlavour {
                big_endian: false,
                nanos: false,
                modified: false
            }))
        );
        let be_ns = Container::sniff(&[0xa1, 0xb2, 0x3c, 0x4d]);
        assert_eq!(
            be_ns,
            Some(Container::Pcap(PcapFlavour {
                big_endian: true,
                nanos: true,
                modified: false
            }))
        );
        let le_mod = Container::sniff(&[0x34, 0xcd, 0xb2, 0xa1]);
        assert_eq!(
            le_mod,
            Some(Container::Pcap(PcapFlavour {
                big_endian: false,
                nanos: false,
                modified: true
            }))
        );
    }

    #[test]
    fn sniffs_pcapng_only_with_a_byte_order_magic() {
        let mut shb = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0];
        shb.extend_from_slice(&BOM_LE);
        assert_eq!(Container::sniff(&shb), Some(Container::Pcapng));
        assert_eq!(Container::sniff(b"\n\r\r\nnot a capture"), None);
    }

    #[test]
    fn rejects_other_magic() {
        assert_eq!(Container::sniff(b"<html>"), None);
        assert_eq!(Container::sniff(&[0xd4, 0xc3]), None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(magic_hex(b"<htm"), "3c 68 74 6d");
    }
}
