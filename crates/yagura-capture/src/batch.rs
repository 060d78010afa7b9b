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
    /// What the consumer's [`Router`] said of the packet when the record was parsed (while
    /// its bytes were in cache), 0 without a router.
    pub route: u32,
}

/// A function a consumer gives a source ([`crate::PacketSource::set_router`]) to classify
/// each packet as the source parses it, e.g. into the worker that owns its flow: the bytes
/// are read once, right behind their record header.
pub type Router = fn(LinkType, &[u8]) -> u32;

/// `router`'s verdict on a packet (0 without one).
#[inline(always)]
pub(crate) fn route_of(router: Option<Router>, link: LinkType, data: &[u8]) -> u32 {
    match router {
        Some(r) => r(link, data),
        None => 0,
    }
}

/// Record buffers of batches handed back by the consumer ([`crate::PacketSource::recycle`]),
/// reused for the next batches: no allocation per batch once the pipeline runs.
#[derive(Default)]
pub(crate) struct SpareRecords(Vec<Vec<RecordMeta>>);

impl SpareRecords {
    /// Buffers kept at most (a consumer has a few batches in flight).
    const KEEP: usize = 8;

    /// Keep the record buffer of `batch` (its backings are released now).
    pub fn put(&mut self, batch: PacketBatch) {
        let mut records = batch.records;
        if self.0.len() < Self::KEEP && records.capacity() > 0 {
            records.clear();
            self.0.push(records);
        }
    }

    /// An empty record buffer, with room for `capacity` records if newly allocated.
    pub fn take(&mut self, capacity: usize) -> Vec<RecordMeta> {
        self.0.pop().unwrap_or_else(|| Vec::with_capacity(capacity))
    }
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
        self.packet(i, &self.records[i])
    }

    /// The packet of `r`, this batch's `i`-th record: [`Self::get`] for a caller that walks
    /// the records itself.
    #[inline]
    pub fn packet(&self, i: usize, r: &RecordMeta) -> Packet<'_> {
        let b: &[u8] = &self.backings[r.backing as usize];
        Packet {
            ts: r.ts,
            link: r.link,
            orig_len: r.orig_len,
            data: &b[r.offset..r.offset + r.caplen as usize],
            index: self.first_index + i as u64,
        }
    }

    /// Ask the CPU to start loading the first bytes of the `i`-th packet (headers, where
    /// decoding starts), so that they are at hand a few packets later. A hint only: out of
    /// range does nothing.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let Some(r) = self.records.get(i)
            && let Some(b) = self.backings.get(usize::from(r.backing))
        {
            crate::file::prefetch_line(b, r.offset);
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
