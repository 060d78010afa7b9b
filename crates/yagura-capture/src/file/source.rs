//! One capture file as a [`PacketSource`]: memory-mapped when it is a plain regular file,
//! otherwise (compressed, a pipe, or mmap turned off) read by streaming into heap chunks.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::OpenOptions;
use super::format::{Compression, Container, magic_hex};
use super::parse::{Parser, Stop};
use crate::batch::SpareRecords;
use crate::{
    Backing, CaptureError, PacketBatch, PacketSource, RecordMeta, Router, SourceStats, Warning,
};

/// Bytes looked at to recognise the (decompressed) input.
const SNIFF_LEN: usize = 12;

/// Upper bound on the records vector reserved per batch when the caller asks for a huge
/// `max`; it still grows past this if the input really has that many records.
const MAX_RESERVE: usize = 1 << 16;

/// A single capture file (or in-memory capture) read record by record.
pub struct FileSource {
    path: PathBuf,
    input: Input,
    /// The memory records are parsed from: the whole file, or the current chunk.
    chunk: Arc<Backing>,
    /// Parse position in `chunk`.
    pos: usize,
    /// Input offset (decompressed, for compressed files) of `chunk[0]`.
    base: u64,
    parser: Parser,
    next_index: u64,
    packets: u64,
    bytes: u64,
    total: Option<u64>,
    warnings: Vec<Warning>,
    pending_error: Option<CaptureError>,
    done: bool,
    /// Bytes of a memory-mapped file already handed back to the kernel (see
    /// [`FileSource::release_behind`]).
    released: usize,
    /// Record buffers handed back by the consumer.
    spare: SpareRecords,
    /// The consumer's packet classifier, run as records are parsed.
    router: Option<Router>,
}

/// How far behind the parse position mapped pages are kept resident: more than the batches
/// the engine can have in flight (at most 16 batches of 2,048 records, about 5 MiB on the
/// benchmark capture), so released pages are practically never touched again (and if they
/// are, they fault back in from the page cache).
const RELEASE_LAG: usize = 8 << 20;
/// Release in steps of this size, to keep the madvise calls rare: each one unmaps pages,
/// which with several worker threads interrupts every other core to flush its TLB (16 MiB
/// steps made two threads 3-5 % faster than 4 MiB steps on the benchmark capture; peak
/// resident memory grows by about 4 MiB, the lag shrinking by as much as the step grew).
const RELEASE_STEP: usize = 16 << 20;

enum Input {
    /// `chunk` is the whole input.
    Whole,
    Stream(Stream),
}

struct Stream {
    reader: Box<dyn Read + Send>,
    /// Raw (compressed) bytes pulled from the file so far.
    consumed: Arc<AtomicU64>,
    chunk_size: usize,
    compression: Compression,
    eof: bool,
    /// A read error met while filling a chunk; reported once the bytes read before it are
    /// parsed.
    error: Option<io::Error>,
}

