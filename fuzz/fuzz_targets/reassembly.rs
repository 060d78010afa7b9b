//! TCP reassembly (`yagura_net::reassembly`): two directions of one connection sharing a
//! small `ReassemblyPool`. Whatever the segments, buffered bytes stay within every limit and
//! the pool's count matches the streams', and each call moves the stream position by exactly
//! the data and gaps it delivered.
//!
//! Input: `[base0 (4, LE), base1 (4, LE)]`, the sequence numbers a direction starts around,
//! then segments `[ctrl, flags, seq (2, LE), ack (2, LE), len, payload (len)…]`:
//! - `ctrl` bit 0: direction; bit 1: the sequence offset is scaled by 1024 (far jumps);
//!   bit 2: the segment acknowledges the other direction (`peer_ack`); bit 3: the capture cut
//!   `ack & 0xff` bytes off the payload (`missing`); bit 4: `flush` this direction
//!   afterwards; bit 5: the connection is torn down first (`discard`, as an evicted flow);
//! - `flags` are the TCP flags as on the wire;
//! - `seq` and `ack` are signed offsets from the next expected byte (from `base` before the
//!   direction has started).
#![no_main]

use libfuzzer_sys::fuzz_target;
use yagura_net::reassembly::{Chunk, ReassemblyLimits, ReassemblyPool, TcpStream};

const LIMITS: ReassemblyLimits = ReassemblyLimits {
    max_ooo_segments: 4,
    max_ooo_bytes: 600,
    global_bytes: 800,
    max_window: 8192,
};

/// What one call delivered: bytes and gap lengths, and whether a gap of unknown length
/// (midstream start or resync) reset the position.
#[derive(Default)]
struct Delivered {
    advance: u32,
    reset: bool,
}

impl Delivered {
    fn take(&mut self, c: Chunk<'_>) {
        match c {
            Chunk::Data(d) => {
                assert!(!d.is_empty(), "empty data chunk");
                self.advance = self.advance.wrapping_add(d.len() as u32);
            }
            Chunk::Gap(0) => self.reset = true,
            Chunk::Gap(n) => self.advance = self.advance.wrapping_add(n),
        }
    }
}

/// The stream moved by what it delivered (unless a reset gap restarted it).
fn check_advance(s: &TcpStream, was_init: bool, before: u32, d: &Delivered) {
    if was_init && !d.reset {
        assert_eq!(
            s.next_seq().wrapping_sub(before),
            d.advance,
            "stream moved by a different amount than it delivered"
        );
    }
}

fn check(pool: &ReassemblyPool, s: &[TcpStream; 2]) {
    assert_eq!(pool.buffered, s[0].buffered() + s[1].buffered());
    assert!(
        pool.buffered <= LIMITS.global_bytes,
        "{} buffered",
        pool.buffered
    );
    for st in s {
        assert!(st.buffered() <= LIMITS.max_ooo_bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, b2, b3, c0, c1, c2, c3, rest @ ..] = data else {
        return;
    };
    let mut rest = rest;
    let base = [
        u32::from_le_bytes([*b0, *b1, *b2, *b3]),
        u32::from_le_bytes([*c0, *c1, *c2, *c3]),
    ];
    let mut pool = ReassemblyPool::new(LIMITS);
    let mut streams = [TcpStream::default(), TcpStream::default()];
    while let [ctrl, flags, s0, s1, a0, a1, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        if ctrl & 0x20 != 0 {
            for s in &mut streams {
                s.discard(&mut pool);
            }
            assert_eq!(pool.buffered, 0);
            streams = [TcpStream::default(), TcpStream::default()];
        }
        let di = usize::from(ctrl & 1);
        let scale = if ctrl & 2 != 0 { 1024 } else { 1 };
        let rel = i32::from(i16::from_le_bytes([*s0, *s1])) * scale;
        let ack_rel = i32::from(i16::from_le_bytes([*a0, *a1]));
        let missing = if ctrl & 8 != 0 { u32::from(*a0) } else { 0 };

        let [x, y] = &mut streams;
        let (this, other) = if di == 0 { (x, y) } else { (y, x) };
        let start = if this.is_initialised() {
            this.next_seq()
        } else {
            base[di]
        };
        let seq = start.wrapping_add(rel as u32);
        let (was_init, before) = (this.is_initialised(), this.next_seq());
        let mut d = Delivered::default();
        this.segment(&mut pool, seq, *flags, payload, missing, &mut |c| d.take(c));
        check_advance(this, was_init, before, &d);

        if ctrl & 4 != 0 {
            let ack = other.next_seq().wrapping_add(ack_rel as u32);
            let (was_init, before) = (other.is_initialised(), other.next_seq());
            let mut d = Delivered::default();
            other.peer_ack(&mut pool, ack, &mut |c| d.take(c));
            check_advance(other, was_init, before, &d);
        }
        if ctrl & 0x10 != 0 {
            let (was_init, before) = (this.is_initialised(), this.next_seq());
            let mut d = Delivered::default();
            this.flush(&mut pool, &mut |c| d.take(c));
            check_advance(this, was_init, before, &d);
            assert_eq!(this.buffered(), 0);
        }
        check(&pool, &streams);
    }
    for s in &mut streams {
        s.flush(&mut pool, &mut |_| {});
    }
    assert_eq!(pool.buffered, 0);
});
