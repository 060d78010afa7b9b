//! A memo of the identity facts messages gave, by message content, for dissectors whose facts
//! depend on nothing but the message's bytes (the DNS family, bar its transaction id).
//!
//! Name services repeat themselves all day: the same NetBIOS registrations, LLMNR and mDNS
//! announcements and DNS answers come back minutes apart, in new flows. Building their
//! facts (walking the records, building names, formatting text) was most of what these
//! dissectors cost, so the engine keeps one memo per worker and offers it through
//! [`crate::PduSink::fact_memo`]; a dissector looks a message up before building its facts
//! and reports the remembered ones instead. The facts are then exactly what parsing would
//! give (the key is the whole message, compared byte for byte, not only its hash), so the
//! report does not depend on the memo, nor on which worker saw what.

use std::sync::Arc;

use yagura_core::{IdentityFact, OperationClass};

use crate::{PduCount, PduSink, ProtocolId};

/// Slots of the memo. It is direct-mapped: a message evicts the one whose hash falls in the
/// same slot, so it has room to spare: the bench capture's name services send about 160
/// distinct messages, its BACnet devices some 300 identifying answers, SSDP some 40 heads
/// (with 512 slots, a quarter of BACnet's answers were evicted before they came back).
const SLOTS: usize = 2048;

/// Longest message memoised (longer ones are parsed every time), which bounds the memo to
/// about two megabytes per worker (messages are mostly far shorter).
pub const MAX_KEY: usize = 1024;

/// Hashes keys (fixed seed: a run does the same whatever the process).
static HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6d65_6d6f);

/// A message as a memo key: the protocol that parses it and the bytes its facts depend on,
/// with a context number for what they depend on outside those bytes (0 when nothing).
#[derive(Debug, Clone, Copy)]
pub struct MemoKey<'a> {
    protocol: ProtocolId,
    context: u32,
    bytes: &'a [u8],
    hash: u64,
}

impl<'a> MemoKey<'a> {
    /// The key of `bytes` parsed by `protocol`; `None` when longer than [`MAX_KEY`].
    pub fn new(protocol: ProtocolId, bytes: &'a [u8]) -> Option<MemoKey<'a>> {
        MemoKey::with_context(protocol, 0, bytes)
    }

    /// The key of `bytes` parsed by `protocol` in `context` (a message type, say, kept
    /// outside the bytes); `None` when longer than [`MAX_KEY`].
    pub fn with_context(
        protocol: ProtocolId,
        context: u32,
        bytes: &'a [u8],
    ) -> Option<MemoKey<'a>> {
        (bytes.len() <= MAX_KEY).then(|| MemoKey {
            protocol,
            context,
            bytes,
            hash: std::hash::BuildHasher::hash_one(&HASH, (protocol.0, context, bytes)),
        })
    }

    fn slot(&self) -> usize {
        self.slot_of(SLOTS)
    }

    fn slot_of(&self, slots: usize) -> usize {
        // The high bits: foldhash mixes them best.
        (self.hash >> 32) as usize % slots
    }
}

struct Entry {
    hash: u64,
    protocol: ProtocolId,
    context: u32,
    key: Box<[u8]>,
    facts: Arc<[IdentityFact]>,
}

/// The memo (one per worker). Empty until the first message is remembered.
#[derive(Default)]
pub struct FactMemo {
    slots: Vec<Option<Entry>>,
}

impl FactMemo {
    /// The facts remembered for exactly this message.
    pub fn get(&self, k: &MemoKey<'_>) -> Option<Arc<[IdentityFact]>> {
        let e = self.slots.get(k.slot())?.as_ref()?;
        (e.hash == k.hash
            && e.protocol == k.protocol
            && e.context == k.context
            && *e.key == *k.bytes)
            .then(|| Arc::clone(&e.facts))
    }

    /// Remember the facts of this message.
    pub fn put(&mut self, k: &MemoKey<'_>, facts: Arc<[IdentityFact]>) {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        self.slots[k.slot()] = Some(Entry {
            hash: k.hash,
            protocol: k.protocol,
            context: k.context,
            key: k.bytes.into(),
            facts,
        });
    }
}