/// Counts the bytes read through it, for progress on compressed input.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl FileSource {
    /// Opens one capture file, recognising its format by its first bytes.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<FileSource, CaptureError> {
        let io_err = |source| CaptureError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).map_err(io_err)?;
        let head = &head[..n];
        let compression = Compression::sniff(head);
        let total = meta.is_file().then_some(meta.len());

        if compression == Compression::None && meta.is_file() && opts.mmap {
            let Some(container) = Container::sniff(head) else {
                return Err(CaptureError::UnknownFormat {
                    path: path.to_owned(),
                    magic: magic_hex(head),
                });
            };
            // SAFETY: mapping a file is sound as long as nobody changes it while it is mapped.
            // We cannot prevent another process from truncating or rewriting the capture
            // while we read it: a truncation makes later reads of the vanished pages raise
            // SIGBUS, and a rewrite changes bytes under our feet (which the parser tolerates,
            // as it bounds-checks everything it reads). This is the standard trade-off every
            // mmap-based reader (libpcap included) makes for zero-copy reads of large files;
            // analysing a capture that is still being written should go through a pipe.
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
            // Only a hint for read-ahead; failure changes nothing.
            let _ = map.advise(memmap2::Advice::Sequential);
            tracing::debug!(path = %path.display(), bytes = map.len(), "capture memory-mapped");
            return Ok(FileSource::whole(
                path.to_owned(),
                Backing::Mmap(map),
                container,
                total,
            ));
        }

        // Streaming: the magic bytes already read are put back in front of the file, which
        // may be a pipe we cannot seek.
        let raw = io::Cursor::new(head.to_vec()).chain(file);
        tracing::debug!(path = %path.display(), compression = compression.name(), "capture streamed");
        FileSource::stream(path.to_owned(), raw, compression, total, opts)
    }

    /// A capture held in memory (plain or compressed); `label` names it in messages.
    pub fn from_bytes(
        label: impl Into<PathBuf>,
        bytes: Vec<u8>,
        opts: &OpenOptions,
    ) -> Result<FileSource, CaptureError> {
        let path = label.into();
        let total = Some(bytes.len() as u64);
        let compression = Compression::sniff(&bytes);
        if compression == Compression::None && opts.mmap {
            let Some(container) = Container::sniff(&bytes) else {
                return Err(CaptureError::UnknownFormat {
                    path,
                    magic: magic_hex(&bytes),
                });
            };
            return Ok(FileSource::whole(
                path,
                Backing::Heap(bytes),
                container,
                total,
            ));
        }
        FileSource::stream(path, io::Cursor::new(bytes), compression, total, opts)
    }

    fn whole(
        path: PathBuf,
        backing: Backing,
        container: Container,
        total: Option<u64>,
    ) -> FileSource {
        FileSource {
            spare: SpareRecords::default(),
            router: None,
            path,
            input: Input::Whole,
            chunk: Arc::new(backing),
            pos: 0,
            base: 0,
            parser: Parser::new(container),
            next_index: 0,
            packets: 0,
            bytes: 0,
            total,
            warnings: Vec::new(),
            pending_error: None,
            done: false,
            released: 0,
        }
    }

    fn stream<R: Read + Send + 'static>(
        path: PathBuf,
        raw: R,
        compression: Compression,
        total: Option<u64>,
        opts: &OpenOptions,
    ) -> Result<FileSource, CaptureError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: raw,
            count: Arc::clone(&consumed),
        };
        // Both decoders buffer their input internally, so `counted` is read in large blocks.
        // MultiGzDecoder, like zcat, reads concatenated gzip members as one stream; the zstd
        // decoder reads consecutive frames.
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(counted),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(counted).map_err(|source| {
                    CaptureError::Io {
                        path: path.clone(),
                        source,
                    }
                })?)
            }
        };
        let mut src = FileSource {
            spare: SpareRecords::default(),
            router: None,
            path,
            input: Input::Stream(Stream {
                reader,
                consumed,
                chunk_size: opts.chunk_size.max(1),
                compression,
                eof: false,
                error: None,
            }),
            chunk: Arc::new(Backing::Heap(Vec::new())),
            pos: 0,
            base: 0,
            // Replaced below once the first bytes are known.
            parser: Parser::new(Container::Pcapng),
            next_index: 0,
            packets: 0,
            bytes: 0,
            total,
            warnings: Vec::new(),
            pending_error: None,
            done: false,
            released: 0,
        };
        // Fill the first chunk (at least the sniffing window) to recognise the container.
        src.refill(SNIFF_LEN)?;
        let head = &src.chunk[..src.chunk.len().min(SNIFF_LEN)];
        match Container::sniff(head) {
            Some(container) => src.parser = Parser::new(container),
            None => {
                if let Input::Stream(s) = &mut src.input
                    && let Some(e) = s.error.take()
                {
                    return Err(src.stream_error(e));
                }
                let magic = match compression {
                    Compression::None => magic_hex(head),
                    c => format!("{} data starting {}", c.name(), magic_hex(head)),
                };
                return Err(CaptureError::UnknownFormat {
                    path: src.path,
                    magic,
                });
            }
        }
        Ok(src)
    }

    /// Tell the kernel it may drop the mapped pages well behind the parse position, so a
    /// long capture read through mmap does not accumulate in the process's resident memory
    /// (file-backed pages count towards it). Nothing is lost: those pages are clean copies of
    /// the file, re-read from the page cache if anyone touches them again.
    fn release_behind(&mut self) {
        let Backing::Mmap(map) = &*self.chunk else {
            return;
        };
        let upto = self.pos.saturating_sub(RELEASE_LAG) & !(4095);
        if upto < self.released + RELEASE_STEP {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only, file-backed shared mapping only drops clean
        // page-cache references from this process; a later access faults the same file bytes
        // back in. It never changes what any slice into the mapping reads (that would only be
        // so for private writable or anonymous mappings, which this is not).
        #[allow(unsafe_code)]
        let r = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                self.released,
                upto - self.released,
            )
        };
        if r.is_ok() {
            self.released = upto;
        }
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this source holds a file descriptor and a heap chunk (rather than a mapping).
    pub(crate) fn is_streaming(&self) -> bool {
        matches!(self.input, Input::Stream(_))
    }

    /// Replaces `chunk` by one holding the unparsed bytes from `pos` followed by newly read
    /// input, at least `needed` bytes in all if the input has them. Returns whether any new
    /// byte was read.
    fn refill(&mut self, needed: usize) -> Result<bool, CaptureError> {
        let Input::Stream(s) = &mut self.input else {
            return Ok(false);
        };
        if s.eof {
            return Ok(false);
        }
        let target = s.chunk_size.max(needed);
        let tail = self.chunk.len() - self.pos;
        // Reuse the old chunk's allocation when no batch holds it any more.
        let mut buf = match Arc::get_mut(&mut self.chunk) {
            Some(Backing::Heap(v)) => {
                let mut v = std::mem::take(v);
                v.copy_within(self.pos.., 0);
                v.truncate(tail);
                v
            }
            _ => {
                let mut v = Vec::with_capacity(target);
                v.extend_from_slice(&self.chunk[self.pos..]);
                v
            }
        };
        buf.reserve(target.saturating_sub(buf.len()));
        let want = target.saturating_sub(buf.len()) as u64;
        let got = match (&mut s.reader).take(want).read_to_end(&mut buf) {
            Ok(n) => {
                if (n as u64) < want {
                    s.eof = true;
                }
                n
            }
            Err(e) => {
                // Whatever was read before the error is in `buf` and is parsed first.
                s.eof = true;
                s.error = Some(e);
                buf.len() - tail
            }
        };
        self.base += self.pos as u64;
        self.pos = 0;
        self.chunk = Arc::new(Backing::Heap(buf));
        Ok(got > 0)
    }

    /// The error for a failed read of the (decompressed) stream.
    fn stream_error(&self, e: io::Error) -> CaptureError {
        let compression = match &self.input {
            Input::Stream(s) => s.compression,
            Input::Whole => Compression::None,
        };
        match compression {
            Compression::None => CaptureError::Io {
                path: self.path.clone(),
                source: e,
            },
            c => CaptureError::Corrupt {
                path: self.path.clone(),
                offset: self.base + self.chunk.len() as u64,
                reason: format!("{} stream cannot be decompressed: {e}", c.name()),
            },
        }
    }

    /// The input ended with `needed` bytes wanted at `pos`: a truncated last record (a
    /// warning), or the end of a stream that failed (an error).
    fn finish(&mut self, needed: usize, what: &str) {
        self.done = true;
        if let Input::Stream(s) = &mut self.input
            && let Some(e) = s.error.take()
        {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                // A compressed file cut short, as a truncated download is: keep what was read.
                let offset = self.base + self.chunk.len() as u64;
                self.warn(offset, format!("compressed stream ends early ({e})"));
            } else {
                self.pending_error = Some(self.stream_error(e));
                return;
            }
        }
        let present = self.chunk.len() - self.pos;
        if present > 0 {
            let offset = self.base + self.pos as u64;
            self.warn(
                offset,
                format!(
                    "file ends inside a {what}: {present} of {needed} bytes present; the incomplete {what} is ignored"
                ),
            );
        }
    }

    fn warn(&mut self, offset: u64, message: String) {
        tracing::debug!(path = %self.path.display(), offset, %message, "capture warning");
        self.warnings.push(Warning {
            path: self.path.clone(),
            offset,
            message,
        });
    }

    fn take_parser_notes(&mut self) {
        for (at, message) in self.parser.take_notes() {
            let offset = self.base + at as u64;
            self.warn(offset, message);
        }
    }

    fn reserve_hint(&self, max: usize) -> usize {
        let remaining = match self.input {
            // The smallest record is a 16-byte header.
            Input::Whole => (self.chunk.len() - self.pos) / 16 + 1,
            Input::Stream(_) => MAX_RESERVE,
        };
        max.min(remaining).min(MAX_RESERVE)
    }
}

