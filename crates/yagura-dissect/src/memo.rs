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

use crate::ProtocolId;

/// Slots of the memo. It is direct-mapped: a message evicts the one whose hash falls in the
/// same slot. The bench capture's name services send about 160 distinct messages.
const SLOTS: usize = 512;

/// Longest message memoised (longer ones are parsed every time), which bounds the memo to
/// about half a megabyte per worker.
pub const MAX_KEY: usize = 1024;

/// Hashes keys (fixed seed: a run does the same whatever the process).
static HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6d65_6d6f);

/// A message as a memo key: the protocol that parses it and the bytes its facts depend on.
#[derive(Debug, Clone, Copy)]
pub struct MemoKey<'a> {
    protocol: ProtocolId,
    bytes: &'a [u8],
    hash: u64,
}

impl<'a> MemoKey<'a> {
    /// The key of `bytes` parsed by `protocol`; `None` when longer than [`MAX_KEY`].
    pub fn new(protocol: ProtocolId, bytes: &'a [u8]) -> Option<MemoKey<'a>> {
        (bytes.len() <= MAX_KEY).then(|| MemoKey {
            protocol,
            bytes,
            hash: std::hash::BuildHasher::hash_one(&HASH, (protocol.0, bytes)),
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
        (e.hash == k.hash && e.protocol == k.protocol && *e.key == *k.bytes)
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
            key: k.bytes.into(),
            facts,
        });
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