/// Report a message's facts through the sink's memo: when `key` (the protocol, a context
/// and the bytes the facts depend on; `None` for a message not to memoise) names a message
/// the memo knows, its remembered facts; otherwise those `build` makes, remembered when
/// there are any. Without a memo (or a key) the facts are built and reported every time.
pub(crate) fn report_facts(
    sink: &mut dyn PduSink,
    key: Option<(ProtocolId, u32, &[u8])>,
    build: impl FnOnce() -> Vec<IdentityFact>,
) {
    let key = key
        .filter(|_| sink.fact_memo().is_some())
        .and_then(|(p, c, b)| MemoKey::with_context(p, c, b));
    if let Some(facts) = key.and_then(|k| sink.fact_memo()?.get(&k)) {
        for f in facts.iter() {
            sink.identity_ref(f);
        }
        return;
    }
    let facts = build();
    match (key, sink.fact_memo()) {
        (Some(k), Some(memo)) if !facts.is_empty() => {
            let facts: Arc<[IdentityFact]> = facts.into();
            memo.put(&k, Arc::clone(&facts));
            for f in facts.iter() {
                sink.identity_ref(f);
            }
        }
        _ => {
            for f in facts {
                sink.identity(f);
            }
        }
    }
}

/// Slots of the [`CountMemo`], in sets of two (a message goes in either slot of the set
/// its hash gives). The bench capture's EtherNet/IP clients poll with 55 distinct Multiple
/// Service Packet requests.
pub const COUNT_SLOTS: usize = 512;

/// Longest message a [`CountMemo`] keeps, which bounds it to [`COUNT_MEMO_MAX_BYTES`].
pub const COUNT_MAX_KEY: usize = 512;

/// Runs of counts a [`CountMemo`] keeps per message.
pub const COUNT_RUNS: usize = 4;

/// The most bytes a [`CountMemo`] holds: its slots and their keys (about 320 KiB).
pub const COUNT_MEMO_MAX_BYTES: usize =
    COUNT_SLOTS * (std::mem::size_of::<Option<CountEntry>>() + COUNT_MAX_KEY);

/// Successors remembered per message (see [`CountEntry::next`]).
const NEXT: usize = 4;

/// No slot.
const NO_SLOT: u16 = u16::MAX;

// Slots are named by u16 and taken in pairs; the whole stays within a few hundred KiB.
const _: () = assert!(COUNT_SLOTS < NO_SLOT as usize && COUNT_SLOTS.is_multiple_of(2));
const _: () = assert!(COUNT_MEMO_MAX_BYTES <= 512 * 1024);

/// The counts one message gave in counting mode: up to [`COUNT_RUNS`] runs of alike PDUs
/// of one protocol, in the order the sink was given them. Compact (72 bytes), as a lookup
/// copies it.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    protocol: &'static str,
    runs: [Run; COUNT_RUNS],
    len: u8,
}

/// `n` PDUs in a row counted alike (a [`PduCount`] without its protocol).
#[derive(Debug, Clone, Copy)]
struct Run {
    operation: OperationClass,
    response: bool,
    anomalies: u32,
    n: u32,
}

impl Default for Counts {
    fn default() -> Counts {
        const NONE: Run = Run {
            operation: OperationClass::Other,
            response: false,
            anomalies: 0,
            n: 0,
        };
        Counts {
            protocol: "",
            runs: [NONE; COUNT_RUNS],
            len: 0,
        }
    }
}

impl Counts {
    /// Add a run of `n` PDUs like `pdu`; false (nothing added) when already full, or when
    /// `pdu` is of another protocol than the first run.
    pub fn push(&mut self, pdu: PduCount, n: u32) -> bool {
        if self.len == 0 {
            self.protocol = pdu.protocol;
        }
        let Some(r) = self.runs.get_mut(usize::from(self.len)) else {
            return false;
        };
        if pdu.protocol != self.protocol {
            return false;
        }
        *r = Run {
            operation: pdu.operation,
            response: pdu.response,
            anomalies: pdu.anomalies,
            n,
        };
        self.len += 1;
        true
    }

