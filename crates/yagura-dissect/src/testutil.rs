//! Test helpers: a sink that records events, hex decoding, one parse call.

use yagura_core::{Direction, PduEvent};

use crate::{Dissector, Parsed, PduSink};

/// Records events (or only counts when `events` is false).
#[derive(Default)]
pub(crate) struct VecSink {
    pub events: Vec<PduEvent>,
    pub counted: Vec<(&'static str, u32)>,
    /// Every count, whole.
    pub counted_full: Vec<crate::PduCount>,
    pub count_only: bool,
    /// Identity facts reported, in order.
    pub facts: Vec<yagura_core::IdentityFact>,
    /// A fact memo offered to the dissectors, as the engine does (none by default).
    pub memo: Option<crate::memo::FactMemo>,
    /// A tally offered to the dissectors ([`PduSink::tally`]), as the engine does (none by
    /// default: every count is then recorded).
    pub tally: Option<crate::Tally>,
    /// Observables reported ([`PduSink::observable`]), in order.
    pub observables: Vec<(yagura_core::ObservableKind, String)>,
}

impl VecSink {
    pub fn counting() -> VecSink {
        VecSink {
            count_only: true,
            ..VecSink::default()
        }
    }

    /// Counts only, into a tally as the engine's sink does (operational requests, which
    /// come as events, are still recorded one by one: see [`VecSink::total`]).
    pub fn tallying() -> VecSink {
        VecSink {
            tally: Some(crate::Tally::default()),
            ..VecSink::counting()
        }
    }

    /// Everything counted, summed: the tally, plus the counts recorded one by one.
    pub fn total(&self) -> crate::Tally {
        let mut t = self.tally.unwrap_or_default();
        for c in &self.counted_full {
            t.add(*c, 1);
        }
        t
    }

    /// Counts only, and offers a fact memo.
    pub fn memoising() -> VecSink {
        VecSink {
            memo: Some(crate::memo::FactMemo::default()),
            ..VecSink::counting()
        }
    }

    /// The value of field `name` in event `i`, as u64.
    pub fn field(&self, i: usize, name: &str) -> Option<u64> {
        self.events[i]
            .fields
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| match v {
                yagura_core::FieldValue::U64(x) => Some(*x),
                _ => None,
            })
    }
}

/// The identity facts that `flow` reports (one flow's worth of messages, with a dissector
/// of its own) when run twice, as two flows, into each of the three sinks the engine may
/// offer: wanting events, only counting, and counting with a fact memo (which answers the
/// second flow without parsing). One list of facts per sink, in that order, for the
/// memoised dissectors' tests to compare.
pub(crate) fn facts_in_three_sinks(
    mut flow: impl FnMut(&mut VecSink),
) -> Vec<Vec<yagura_core::IdentityFact>> {
    [
        VecSink::default(),
        VecSink::counting(),
        VecSink::memoising(),
    ]
    .into_iter()
    .map(|mut s| {
        flow(&mut s);
        flow(&mut s);
        s.facts
    })
    .collect()
}

/// Counts as the events would give them: what [`PduCount`](crate::PduCount) keeps (to tie a
/// dissector's counting path to its event path).
pub(crate) fn as_counts(events: &[PduEvent]) -> Vec<crate::PduCount> {
    events
        .iter()
        .map(|e| crate::PduCount {
            protocol: e.protocol,
            operation: e.operation,
            response: e.response,
            anomalies: e.anomalies.len() as u32,
        })
        .collect()
}

impl PduSink for VecSink {
    fn pdu(&mut self, pdu: PduEvent) {
        if self.count_only {
            // The one exception to counting (see `PduSink::pdu_count`): an operational
            // request comes whole, and counts as the count it stands for.
            assert!(
                !pdu.response && pdu.operation.is_operational(),
                "pdu() called although wants_events() is false ({} {:?})",
                pdu.protocol,
                pdu.function_name
            );
            let c = as_counts(std::slice::from_ref(&pdu))[0];
            self.counted.push((c.protocol, c.anomalies));
            self.counted_full.push(c);
            return;
        }
        self.events.push(pdu);
    }
    fn wants_events(&self) -> bool {
        !self.count_only
    }
    fn pdu_count(&mut self, c: crate::PduCount) {
        assert!(
            c.response || !c.operation.is_operational(),
            "an operational request ({} {:?}) was only counted: it must come as an event",
            c.protocol,
            c.operation
        );
        self.counted.push((c.protocol, c.anomalies));
        self.counted_full.push(c);
    }
    fn identity(&mut self, fact: yagura_core::IdentityFact) {
        self.facts.push(fact);
    }
    fn fact_memo(&mut self) -> Option<&mut crate::memo::FactMemo> {
        self.memo.as_mut()
    }
    fn tally(&mut self) -> Option<&mut crate::Tally> {
        self.tally.as_mut()
    }
    fn wants_observables(&self) -> bool {
        true
    }
    fn observable(&mut self, kind: yagura_core::ObservableKind, value: &str) {
        self.observables.push((kind, value.to_owned()));
    }
}

impl VecSink {
    /// The facts reported, as `(attribute id, value)` pairs.
    pub fn fact_pairs(&self) -> Vec<(&'static str, &str)> {
        self.facts
            .iter()
            .map(|f| (f.attribute.name(), f.value.as_str()))
            .collect()
    }
}

/// Decode a hex string (test data cut from captures with `tshark -T fields -e tcp.payload`).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// One `parse` call of `d` on `b` travelling in `dir`, with a sink that records events.
pub(crate) fn run(d: &mut dyn Dissector, b: &[u8], dir: Direction) -> (Parsed, VecSink) {
    let mut s = VecSink::default();
    let p = d.parse(b, dir, &mut s);
    (p, s)
}
