//! Outstanding requests of one flow, so that a response can carry what only its request
//! says (the address and quantity of a read, the UMAS function of a UMAS reply). Bounded: a
//! fixed table of [`SLOTS`] entries, the oldest overwritten when hostile or lossy traffic
//! leaves requests unanswered.

/// Capacity of the table (Modbus clients rarely pipeline more than a few requests).
pub(crate) const SLOTS: usize = 32;

/// What a response may need from its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub tid: u16,
    /// Modbus function code (exception bit clear).
    pub fc: u8,
    /// UMAS function code of an FC 90 request.
    pub umas: Option<u8>,
    pub address: Option<u16>,
    pub quantity: Option<u16>,
    pub read_address: Option<u16>,
    pub read_quantity: Option<u16>,
}

/// The table: a ring of slots, matched by transaction id and function code.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    slots: [Option<Request>; SLOTS],
    next: usize,
}

impl Pending {
    /// Remember a request; a retransmission or a reused transaction id replaces the older one.
    pub fn push(&mut self, r: Request) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|x| x.tid == r.tid && x.fc == r.fc))
        {
            *slot = Some(r);
            return;
        }
        self.slots[self.next] = Some(r);
        self.next = (self.next + 1) % SLOTS;
    }

    /// The request answered by a response with this transaction id and function, removed.
    pub fn take(&mut self, tid: u16, fc: u8) -> Option<Request> {
        self.slots
            .iter_mut()
            .find(|s| s.is_some_and(|x| x.tid == tid && x.fc == fc))
            .and_then(Option::take)
    }

    /// Requests currently remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}