    /// The runs, in order: a [`PduCount`] and how many in a row.
    pub fn runs(&self) -> impl Iterator<Item = (PduCount, u32)> + '_ {
        self.runs[..usize::from(self.len)].iter().map(|r| {
            let pdu = PduCount {
                protocol: self.protocol,
                operation: r.operation,
                response: r.response,
                anomalies: r.anomalies,
            };
            (pdu, r.n)
        })
    }
}

/// A flow's place in the [`CountMemo`]: the slot of the last message it found or put there
/// (two bytes a flow; what is remembered is all in the worker's memo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountHint(u16);

impl Default for CountHint {
    fn default() -> CountHint {
        CountHint(NO_SLOT)
    }
}

/// One remembered message.
#[derive(Debug)]
pub struct CountEntry {
    hash: u64,
    protocol: ProtocolId,
    /// The slots of the messages that came next after this one lately, in whatever flow,
    /// the latest first ([`NO_SLOT`]: none). A polling client sends its packets in the same
    /// order every cycle, so the message after a flow's last one is most often one of
    /// these (on the bench capture 95%, against 53% with one successor: a packet may come
    /// twice in a cycle, or be sent by several clients): trying them costs no hashing.
    /// Only a guess: what is found there is compared byte for byte like any key.
    next: [u16; NEXT],
    counts: Counts,
    /// The message (its buffer is reused when the slot is).
    key: Vec<u8>,
}

impl CountEntry {
    fn is(&self, protocol: ProtocolId, bytes: &[u8]) -> bool {
        self.protocol == protocol && *self.key == *bytes
    }
}

/// Put `slot` first in `next`, where it was at `i` (or the oldest was, which goes).
#[inline]
fn latest_first(next: &mut [u16; NEXT], i: usize, slot: u16) {
    for j in (1..=i.min(NEXT - 1)).rev() {
        next[j] = next[j - 1];
    }
    next[0] = slot;
}

/// A memo of the counts messages gave in counting mode, by message content, for dissectors
/// whose counts of some messages depend on nothing but their bytes (EtherNet/IP's Multiple
/// Service Packet requests counted wholly without the flow's state): polling clients send
/// the same packets every cycle, byte for byte, and a lookup costs a fraction of counting
/// again. One per worker (offered through [`crate::PduSink::count_memo`]), of
/// [`COUNT_SLOTS`] messages of at most [`COUNT_MAX_KEY`] bytes whatever the number of
/// flows; as with the [`FactMemo`], the key is the whole message compared byte for byte, so
/// the counts are exactly what counting would give.
#[derive(Debug, Default)]
pub struct CountMemo {
    slots: Vec<Option<CountEntry>>,
}

