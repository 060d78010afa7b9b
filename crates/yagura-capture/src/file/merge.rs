//! Several capture files merged into one stream in timestamp order.
//!
//! A k-way merge on the timestamp of each file's next record; ties go to the file listed
//! first, and records of one file keep that file's order. Files are activated lazily: each
//! is opened once up front to learn its first timestamp, and a compressed one (which holds a
//! descriptor and a heap chunk) beyond the first few is closed again and reopened only when
//! the merge reaches that timestamp. A directory of thousands of rotated captures thus holds
//! only the files that overlap in time open at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;

use yagura_core::Timestamp;

use super::OpenOptions;
use super::source::FileSource;
use crate::batch::SpareRecords;
use crate::{CaptureError, PacketBatch, PacketSource, SourceStats, Warning};

/// Records pulled from a file at a time into its merge cursor.
const CURSOR_BATCH: usize = 1024;

/// Compressed or streamed files kept open after the up-front scan; later ones are closed
/// and reopened when needed, to bound descriptors and chunk memory.
const MAX_OPEN_STREAMS: usize = 16;

/// Chunk size for the up-front scan of files that are closed again: enough for the headers
/// and the first record in practice (it grows if a record needs more).
const SCAN_CHUNK: usize = 64 * 1024;

/// Merge key of a file's next record: earlier time first, then earlier file.
type Key = (Timestamp, usize);

/// No merged-batch backing assigned yet to a cursor's local backing.
const UNMAPPED: u16 = u16::MAX;

/// Several files read as one source in timestamp order.
pub struct MergedSource {
    inputs: Vec<MergeInput>,
    /// Open files with a record at hand, by key.
    heap: BinaryHeap<Reverse<Key>>,
    /// Closed files not started yet, by the key of their first record, earliest last (so
    /// the next one to activate is popped from the end).
    waiting: Vec<Key>,
    opts: OpenOptions,
    next_index: u64,
    /// Merged batches built so far; tags the backing maps of the cursors.
    epoch: u32,
    /// Counters of files already finished.
    finished: SourceStats,
    warnings: Vec<Warning>,
    pending_error: Option<CaptureError>,
    total: Option<u64>,
    /// Record buffers handed back by the consumer.
    spare: SpareRecords,
}

struct MergeInput {
    path: PathBuf,
    state: State,
}

enum State {
    /// Scanned and closed; reopened when the merge reaches its first record.
    Waiting,
    Open(Box<Cursor>),
    Done,
}

/// An open file and the records pulled from it but not merged yet.
struct Cursor {
    src: FileSource,
    batch: PacketBatch,
    at: usize,
    /// For each backing of `batch`: its index in the merged batch of epoch `map_epoch`.
    map: Vec<u16>,
    map_epoch: u32,
}

impl Cursor {
    #[inline]
    fn head(&self) -> Timestamp {
        self.batch.records[self.at].ts
    }
}

impl MergedSource {
    /// Opens `paths` (files, already discovered) for merging; `skipped` are warnings from
    /// discovery to pass on.
    pub(crate) fn from_files(
        paths: Vec<PathBuf>,
        opts: &OpenOptions,
        skipped: Vec<Warning>,
    ) -> Result<MergedSource, CaptureError> {
        let mut merged = MergedSource {
            spare: SpareRecords::default(),
            inputs: Vec::with_capacity(paths.len()),
            heap: BinaryHeap::with_capacity(paths.len()),
            waiting: Vec::new(),
            opts: opts.clone(),
            next_index: 0,
            epoch: 0,
            finished: SourceStats::default(),
            warnings: skipped,
            pending_error: None,
            total: Some(0),
        };
        let mut open_streams = 0;
        for (i, path) in paths.into_iter().enumerate() {
            let scan_opts = if open_streams >= MAX_OPEN_STREAMS {
                OpenOptions {
                    chunk_size: opts.chunk_size.min(SCAN_CHUNK),
                    ..opts.clone()
                }
            } else {
                opts.clone()
            };
            let src = FileSource::open(&path, &scan_opts)?;
            merged.total = match (merged.total, src.stats().input_bytes_total) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            merged.inputs.push(MergeInput {
                path,
                state: State::Done,
            });
            let streaming = src.is_streaming();
            let close = streaming && open_streams >= MAX_OPEN_STREAMS;
            // A file to be closed again only needs its first record read.
            let first = if close { 1 } else { CURSOR_BATCH };
            let Some(cursor) = merged.start(src, first)? else {
                continue;
            };
            let key = (cursor.head(), i);
            if close {
                // Close it; the records read so far are read again on reopening.
                merged.inputs[i].state = State::Waiting;
                merged.waiting.push(key);
            } else {
                open_streams += usize::from(streaming);
                merged.inputs[i].state = State::Open(cursor);
                merged.heap.push(Reverse(key));
            }
        }
        merged.waiting.sort_unstable_by(|a, b| b.cmp(a));
        Ok(merged)
    }

    /// Pulls the first `records` records of a freshly opened file; `None` (and the file's
    /// counters and warnings kept) if it has none.
    fn start(
        &mut self,
        mut src: FileSource,
        records: usize,
    ) -> Result<Option<Box<Cursor>>, CaptureError> {
        match src.next_batch(records)? {
            Some(batch) => Ok(Some(Box::new(Cursor {
                map: vec![UNMAPPED; batch.backings.len()],
                map_epoch: self.epoch,
                src,
                batch,
                at: 0,
            }))),
            None => {
                self.retire(src);
                Ok(None)
            }
        }
    }

