//! The file reader through its public API: formats, compression, merging, robustness.

mod common;
mod compressed;
mod formats;
mod merge;
mod robustness;
