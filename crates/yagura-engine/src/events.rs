//! `--events` output: one JSON object per application PDU.
//!
//! Each worker writes its events, tagged with the index of the packet that completed the
//! PDU, to a private spill file; at the end the files are merged by packet index. Within one
//! worker the indices only grow, and a packet belongs to exactly one worker, so the merged
//! stream is in input order and identical whatever the number of workers.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use yagura_core::{PduEvent, Timestamp, Transport, to_ip};

/// Version of the event line format, documented in docs/events.md (lines stay small, so the
/// version is not repeated in each of them).
pub const EVENTS_SCHEMA: &str = "yagura.events/1";

/// Where a PDU was seen: the packet and the flow's endpoints, oriented by direction.
#[derive(Debug, Clone, Copy)]
pub struct EventCtx {
    pub ts: Timestamp,
    pub index: u64,
    pub flow_id: u64,
    pub src: ([u8; 16], u16),
    pub dst: ([u8; 16], u16),
    pub transport: Transport,
    pub vlan: u16,
}

struct Line<'a> {
    ctx: &'a EventCtx,
    pdu: &'a PduEvent,
    /// Write the packet's frame number (file input; live packets have no stable number).
    frames: bool,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, p) = (self.ctx, self.pdu);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &c.ts.to_rfc3339_micros())?;
        if self.frames {
            m.serialize_entry("packet", &(c.index + 1))?;
        }
        m.serialize_entry("flow", &c.flow_id)?;
        m.serialize_entry("src", &to_ip(&c.src.0))?;
        m.serialize_entry("src_port", &c.src.1)?;
        m.serialize_entry("dst", &to_ip(&c.dst.0))?;
        m.serialize_entry("dst_port", &c.dst.1)?;
        m.serialize_entry("transport", &c.transport)?;
        if c.vlan != 0 {
            m.serialize_entry("vlan", &c.vlan)?;
        }
        m.serialize_entry("protocol", p.protocol)?;
        m.serialize_entry("direction", if p.response { "response" } else { "request" })?;
        m.serialize_entry("function", &p.function)?;
        m.serialize_entry("function_name", &p.function_name)?;
        m.serialize_entry("operation", &p.operation)?;
        m.serialize_entry("status", &p.status)?;
        m.serialize_entry("length", &p.length)?;
        if !p.anomalies.is_empty() {
            m.serialize_entry("anomalies", &p.anomalies)?;
        }
        for (k, v) in &p.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A worker's spill file of events: records of (packet index, line length, line).
pub struct EventSpill {
    out: BufWriter<File>,
    buf: Vec<u8>,
    count: u64,
    frames: bool,
}

impl EventSpill {
    /// A spill for file input: lines carry the packet's frame number (`packet`, 1-based as
    /// in Wireshark), so that an event can be traced to its packet in the capture.
    pub fn new() -> io::Result<EventSpill> {
        Ok(EventSpill {
            out: BufWriter::with_capacity(1 << 20, tempfile::tempfile()?),
            buf: Vec::with_capacity(512),
            count: 0,
            frames: true,
        })
    }

    /// A spill for live capture: no frame numbers.
    pub fn live() -> io::Result<EventSpill> {
        let mut s = EventSpill::new()?;
        s.frames = false;
        Ok(s)
    }

    /// Append one event.
    pub fn push(&mut self, ctx: &EventCtx, pdu: &PduEvent) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(
            &mut self.buf,
            &Line {
                ctx,
                pdu,
                frames: self.frames,
            },
        )
        .map_err(io::Error::other)?;
        self.out.write_all(&ctx.index.to_le_bytes())?;
        self.out.write_all(&(self.buf.len() as u32).to_le_bytes())?;
        self.out.write_all(&self.buf)?;
        self.count += 1;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Finish writing; the file is rewound for reading.
    fn into_reader(self) -> io::Result<BufReader<File>> {
        use std::io::Seek;
        let mut f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        Ok(BufReader::with_capacity(1 << 20, f))
    }
}

fn read_record(r: &mut impl Read, line: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let mut h = [0u8; 12];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let index = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(h[8..].try_into().expect("4 bytes")) as usize;
    line.resize(len, 0);
    r.read_exact(line)?;
    Ok(Some(index))
}

/// Merge the workers' spills into `out` as JSON lines, in packet order. Returns the count.
pub fn merge_spills(spills: Vec<EventSpill>, out: &mut impl Write) -> io::Result<u64> {
    let mut readers = Vec::with_capacity(spills.len());
    for s in spills {
        readers.push(s.into_reader()?);
    }
    let mut heads: Vec<Option<(u64, Vec<u8>)>> = Vec::with_capacity(readers.len());
    for r in &mut readers {
        let mut line = Vec::new();
        heads.push(read_record(r, &mut line)?.map(|i| (i, line)));
    }
    let mut n = 0;
    loop {
        // Few workers: a linear scan for the smallest head is cheaper than a heap.
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(w, h)| h.as_ref().map(|(i, _)| (*i, w)))
            .min();
        let Some((_, w)) = next else { break };
        let (_, line) = heads[w].take().expect("head present");
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        n += 1;
        let mut buf = line;
        heads[w] = read_record(&mut readers[w], &mut buf)?.map(|i| (i, buf));
    }
    out.flush()?;
    Ok(n)
}