impl PacketSource for FileSource {
    fn recycle(&mut self, batch: PacketBatch) {
        self.spare.put(batch);
    }

    /// Only before the first record is delivered (earlier records would have no route).
    fn set_router(&mut self, router: Router) -> bool {
        if self.next_index > 0 {
            return false;
        }
        self.router = Some(router);
        true
    }

    /// Batches of up to `max` records (`max` 0 is taken as 1). Records parsed before a
    /// corruption are delivered first; the error comes with the next call.
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        if self.done {
            return match self.pending_error.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let max = max.max(1);
        let mut batch = PacketBatch {
            backings: Vec::new(),
            records: self.spare.take(self.reserve_hint(max)),
            first_index: self.next_index,
        };
        // Each pass parses one chunk; a batch spans chunks (one backing each).
        while batch.backings.len() < usize::from(u16::MAX) {
            let before = batch.records.len();
            let backing = batch.backings.len() as u16;
            let result = self.parser.parse(
                &self.chunk,
                &mut self.pos,
                &mut batch.records,
                max,
                backing,
                self.router,
            );
            if batch.records.len() > before {
                batch.backings.push(Arc::clone(&self.chunk));
            }
            if self.parser.has_notes() {
                self.take_parser_notes();
            }
            match result {
                Ok(Stop::Full) => break,
                Ok(Stop::NeedMore { needed, what }) => match self.refill(needed) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.finish(needed, what);
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        self.pending_error = Some(e);
                        break;
                    }
                },
                Err(bad) => {
                    self.done = true;
                    self.pending_error = Some(CaptureError::Corrupt {
                        path: self.path.clone(),
                        offset: self.base + bad.at as u64,
                        reason: bad.reason,
                    });
                    break;
                }
            }
        }
        if batch.records.is_empty() {
            self.done = true;
            return match self.pending_error.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        self.release_behind();
        self.next_index += batch.records.len() as u64;
        self.packets += batch.records.len() as u64;
        self.bytes += batch
            .records
            .iter()
            .map(|r: &RecordMeta| u64::from(r.caplen))
            .sum::<u64>();
        Ok(Some(batch))
    }

    fn stats(&self) -> SourceStats {
        let input_bytes_read = match &self.input {
            Input::Stream(s) => s.consumed.load(Ordering::Relaxed),
            Input::Whole if self.done => self.chunk.len() as u64,
            Input::Whole => self.pos as u64,
        };
        SourceStats {
            packets: self.packets,
            bytes: self.bytes,
            input_bytes_read,
            input_bytes_total: self.total,
            ..SourceStats::default()
        }
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    fn files(&self) -> Vec<String> {
        vec![self.path.display().to_string()]
    }
}
