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

use yagura_core::IdentityFact;

use crate::{PduSink, ProtocolId};

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
        // The high bits: foldhash mixes them best.
        (self.hash >> 32) as usize % SLOTS
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
}
