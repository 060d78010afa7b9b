//! Packet sources.
//!
//! Its room in the house: everything that turns bytes on disk or on the wire into
//! [`PacketBatch`]es — pcap and pcapng files (recognised by magic bytes, optionally gzip- or
//! zstd-compressed, several files merged in timestamp order) and live capture. It depends only
//! on `yagura-core`. It is the one crate allowed `unsafe` (mmap, the AF_PACKET ring,
//! socket options); every `unsafe` block carries a `SAFETY:` comment.

mod batch;
mod error;
pub mod file;
#[cfg(target_os = "linux")]
pub mod live;

pub use batch::{Backing, Packet, PacketBatch, RecordMeta, Router};
pub use error::{CaptureError, Warning};

use yagura_core::LinkType;

/// Counters a source keeps while it runs (read by the progress bar and the final report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Records delivered so far.
    pub packets: u64,
    /// Captured bytes delivered so far (sum of `caplen`).
    pub bytes: u64,
    /// Input bytes consumed so far (file bytes, compressed size for compressed files).
    pub input_bytes_read: u64,
    /// Total input size when known (sum of file sizes), for an ETA.
    pub input_bytes_total: Option<u64>,
    /// Packets the kernel dropped before we could read them (live capture only).
    pub kernel_drops: u64,
    /// Packets Yagura dropped internally (full queues), live capture only.
    pub internal_drops: u64,
}

/// A source of packets: a file, a set of files merged in time order, or a live interface.
pub trait PacketSource: Send {
    /// The next batch of at most `max` packets, `Ok(None)` at the end of the input. A live
    /// source returns an empty batch when nothing arrived within its poll timeout.
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError>;

    /// Have `router` classify every packet as it is parsed, into [`RecordMeta::route`];
    /// call it before the first batch. Returns false when this source cannot (then `route`
    /// stays 0): the default, and the merge of several files (whose cursors read ahead).
    fn set_router(&mut self, router: Router) -> bool {
        let _ = router;
        false
    }

    /// Hand back a batch the caller is done with, so that its buffers can be reused for a
    /// later batch instead of allocated again (optional; the default drops it).
    fn recycle(&mut self, batch: PacketBatch) {
        drop(batch);
    }

    /// Counters so far.
    fn stats(&self) -> SourceStats;

    /// Non-fatal problems met so far (a truncated last record, an unknown block); drained.
    fn take_warnings(&mut self) -> Vec<Warning> {
        Vec::new()
    }

    /// The input files this source reads, for the report (empty for live capture).
    fn files(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Link types the decoder understands; every other one is counted as undecodable under its
/// name (see [`LinkType::name`]).
pub fn is_decodable(link: LinkType) -> bool {
    matches!(
        link,
        LinkType::ETHERNET
            | LinkType::LINUX_SLL
            | LinkType::LINUX_SLL2
            | LinkType::RAW
            | LinkType::RAW_BSD12
            | LinkType::RAW_BSD14
            | LinkType::IPV4
            | LinkType::IPV6
            | LinkType::NULL
            | LinkType::LOOP
    )
}
