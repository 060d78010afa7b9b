//! Yagura's shared vocabulary.
//!
//! Its room in the house: the types every other crate speaks (addresses, timestamps, link
//! types, symmetric flow keys, directions, observations). It depends on nothing but serde and
//! does no I/O, so the parsers, the engine and the console can all agree on one meaning.

mod addr;
mod flow;
mod identity;
mod linktype;
mod observable;
mod observation;
mod time;

pub use addr::{IpAddr, MacAddr};
pub use flow::{
    Direction, FlowKey, Transport, flow_hash, flow_hash_v4, from_ip, shard_hash, to_ip, v4_mapped,
};
pub use identity::{Attribute, IdentityFact, Route, Subject, Via};
pub use linktype::LinkType;
pub use observable::ObservableKind;
pub use observation::{FieldValue, OperationClass, OperationSet, PduEvent, PduStatus};
pub use time::Timestamp;
