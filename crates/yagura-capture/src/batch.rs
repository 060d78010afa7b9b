use std::ops::Deref;
use std::sync::Arc;

use yagura_core::{LinkType, Timestamp};

/// Memory that packet bytes live in: a memory-mapped file (zero copy) or a heap buffer
/// (decompressed or streamed input, live capture blocks).
pub enum Backing {
    Mmap(memmap2::Mmap),
    Heap(Vec<u8>),
}

impl Deref for Backing {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Heap(v) => v,
        }
    }
}

/// Where one record's bytes are and what the capture header said about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub ts: Timestamp,
    /// Offset of the packet data within its backing.
    pub offset: usize,
    /// Captured length (bytes present).
    pub caplen: u32,
    /// Length on the wire.
    pub orig_len: u32,
    pub link: LinkType,
    /// Index into [`PacketBatch::backings`].
    pub backing: u16,
}

/// One packet, borrowed from its batch.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    pub orig_len: u32,
    pub data: &'a [u8],
    /// Position of this record in the whole input (0-based, across all files).
    pub index: u64,
}

/// A run of consecutive packets of the input and the memory they live in. Cheap to share
/// between threads: the bytes are behind `Arc`s and are never copied.
#[derive(Clone, Default)]
pub struct PacketBatch {
    pub backings: Vec<Arc<Backing>>,
    pub records: Vec<RecordMeta>,
    /// Index of `records[0]` in the whole input.
    pub first_index: u64,
}

impl PacketBatch {
    #[inline]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `i`-th packet. Panics if `i >= len()`; record offsets are validated when the batch
    /// is built, so the data slice itself cannot be out of bounds.
    #[inline]
    pub fn get(&self, i: usize) -> Packet<'_> {
        let r = &self.records[i];
        let b: &[u8] = &self.backings[r.backing as usize];
        Packet {
            ts: r.ts,
            link: r.link,
            orig_len: r.orig_len,
            data: &b[r.offset..r.offset + r.caplen as usize],
            index: self.first_index + i as u64,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Packet<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Index of `backing` in this batch, adding it if new (compared by pointer).
    pub fn backing_index(&mut self, backing: &Arc<Backing>) -> u16 {
        if let Some(i) = self.backings.iter().position(|b| Arc::ptr_eq(b, backing)) {
            return i as u16;
        }
        self.backings.push(Arc::clone(backing));
        (self.backings.len() - 1) as u16
    }
}
