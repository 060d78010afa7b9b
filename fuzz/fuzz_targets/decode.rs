//! L2–L4 decoding (`yagura_net::decode`), the engine's shard routing (`route`), and the
//! transport decoder run again on the IP payload as it is on reassembled datagrams.
//!
//! Input: `[selector, frame…]`: a selector below 0xF0 picks one of the decodable link types;
//! otherwise the next two bytes (BE) are the link type, any `u16`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_core::LinkType;
use yagura_net::decode::{self, DecodeError, IpInfo, L3, L4};

mod common;

/// Is `inner` a sub-slice of `outer` (every view the decoder returns must be)?
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else {
        return;
    };
    let (link, frame) = if *sel < 0xF0 {
        (
            common::DECODABLE[usize::from(*sel) % common::DECODABLE.len()],
            rest,
        )
    } else if let [a, b, frame @ ..] = rest {
        (LinkType(u16::from_be_bytes([*a, *b])), frame)
    } else {
        return;
    };
    std::hint::black_box(yagura_engine::route(link, frame));
    match decode::decode(link, frame) {
        Err(e) => {
            assert!(!e.name().is_empty());
            assert_eq!(
                matches!(e, DecodeError::UnsupportedLinkType(_)),
                !yagura_capture::is_decodable(link),
                "{e:?} for link type {link:?}"
            );
        }
        Ok(d) => {
            assert!(yagura_capture::is_decodable(link));
            match d.l3 {
                L3::Ip(ip) => {
                    assert!(within(frame, ip.payload));
                    if ip.frag.is_some() {
                        assert_eq!(ip.l4, L4::None);
                    }
                    // As the engine does with a reassembled datagram: the payload again,
                    // as if it were a whole transport segment.
                    let mut again = IpInfo {
                        frag: None,
                        l4: L4::None,
                        truncated: 0,
                        ..ip
                    };
                    if decode::decode_l4(&mut again).is_ok() {
                        assert!(within(ip.payload, again.payload));
                    }
                }
                L3::Other(rest) => assert!(within(frame, rest)),
                L3::Arp(_) => {}
            }
        }
    }
});
