//! IP defragmentation (`yagura_net::defrag::Defragmenter`) under small limits: whatever the
//! fragments, buffered bytes and pending datagrams never exceed the limits, the accounting
//! returns to zero when nothing is pending, and a completed datagram has the length its last
//! fragment gave.
//!
//! Input: a sequence of fragments, each `[ctrl, offset (2, LE), len, data (len)…]`:
//! `ctrl` bits 0–1 pick one of four datagram keys, bit 2 is "more fragments", bits 3–5
//! advance the clock by that many seconds, bit 6 runs `expire`, bit 7 counts the offset in
//! 8-byte units (as IPv4 and IPv6 do) instead of bytes. `data` is cut short at the end of the
//! input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_core::Timestamp;
use yagura_net::defrag::{DefragLimits, DefragOutcome, Defragmenter, FragKey};

const LIMITS: DefragLimits = DefragLimits {
    max_datagrams: 3,
    max_bytes: 2048,
    timeout_ns: 5_000_000_000,
    max_fragments: 8,
};

fn key(k: u8) -> FragKey {
    let mut src = [0u8; 16];
    src[10] = 0xff;
    src[11] = 0xff;
    src[15] = 1 + (k & 1);
    let mut dst = src;
    dst[15] = 9;
    FragKey {
        src,
        dst,
        id: u32::from(k >> 1),
        proto: 17,
        vlan: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut d = Defragmenter::new(LIMITS);
    let mut now = 1_000_000_000u64;
    let mut rest = data;
    while let [ctrl, o0, o1, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (frag, next) = tail.split_at(n);
        rest = next;
        now += u64::from((ctrl >> 3) & 7) * 1_000_000_000;
        let ts = Timestamp(now);
        if ctrl & 0x40 != 0 {
            d.expire(ts);
        }
        let mut offset = u32::from(u16::from_le_bytes([*o0, *o1]));
        if ctrl & 0x80 != 0 {
            offset *= 8;
        }
        let more = ctrl & 4 != 0;
        let conflicts = d.stats().overlap_conflicts;
        match d.push(ts, key(ctrl & 3), offset, more, frag) {
            DefragOutcome::Complete(buf) => {
                assert!(buf.len() <= 65_535);
                // Unless it disagreed with an earlier one (the first copy wins), a last
                // fragment fixes the length, and a whole datagram in one is itself.
                if !more && d.stats().overlap_conflicts == conflicts {
                    assert_eq!(buf.len(), offset as usize + frag.len());
                    if offset == 0 {
                        assert_eq!(&buf[..], frag);
                    }
                }
            }
            DefragOutcome::Held | DefragOutcome::Dropped => {}
        }
        assert!(
            d.buffered_bytes() <= LIMITS.max_bytes,
            "{} bytes buffered",
            d.buffered_bytes()
        );
        assert!(d.pending() <= LIMITS.max_datagrams);
        if d.pending() == 0 {
            assert_eq!(d.buffered_bytes(), 0);
        }
    }
    d.expire(Timestamp(now + 60_000_000_000));
    assert_eq!((d.pending(), d.buffered_bytes()), (0, 0));
});
