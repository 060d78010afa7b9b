//! Capture files: pcap (µs, ns and "modified", either byte order) and pcapng, plain or
//! gzip/zstd-compressed, recognised by their magic bytes and never by their names.
//!
//! Plain regular files are memory-mapped and records point into the mapping (zero copy);
//! compressed files are decompressed by streaming into heap chunks (4 MiB by default), a
//! record that straddles two chunks being carried into the next. Several files, or the
//! files found under a directory, are merged in timestamp order.
//!
//! Errors and warnings: a file that cannot be read or is not a capture is an error;
//! corruption inside a file (an impossible length, a packet for an undefined interface) is
//! [`CaptureError::Corrupt`] once the records before it are delivered; a file that simply
//! ends inside its last record or block yields every complete record and a [`Warning`].
//! Their offsets are byte offsets in the file, or in the decompressed stream for a
//! compressed file. No input makes the reader panic, hang, or buffer more than one 16 MiB
//! pcapng block.
//!
//! Every packet record is delivered, whatever its link type. pcapng blocks that carry no
//! packet are skipped: the standard ones silently, any other type with one warning (among
//! them systemd journal export blocks, which `capinfos` would count as records).
//! The format parsers are hand-written rather than built on `pcap-parser`, which allocates
//! per packet block: a pcap record costs a few loads and no allocation.

mod format;
mod merge;
mod parse;
mod pcap;
mod pcapng;
mod source;

use std::path::{Path, PathBuf};

pub use merge::MergedSource;
pub(crate) use parse::prefetch as prefetch_line;
pub use source::FileSource;

use crate::{CaptureError, PacketSource, Warning};

/// Default size of the heap chunks streamed (decompressed) input is read in.
pub const DEFAULT_CHUNK_SIZE: usize = 4 * 1024 * 1024;

/// How capture files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Size of the heap chunks streamed input is read in (grown for a larger record).
    pub chunk_size: usize,
    /// Memory-map uncompressed regular files; `false` streams them in chunks instead.
    pub mmap: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            mmap: true,
        }
    }
}

/// Opens one capture file.
pub fn open_file(path: impl AsRef<Path>) -> Result<FileSource, CaptureError> {
    FileSource::open(path.as_ref(), &OpenOptions::default())
}

/// Opens files and directories (searched recursively) as one source in timestamp order.
pub fn open_paths(paths: &[PathBuf]) -> Result<Box<dyn PacketSource>, CaptureError> {
    open_paths_with(paths, &OpenOptions::default())
}

/// [`open_paths`] with explicit [`OpenOptions`].
///
/// Files under a directory are taken in path order, skipping hidden entries (names starting
/// with `.`), symbolic links to directories (which could loop), and files that are not
/// captures (each with a warning). A file named explicitly must be a capture.
pub fn open_paths_with(
    paths: &[PathBuf],
    opts: &OpenOptions,
) -> Result<Box<dyn PacketSource>, CaptureError> {
    let (files, warnings) = discover(paths)?;
    if let [file] = files.as_slice()
        && warnings.is_empty()
    {
        return Ok(Box::new(FileSource::open(file, opts)?));
    }
    Ok(Box::new(MergedSource::from_files(files, opts, warnings)?))
}

impl MergedSource {
    /// Opens files and directories as one source in timestamp order; see [`open_paths_with`].
    pub fn open(paths: &[PathBuf], opts: &OpenOptions) -> Result<MergedSource, CaptureError> {
        let (files, warnings) = discover(paths)?;
        MergedSource::from_files(files, opts, warnings)
    }
}

/// The capture files named by `paths`, in order, and warnings for what was skipped.
fn discover(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Warning>), CaptureError> {
    if paths.is_empty() {
        return Err(CaptureError::NoFiles {
            path: PathBuf::new(),
        });
    }
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| CaptureError::Io {
            path: path.clone(),
            source,
        })?;
        if !meta.is_dir() {
            // Named explicitly: it must be a capture, which opening it checks.
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        walk(path, &mut found, &mut warnings)?;
        found.sort();
        let before = files.len();
        // Only the first bytes are read (and decompressed) to recognise the format.
        let probe = OpenOptions {
            chunk_size: 16,
            mmap: false,
        };
        for file in found {
            match FileSource::open(&file, &probe) {
                Ok(_) => files.push(file),
                Err(CaptureError::UnknownFormat { magic, .. }) => warnings.push(Warning {
                    path: file,
                    offset: 0,
                    message: format!("skipped: not a capture file (magic bytes {magic})"),
                }),
                Err(e) => return Err(e),
            }
        }
        if files.len() == before {
            return Err(CaptureError::NoFiles { path: path.clone() });
        }
    }
    Ok((files, warnings))
}

/// Collects the regular files under `dir`, recursively.
fn walk(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    warnings: &mut Vec<Warning>,
) -> Result<(), CaptureError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CaptureError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            walk(&path, found, warnings)?;
            continue;
        }
        // Follow a symbolic link to a file, but not to a directory (cycles).
        let meta = if kind.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => continue,
                Ok(m) => m,
                Err(e) => {
                    warnings.push(Warning {
                        path,
                        offset: 0,
                        message: format!("skipped: broken symbolic link ({e})"),
                    });
                    continue;
                }
            }
        } else {
            entry.metadata().map_err(io_err(&path))?
        };
        if meta.is_file() {
            found.push(path);
        } else {
            // A pipe or device found by walking could block or never end.
            warnings.push(Warning {
                path,
                offset: 0,
                message: "skipped: not a regular file".to_owned(),
            });
        }
    }
    Ok(())
}