    /// Keeps the counters and warnings of a finished file.
    fn retire(&mut self, mut src: FileSource) {
        let s = src.stats();
        self.finished.packets += s.packets;
        self.finished.bytes += s.bytes;
        self.finished.input_bytes_read += s.input_bytes_read;
        self.warnings.append(&mut src.take_warnings());
    }

    /// Reopens waiting files whose first record comes before `bound` (every waiting file
    /// when there is no open one).
    fn activate_until(&mut self, bound: Option<Key>) -> Result<(), CaptureError> {
        while let Some(&key) = self.waiting.last() {
            if bound.is_some_and(|b| key > b) {
                break;
            }
            self.waiting.pop();
            let i = key.1;
            let src = FileSource::open(&self.inputs[i].path, &self.opts)?;
            match self.start(src, CURSOR_BATCH)? {
                Some(cursor) => {
                    self.heap.push(Reverse((cursor.head(), i)));
                    self.inputs[i].state = State::Open(cursor);
                    return Ok(());
                }
                // Only if the file changed since the scan.
                None => self.inputs[i].state = State::Done,
            }
        }
        Ok(())
    }

    /// Moves records of file `i` into `out` while they come before `limit`; returns the key
    /// of its next record, or `None` when the file is finished.
    fn drain(
        &mut self,
        i: usize,
        limit: Option<Key>,
        out: &mut PacketBatch,
        max: usize,
    ) -> Result<Option<Key>, CaptureError> {
        let epoch = self.epoch;
        let State::Open(cursor) = &mut self.inputs[i].state else {
            return Ok(None);
        };
        if cursor.map_epoch != epoch {
            cursor.map.fill(UNMAPPED);
            cursor.map_epoch = epoch;
        }
        loop {
            if out.records.len() >= max || out.backings.len() >= usize::from(UNMAPPED) {
                return Ok(Some((cursor.head(), i)));
            }
            let mut r = cursor.batch.records[cursor.at];
            let local = usize::from(r.backing);
            if cursor.map[local] == UNMAPPED {
                cursor.map[local] = out.backings.len() as u16;
                out.backings.push(Arc::clone(&cursor.batch.backings[local]));
            }
            r.backing = cursor.map[local];
            out.records.push(r);
            cursor.at += 1;
            if cursor.at == cursor.batch.records.len() {
                match cursor.src.next_batch(CURSOR_BATCH)? {
                    Some(batch) => {
                        cursor.map.clear();
                        cursor.map.resize(batch.backings.len(), UNMAPPED);
                        cursor.batch = batch;
                        cursor.at = 0;
                    }
                    None => {
                        let State::Open(cursor) =
                            std::mem::replace(&mut self.inputs[i].state, State::Done)
                        else {
                            unreachable!("matched as open above");
                        };
                        self.retire(cursor.src);
                        return Ok(None);
                    }
                }
            }
            let key = (cursor.head(), i);
            if limit.is_some_and(|l| key > l) {
                return Ok(Some(key));
            }
        }
    }

    fn fill(&mut self, out: &mut PacketBatch, max: usize) -> Result<(), CaptureError> {
        while out.records.len() < max {
            let best = self.heap.peek().map(|r| r.0);
            self.activate_until(best)?;
            let Some(Reverse(best)) = self.heap.pop() else {
                return Ok(());
            };
            // Take from the best file until it passes the runner-up (open or waiting).
            let runner_up = match (self.heap.peek().map(|r| r.0), self.waiting.last()) {
                (Some(a), Some(&b)) => Some(a.min(b)),
                (a, b) => a.or(b.copied()),
            };
            if let Some(next) = self.drain(best.1, runner_up, out, max)? {
                self.heap.push(Reverse(next));
            }
        }
        Ok(())
    }
}

impl PacketSource for MergedSource {
    fn recycle(&mut self, batch: PacketBatch) {
        self.spare.put(batch);
    }

    /// Batches of up to `max` records (`max` 0 is taken as 1) in timestamp order. Records
    /// merged before an error are delivered first; the error comes with the next call.
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let max = max.max(1);
        self.epoch = self.epoch.wrapping_add(1);
        let mut out = PacketBatch {
            backings: Vec::new(),
            records: self.spare.take(max.min(1 << 16)),
            first_index: self.next_index,
        };
        if let Err(e) = self.fill(&mut out, max) {
            // Nothing more is merged after an error: a later file's records would otherwise
            // jump ahead of the broken file's.
            self.heap.clear();
            self.waiting.clear();
            if out.records.is_empty() {
                return Err(e);
            }
            self.pending_error = Some(e);
        }
        if out.records.is_empty() {
            return Ok(None);
        }
        self.next_index += out.records.len() as u64;
        Ok(Some(out))
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.finished.clone();
        for input in &self.inputs {
            if let State::Open(c) = &input.state {
                let o = c.src.stats();
                s.input_bytes_read += o.input_bytes_read;
                // Records pulled into the cursor but not merged yet are not delivered.
                let pending = &c.batch.records[c.at..];
                s.packets += o.packets - pending.len() as u64;
                s.bytes += o.bytes - pending.iter().map(|r| u64::from(r.caplen)).sum::<u64>();
            }
        }
        s.input_bytes_total = self.total;
        s
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        let mut w = std::mem::take(&mut self.warnings);
        for input in &mut self.inputs {
            if let State::Open(c) = &mut input.state {
                w.append(&mut c.src.take_warnings());
            }
        }
        w
    }

    fn files(&self) -> Vec<String> {
        self.inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect()
    }
}
