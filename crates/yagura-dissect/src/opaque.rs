//! The dissector of protocols that are recognised but not dissected yet.

use yagura_core::Direction;

use crate::{Dissector, Parsed, PduSink, ProtocolId};

/// Consumes every byte of a flow labelled `ID` and emits nothing. Zero-sized: boxing it does
/// not allocate. Its flows still carry their protocol label in reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opaque<const ID: u8>;

impl<const ID: u8> Dissector for Opaque<ID> {
    fn protocol(&self) -> ProtocolId {
        ProtocolId(ID)
    }
    fn parse(&mut self, data: &[u8], _dir: Direction, _sink: &mut dyn PduSink) -> Parsed {
        Parsed::done(data.len())
    }
}