impl CountMemo {
    /// The counts remembered for exactly `bytes` parsed by `protocol`. Tried first: the
    /// messages that came after the flow's last one (`hint`) lately, then the set the hash
    /// gives. `hint` moves to the message found.
    #[inline]
    pub fn get(
        &mut self,
        protocol: ProtocolId,
        bytes: &[u8],
        hint: &mut CountHint,
    ) -> Option<&Counts> {
        let last = usize::from(hint.0);
        if let Some(Some(e)) = self.slots.get(last) {
            let next = e.next;
            for (i, n) in next.into_iter().enumerate() {
                if let Some(Some(e)) = self.slots.get(usize::from(n))
                    && e.is(protocol, bytes)
                {
                    hint.0 = n;
                    if i > 0
                        && let Some(Some(e)) = self.slots.get_mut(last)
                    {
                        latest_first(&mut e.next, i, n);
                    }
                    return Some(&self.slots.get(usize::from(n))?.as_ref()?.counts);
                }
            }
        }
        if bytes.len() > COUNT_MAX_KEY {
            return None;
        }
        let k = MemoKey::new(protocol, bytes)?;
        let set = k.slot_of(COUNT_SLOTS / 2) * 2;
        let slot = (set..set + 2).find(|&i| {
            self.slots
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|e| e.hash == k.hash && e.is(protocol, bytes))
        })?;
        self.follow(hint, slot as u16);
        Some(&self.slots.get(slot)?.as_ref()?.counts)
    }

    /// Remember the counts of `bytes` parsed by `protocol` (not when longer than
    /// [`COUNT_MAX_KEY`]), the flow's next message after its last (`hint`, moved to it). It
    /// takes a free slot of its set, else the first.
    pub fn put(
        &mut self,
        protocol: ProtocolId,
        bytes: &[u8],
        counts: &Counts,
        hint: &mut CountHint,
    ) {
        if bytes.len() > COUNT_MAX_KEY {
            return;
        }
        let Some(k) = MemoKey::new(protocol, bytes) else {
            return;
        };
        if self.slots.is_empty() {
            self.slots.resize_with(COUNT_SLOTS, || None);
        }
        let set = k.slot_of(COUNT_SLOTS / 2) * 2;
        let slot = if self.slots[set].is_some() && self.slots[set + 1].is_none() {
            set + 1
        } else {
            set
        };
        let e = self.slots[slot].get_or_insert_with(|| CountEntry {
            hash: 0,
            protocol,
            next: [NO_SLOT; NEXT],
            counts: Counts::default(),
            key: Vec::new(),
        });
        e.hash = k.hash;
        e.protocol = protocol;
        e.next = [NO_SLOT; NEXT];
        e.counts = *counts;
        e.key.clear();
        // Exactly: its capacity stays within COUNT_MAX_KEY.
        e.key.reserve_exact(bytes.len());
        e.key.extend_from_slice(bytes);
        self.follow(hint, slot as u16);
    }

    /// The flow's message after the one at `hint` was the one at `slot`: it becomes that
    /// one's latest successor, and the flow's last message.
    fn follow(&mut self, hint: &mut CountHint, slot: u16) {
        if let Some(Some(e)) = self.slots.get_mut(usize::from(hint.0)) {
            let i = e.next.iter().position(|&n| n == slot).unwrap_or(NEXT - 1);
            latest_first(&mut e.next, i, slot);
        }
        hint.0 = slot;
    }

    /// Bytes held: its slots and their keys (at most [`COUNT_MEMO_MAX_BYTES`]).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<CountEntry>>()
            + self
                .slots
                .iter()
                .flatten()
                .map(|e| e.key.capacity())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yagura_core::{Attribute, Subject};

    fn fact(v: &str) -> Arc<[IdentityFact]> {
        Arc::from(vec![IdentityFact {
            protocol: "dns",
            subject: Subject::Sender,
            attribute: Attribute::Hostname,
            value: v.into(),
        }])
    }

    #[test]
    fn gives_back_only_the_same_message_of_the_same_protocol() {
        let mut m = FactMemo::default();
        let k = MemoKey::new(ProtocolId::DNS, b"abc").unwrap();
        assert!(m.get(&k).is_none());
        m.put(&k, fact("a"));
        assert_eq!(m.get(&k).unwrap()[0].value, "a");
        assert!(
            m.get(&MemoKey::new(ProtocolId::MDNS, b"abc").unwrap())
                .is_none()
        );
        assert!(
            m.get(&MemoKey::new(ProtocolId::DNS, b"abd").unwrap())
                .is_none()
        );
        assert!(
            m.get(&MemoKey::with_context(ProtocolId::DNS, 1, b"abc").unwrap())
                .is_none()
        );
        assert!(MemoKey::new(ProtocolId::DNS, &[0; MAX_KEY + 1]).is_none());
    }

    #[test]
    fn a_slot_holds_the_last_message_hashed_to_it() {
        let mut m = FactMemo::default();
        let keys: Vec<Vec<u8>> = (0..4 * SLOTS as u32)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            m.put(
                &MemoKey::new(ProtocolId::DNS, k).unwrap(),
                fact(&i.to_string()),
            );
        }
        let last = keys.len() - 1;
        let k = MemoKey::new(ProtocolId::DNS, &keys[last]).unwrap();
        assert_eq!(m.get(&k).unwrap()[0].value, last.to_string());
        let kept = keys
            .iter()
            .filter(|k| m.get(&MemoKey::new(ProtocolId::DNS, k).unwrap()).is_some())
            .count();
        assert!(kept <= SLOTS);
    }

    fn counts(anomalies: u32) -> Counts {
        let mut c = Counts::default();
        let pdu = PduCount {
            protocol: "cip",
            operation: OperationClass::Read,
            response: false,
            anomalies,
        };
        assert!(c.push(pdu, 3));
        c
    }

    fn anomalies(c: Option<&Counts>) -> Option<u32> {
        c.map(|c| c.runs().next().unwrap().0.anomalies)
    }

    #[test]
    fn counts_give_back_only_the_same_message_of_the_same_protocol() {
        let mut m = CountMemo::default();
        let mut hint = CountHint::default();
        assert!(m.get(ProtocolId::ENIP, b"abc", &mut hint).is_none());
        m.put(ProtocolId::ENIP, b"abc", &counts(1), &mut hint);
        m.put(ProtocolId::ENIP, b"abd", &counts(2), &mut hint);
        // From any hint, the slot guessed or not.
        for mut h in [CountHint::default(), hint, CountHint(0), CountHint(7)] {
            assert_eq!(anomalies(m.get(ProtocolId::ENIP, b"abc", &mut h)), Some(1));
            assert_eq!(anomalies(m.get(ProtocolId::ENIP, b"abd", &mut h)), Some(2));
            assert_eq!(anomalies(m.get(ProtocolId::ENIP, b"abc", &mut h)), Some(1));
            assert!(m.get(ProtocolId::DNS, b"abc", &mut h).is_none());
            assert!(m.get(ProtocolId::ENIP, b"ab", &mut h).is_none());
        }
        // Too long: not kept.
        let long = [0; COUNT_MAX_KEY + 1];
        m.put(ProtocolId::ENIP, &long, &counts(3), &mut hint);
        assert!(m.get(ProtocolId::ENIP, &long, &mut hint).is_none());
        // A run of another protocol or a fifth run does not fit.
        let mut c = counts(0);
        let pccc = PduCount {
            protocol: "pccc",
            ..c.runs().next().unwrap().0
        };
        assert!(!c.push(pccc, 1));
        let cip = c.runs().next().unwrap().0;
        assert!((1..COUNT_RUNS).all(|_| c.push(cip, 1)));
        assert!(!c.push(cip, 1));
        assert_eq!(c.runs().count(), COUNT_RUNS);
    }

    /// Many more messages than slots, of the longest kept, sent in cycles by flows with
    /// their own hints: the memo gives back only the counts of the very message (a guessed
    /// slot since taken by another message gives nothing wrong), and holds at most
    /// [`COUNT_MEMO_MAX_BYTES`].
    #[test]
    fn count_memo_is_bounded_and_exact() {
        let mut m = CountMemo::default();
        let msg = |i: u32| {
            let mut b = vec![(i % 251) as u8; COUNT_MAX_KEY - (i as usize % 3)];
            b[..4].copy_from_slice(&i.to_le_bytes());
            b
        };
        let mut hints = [CountHint::default(); 8];
        for round in 0..3 {
            for i in 0..(3 * COUNT_SLOTS as u32) {
                let h = &mut hints[i as usize % 8];
                let b = msg(i);
                match anomalies(m.get(ProtocolId::ENIP, &b, h)) {
                    Some(a) => assert_eq!(a, i, "round {round}"),
                    None => m.put(ProtocolId::ENIP, &b, &counts(i), h),
                }
                assert!(m.heap_bytes() <= COUNT_MEMO_MAX_BYTES);
            }
        }
        assert!(m.heap_bytes() > COUNT_MEMO_MAX_BYTES / 2);
    }
}
