//! L2–L4 decoding, IP defragmentation, flow tables and bounded TCP reassembly.
//!
//! Its room in the house: the per-packet work below the application layer. Synchronous,
//! no I/O, no allocation per packet on the common path; each worker thread owns one
//! [`flow::FlowTable`], one [`defrag::Defragmenter`] and one
//! [`reassembly::ReassemblyPool`]. Depends only on `yagura-core`.

pub mod decode;
pub mod defrag;
pub mod flow;
pub mod reassembly;
