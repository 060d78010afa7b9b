use std::path::PathBuf;

/// Why a capture could not be read. Every variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a capture file (magic bytes {magic}); expected pcap, pcapng, or a gzip/zstd-compressed one"
    )]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{path}: corrupt capture at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: no capture files found (looked for files recursively)")]
    NoFiles { path: PathBuf },
    #[error("interface {interface}: {reason}")]
    Live { interface: String, reason: String },
}

/// A non-fatal problem: the input is still analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: at byte {}: {}",
            self.path.display(),
            self.offset,
            self.message
        )
    }
}
