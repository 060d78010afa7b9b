//! Live capture from a network interface (Linux): AF_PACKET sockets with a TPACKET_V3
//! memory-mapped receive ring, spread over workers by a kernel fanout group.
//!
//! A passive sensor must never transmit on the interface it watches. These sockets have no
//! TX ring and nothing here ever calls `send`/`write` on them; the only things we change on
//! the interface are its promiscuous count (dropped again when the sockets close) and, through
//! the filter, what the kernel hands us.
//!
//! Kernel features used: TPACKET_V3 (Linux 3.2), `PACKET_FANOUT` with
//! `PACKET_FANOUT_FLAG_DEFRAG` (3.1) and a symmetric flow hash (4.x), and where present
//! `PACKET_FANOUT_FLAG_UNIQUEID` (4.3) and `PACKET_IGNORE_OUTGOING` (4.20).
//!
//! Choices worth knowing:
//! - Packets the host itself sends on the interface are left out (`PACKET_IGNORE_OUTGOING`,
//!   and a user-space check on older kernels). On a mirror port the host should send nothing;
//!   if it does (a management address, IPv6 autoconfiguration), that traffic is not part of
//!   what the sensor monitors, and on `lo` every packet is then counted once instead of twice.
//! - Packets the NIC stripped a VLAN tag from get the tag back (as libpcap does), so what we
//!   deliver is what was on the wire.
//! - With several workers the kernel reassembles IPv4 fragments before hashing
//!   (`PACKET_FANOUT_FLAG_DEFRAG`), so fragments of one datagram reach one worker already
//!   reassembled.
//! - Turn off GRO/LRO on a capture NIC (`ethtool -K IF gro off lro off`): otherwise the
//!   kernel merges TCP segments and we see super-packets larger than the MTU.

// This module maps the kernel's ring and calls socket system calls; each block says why it
// is sound, and clippy checks that it says so.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod block;
mod bpf;
mod sys;

use std::cell::Cell;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libc::c_int;
use yagura_core::LinkType;

use crate::{Backing, CaptureError, PacketBatch, PacketSource, RecordMeta, SourceStats, Warning};

/// The largest snap length libpcap accepts (`MAXIMUM_SNAPLEN`).
const MAX_SNAPLEN: u32 = 262_144;
/// Most sockets one fanout group takes on older kernels (`PACKET_FANOUT_MAX`).
const MAX_WORKERS: usize = 256;
/// `tp_frame_size` only has to pass the kernel's checks in V3 (packets are packed into
/// blocks whatever their size); it must be a multiple of 16 and hold a packet header.
const FRAME_SIZE: u32 = 2048;
/// Headroom a block needs beyond `snaplen`: block descriptor, packet header, `sockaddr_ll`
/// and alignment (about 130 bytes in practice).
const BLOCK_OVERHEAD: u32 = 256;
/// The kernel's packet counters are 32-bit and reset when read; read them at least this
/// often so that they cannot wrap.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// `ARPHRD_RAWIP` (linux/if_arp.h), missing from `libc`: raw IP with no link header.
const ARPHRD_RAWIP: u16 = 519;

/// How to open a live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// Interface to capture on, e.g. `eth1`.
    pub interface: String,
    /// A tcpdump-style (BPF) filter expression; `None` keeps every packet.
    pub filter: Option<String>,
    /// Number of sockets (one per worker thread) sharing the traffic by flow.
    pub workers: usize,
    /// Bytes kept per packet (at most 262144).
    pub snaplen: u32,
    /// Bytes per ring block: a multiple of the page size, ideally a power of two.
    pub block_size: u32,
    /// Blocks per socket's ring (ring size = `block_size * block_count`).
    pub block_count: u32,
    /// How long `next_batch` waits for packets, and how long a partly filled block may wait
    /// before the kernel hands it over.
    pub poll_timeout_ms: u32,
    /// Put the interface in promiscuous mode (needed on a mirror port).
    pub promiscuous: bool,
}

impl Default for LiveConfig {
    /// One worker, full packets, a 64 MiB ring per socket (1 MiB × 64), 100 ms timeout,
    /// promiscuous.
    fn default() -> LiveConfig {
        LiveConfig {
            interface: String::new(),
            filter: None,
            workers: 1,
            snaplen: MAX_SNAPLEN,
            block_size: 1 << 20,
            block_count: 64,
            poll_timeout_ms: 100,
            promiscuous: true,
        }
    }
}

impl LiveConfig {
    /// A default configuration for `interface`.
    pub fn new(interface: impl Into<String>) -> LiveConfig {
        LiveConfig {
            interface: interface.into(),
            ..LiveConfig::default()
        }
    }

    /// Checks the numbers; the message says which one is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        let page = page_size();
        if self.interface.is_empty()
            || self.interface.len() >= libc::IFNAMSIZ
            || self.interface.contains('\0')
        {
            return Err(format!(
                "not a valid interface name (1 to {} bytes)",
                libc::IFNAMSIZ - 1
            ));
        }
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(format!(
                "workers must be between 1 and {MAX_WORKERS}, not {}",
                self.workers
            ));
        }
        if !(1..=MAX_SNAPLEN).contains(&self.snaplen) {
            return Err(format!(
                "snaplen must be between 1 and {MAX_SNAPLEN}, not {}",
                self.snaplen
            ));
        }
        if self.block_size == 0 || !self.block_size.is_multiple_of(page) {
            return Err(format!(
                "block_size must be a non-zero multiple of the page size ({page}), not {}",
                self.block_size
            ));
        }
        if self.block_size < self.snaplen.saturating_add(BLOCK_OVERHEAD) {
            return Err(format!(
                "block_size {} cannot hold a whole packet of snaplen {}; use at least {} (rounded up to a page)",
                self.block_size,
                self.snaplen,
                self.snaplen + BLOCK_OVERHEAD
            ));
        }
        if self.block_count == 0 {
            return Err("block_count must be at least 1 (8 or more is advisable)".into());
        }
        let frames = u64::from(self.block_size / FRAME_SIZE) * u64::from(self.block_count);
        let ring = u64::from(self.block_size) * u64::from(self.block_count);
        if frames > u64::from(u32::MAX)
            || ring > u64::from(u32::MAX)
            || usize::try_from(ring).is_err()
        {
            return Err(format!(
                "a ring of {ring} bytes per socket is too large (4 GiB at most)"
            ));
        }
        if self.poll_timeout_ms == 0 || self.poll_timeout_ms > c_int::MAX as u32 {
            return Err("poll_timeout_ms must be at least 1".into());
        }
        Ok(())
    }
}

/// Whether an interface called `name` exists (in this network namespace).
pub fn interface_exists(name: &str) -> bool {
    sys::if_index(name).is_some()
}

/// One capture socket: a worker's share of the interface's traffic.
pub struct LiveSource {
    // Declared before `fd` so the ring is unmapped before the socket closes.
    ring: sys::Ring,
    fd: OwnedFd,
    interface: String,
    ifindex: u32,
    worker: usize,
    link: LinkType,
    poll_timeout_ms: c_int,
    stop: Arc<AtomicBool>,
    /// The block the kernel fills next (blocks are handed over in ring order).
    cursor: usize,
    /// Records of the last copied block not yet delivered (a block can hold more than `max`).
    pending: Option<Arc<Backing>>,
    pending_records: Vec<RecordMeta>,
    pending_pos: usize,
    next_index: u64,
    packets: u64,
    bytes: u64,
    // `stats(&self)` reads the kernel's counters, which reset on read: keep the sums here.
    kernel_drops: Cell<u64>,
    ring_full: Cell<u64>,
    last_stats: Instant,
    link_down: bool,
    warnings: Vec<Warning>,
}

/// Opens `cfg.workers` capture sockets on `cfg.interface`, joined in one fanout group so that
/// both directions of a flow reach the same socket. Needs root or `CAP_NET_RAW`.
pub fn open_live(cfg: &LiveConfig) -> Result<Vec<LiveSource>, CaptureError> {
    let fail = |reason: String| CaptureError::Live {
        interface: cfg.interface.clone(),
        reason,
    };
    let os_fail = |what: &str, e: io::Error| fail(format!("{what}: {e}"));

    // Everything that needs no privilege first, so that a typo is reported as such.
    cfg.validate().map_err(fail)?;
    let ifindex = sys::if_index(&cfg.interface)
        .ok_or_else(|| fail("no such interface (list them with `ip link`)".into()))?;
    let hw =
        sys::hw_type(&cfg.interface).map_err(|e| os_fail("cannot read the hardware type", e))?;
    let (link, dlt) = link_type_of(hw).ok_or_else(|| {
        fail(format!(
            "unsupported hardware type ARPHRD {hw}; live capture supports Ethernet, loopback and raw-IP interfaces"
        ))
    })?;
    let program = match cfg.filter.as_deref() {
        Some(expr) => bpf::compile(expr, dlt, cfg.snaplen)
            .map_err(|e| fail(format!("invalid capture filter {expr:?}: {e}")))?,
        None => bpf::accept_all(cfg.snaplen),
    };

    let mut sockets = Vec::with_capacity(cfg.workers);
    for _ in 0..cfg.workers {
        sockets.push(open_socket(cfg, ifindex).map_err(fail)?);
    }
    if cfg.workers > 1 {
        join_fanout(&sockets).map_err(|e| {
            if sys::is_up(&cfg.interface).ok() == Some(false) {
                fail(format!(
                    "the interface is down, and several workers can only share it while it is up; bring it up (`ip link set {} up`) or use one worker",
                    cfg.interface
                ))
            } else {
                os_fail("cannot join the sockets in a fanout group", e)
            }
        })?;
    }
    // Every socket was created with a drop-all filter, so nothing unfiltered reached a ring;
    // hand back anything that is there anyway, then let the real filter through.
    let prog = sock_fprog(&program);
    for (fd, ring) in &sockets {
        for i in 0..ring.blocks() {
            if ring.is_ready(i) {
                ring.release(i);
            }
        }
        sys::set_opt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
            .map_err(|e| os_fail("cannot attach the capture filter", e))?;
    }
    if sys::is_up(&cfg.interface).ok() == Some(false) {
        tracing::warn!(interface = %cfg.interface, "interface is down; capture starts when it comes up");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let poll_timeout_ms = cfg.poll_timeout_ms as c_int;
    Ok(sockets
        .into_iter()
        .enumerate()
        .map(|(worker, (fd, ring))| LiveSource {
            ring,
            fd,
            interface: cfg.interface.clone(),
            ifindex,
            worker,
            link,
            poll_timeout_ms,
            stop: Arc::clone(&stop),
            cursor: 0,
            pending: None,
            pending_records: Vec::new(),
            pending_pos: 0,
            next_index: 0,
            packets: 0,
            bytes: 0,
            kernel_drops: Cell::new(0),
            ring_full: Cell::new(0),
            last_stats: Instant::now(),
            link_down: false,
            warnings: Vec::new(),
        })
        .collect())
}

/// The link type of packets from an ARPHRD hardware type, and the matching libpcap DLT.
fn link_type_of(hw: u16) -> Option<(LinkType, c_int)> {
    // DLT values differ from LINKTYPE values for raw IP (DLT_RAW is 12 on Linux).
    match hw {
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some((LinkType::ETHERNET, 1)),
        libc::ARPHRD_NONE | ARPHRD_RAWIP => Some((LinkType::RAW, 12)),
        libc::ARPHRD_IEEE80211_RADIOTAP => Some((LinkType::IEEE802_11_RADIOTAP, 127)),
        _ => None,
    }
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

fn sock_fprog(program: &[libc::sock_filter]) -> libc::sock_fprog {
    libc::sock_fprog {
        // `bpf::compile` caps programs at 4096 instructions.
        len: program.len() as u16,
        // The kernel only reads (and copies) the program.
        filter: program.as_ptr().cast_mut(),
    }
}

/// One socket, bound and with its ring mapped, still behind a drop-all filter.
fn open_socket(cfg: &LiveConfig, ifindex: u32) -> Result<(OwnedFd, sys::Ring), String> {
    let fd = sys::packet_socket().map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => format!(
            "permission denied: live capture needs root or the CAP_NET_RAW capability (e.g. `sudo setcap cap_net_raw,cap_net_admin=eip $(which yagura)`) ({e})"
        ),
        _ => format!("cannot open an AF_PACKET socket: {e}"),
    })?;
    let opt = |level, name, what: &str, val: &c_int| {
        sys::set_opt(&fd, level, name, val).map_err(|e| format!("cannot set {what}: {e}"))
    };

    // The socket was opened with protocol 0, so it receives nothing before `bind`; from then
    // on it is filtered. Start with a filter that drops everything, so that no packet lands
    // before every socket of the group is ready and the real filter replaces it.
    let drop_all = bpf::drop_all();
    sys::set_opt(
        &fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &sock_fprog(&drop_all),
    )
    .map_err(|e| format!("cannot attach a filter: {e}"))?;
    opt(
        libc::SOL_PACKET,
        libc::PACKET_VERSION,
        "TPACKET_V3",
        &(libc::tpacket_versions::TPACKET_V3 as c_int),
    )?;
    match sys::set_opt(
        &fd,
        libc::SOL_PACKET,
        libc::PACKET_IGNORE_OUTGOING,
        &1 as &c_int,
    ) {
        Ok(()) => {}
        // Before Linux 4.20: `block::parse_block` skips outgoing packets instead.
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            tracing::debug!(
                "PACKET_IGNORE_OUTGOING unsupported; filtering outgoing packets in user space"
            )
        }
        Err(e) => return Err(format!("cannot set PACKET_IGNORE_OUTGOING: {e}")),
    }
    // With a mapped ring the ring is the buffer; the socket buffer only matters for what the
    // kernel queues outside it. Ask for a block's worth (forced past `rmem_max` with
    // CAP_NET_ADMIN, else capped silently); failure is harmless.
    let rcvbuf = cfg.block_size.min(c_int::MAX as u32) as c_int;
    if sys::set_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &rcvbuf).is_err() {
        let _ = sys::set_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf);
    }

    let req = libc::tpacket_req3 {
        tp_block_size: cfg.block_size,
        tp_block_nr: cfg.block_count,
        tp_frame_size: FRAME_SIZE,
        tp_frame_nr: (cfg.block_size / FRAME_SIZE) * cfg.block_count,
        tp_retire_blk_tov: cfg.poll_timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    let mib = (u64::from(cfg.block_size) * u64::from(cfg.block_count)) >> 20;
    sys::set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(|e| {
        format!("cannot create a {mib} MiB receive ring (try a smaller block_count): {e}")
    })?;
    let ring = sys::Ring::map(&fd, cfg.block_size as usize, cfg.block_count as usize)
        .map_err(|e| format!("cannot map the {mib} MiB receive ring: {e}"))?;

    sys::bind_all(&fd, ifindex).map_err(|e| format!("cannot bind to the interface: {e}"))?;
    if cfg.promiscuous {
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as c_int,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        // Tied to the socket: the interface leaves promiscuous mode when the last one closes.
        sys::set_opt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
            .map_err(|e| format!("cannot enable promiscuous mode: {e}"))?;
    }
    Ok((fd, ring))
}

/// Joins all sockets in one new `PACKET_FANOUT_HASH` group.
fn join_fanout(sockets: &[(OwnedFd, sys::Ring)]) -> io::Result<()> {
    let mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
    let arg = |id: u32, flags: u32| ((flags << 16) | (id & 0xffff)) as c_int;
    let set = |fd, v: c_int| sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &v);
    let first = &sockets[0].0;

    // Group ids are per network namespace; an id already used on another interface (another
    // capture in this process, say) is refused, and joining one used on this interface would
    // share that capture's packets. So let the kernel pick a free id where it can; older
    // kernels get one derived from our pid, skipping ids that are taken.
    let id = match set(first, arg(0, mode | libc::PACKET_FANOUT_FLAG_UNIQUEID)) {
        Ok(()) => {
            sys::get_opt(first, libc::SOL_PACKET, libc::PACKET_FANOUT, 0 as c_int)? as u32 & 0xffff
        }
        Err(_) => {
            let base = std::process::id();
            let mut joined = None;
            let mut last = io::Error::from_raw_os_error(libc::EINVAL);
            for attempt in 0..64u32 {
                let id = (base ^ attempt.wrapping_mul(0x9e37)) & 0xffff;
                match set(first, arg(id, mode)) {
                    Ok(()) => {
                        joined = Some(id);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            joined.ok_or(last)?
        }
    };
    for (fd, _) in &sockets[1..] {
        set(fd, arg(id, mode))?;
    }
    tracing::debug!(group = id, members = sockets.len(), "joined fanout group");
    Ok(())
}

impl LiveSource {
    /// A flag shared by all sources of one `open_live`: set it and `next_batch` returns
    /// `Ok(None)` within one poll timeout.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// This source's position among the workers (0-based).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The interface captured on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Link type of every packet this source delivers.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Times the ring was full and the kernel froze it until we caught up (drops are then
    /// counted in `kernel_drops`).
    pub fn ring_full_count(&self) -> u64 {
        self.refresh_kernel_stats();
        self.ring_full.get()
    }

    /// Adds the kernel's counters (which reset on every read) to our sums.
    fn refresh_kernel_stats(&self) {
        let zero = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        match sys::get_opt(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, zero) {
            Ok(s) => {
                self.kernel_drops
                    .set(self.kernel_drops.get() + u64::from(s.tp_drops));
                self.ring_full
                    .set(self.ring_full.get() + u64::from(s.tp_freeze_q_cnt));
            }
            Err(e) => tracing::debug!(interface = %self.interface, "PACKET_STATISTICS: {e}"),
        }
    }

    /// Moves up to `max - batch.len()` pending records into `batch`.
    fn take_pending(&mut self, batch: &mut PacketBatch, max: usize) {
        let Some(backing) = &self.pending else { return };
        let n = (self.pending_records.len() - self.pending_pos).min(max - batch.len());
        if n > 0 {
            let idx = batch.backing_index(backing);
            for r in &self.pending_records[self.pending_pos..self.pending_pos + n] {
                batch.records.push(RecordMeta { backing: idx, ..*r });
            }
            self.pending_pos += n;
        }
        if self.pending_pos == self.pending_records.len() {
            self.pending = None;
            self.pending_records.clear();
            self.pending_pos = 0;
        }
    }

    /// Copies the block at the cursor (which must be ready) out of the ring, gives it back to
    /// the kernel and makes its packets pending.
    fn take_block(&mut self) {
        let mut buf = self.ring.copy_block(self.cursor);
        self.ring.release(self.cursor);
        self.cursor = (self.cursor + 1) % self.ring.blocks();
        debug_assert!(self.pending.is_none());
        self.pending_records.clear();
        self.pending_pos = 0;
        let sum = block::parse_block(&mut buf, self.link, &mut self.pending_records);
        if sum.malformed {
            self.warnings.push(Warning {
                path: PathBuf::from(&self.interface),
                offset: self.packets,
                message: "skipped the rest of a ring block with an inconsistent packet header"
                    .into(),
            });
        }
        if !self.pending_records.is_empty() {
            self.pending = Some(Arc::new(Backing::Heap(buf)));
        }
    }

    /// Fills `batch` from leftover and ready blocks without waiting.
    fn fill(&mut self, batch: &mut PacketBatch, max: usize) {
        self.take_pending(batch, max);
        while batch.len() < max && self.ring.is_ready(self.cursor) {
            self.take_block();
            self.take_pending(batch, max);
        }
    }

    /// Handles a socket error reported by `poll`: a link that went down is a warning (the
    /// kernel resumes capture when it comes back up), an interface that went away is fatal.
    fn socket_error(&mut self) -> Result<(), CaptureError> {
        let err = sys::get_opt(&self.fd, libc::SOL_SOCKET, libc::SO_ERROR, 0 as c_int)
            .map_err(|e| self.error(format!("SO_ERROR: {e}")))?;
        match err {
            0 => Ok(()),
            libc::ENETDOWN if sys::if_index(&self.interface) == Some(self.ifindex) => {
                if !self.link_down {
                    self.link_down = true;
                    tracing::warn!(interface = %self.interface, "interface went down; waiting for it to come back");
                    self.warnings.push(Warning {
                        path: PathBuf::from(&self.interface),
                        offset: self.packets,
                        message: "interface went down; capture resumes when it is up again".into(),
                    });
                }
                Ok(())
            }
            libc::ENETDOWN | libc::ENODEV | libc::ENXIO => {
                Err(self
                    .error("the interface was removed; restart the capture once it is back".into()))
            }
            e => Err(self.error(format!("socket error: {}", io::Error::from_raw_os_error(e)))),
        }
    }

    fn error(&self, reason: String) -> CaptureError {
        CaptureError::Live {
            interface: self.interface.clone(),
            reason,
        }
    }
}

impl PacketSource for LiveSource {
    fn next_batch(&mut self, max: usize) -> Result<Option<PacketBatch>, CaptureError> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if self.last_stats.elapsed() >= STATS_EVERY {
            self.refresh_kernel_stats();
            self.last_stats = Instant::now();
        }
        let max = max.max(1);
        let mut batch = PacketBatch {
            first_index: self.next_index,
            ..PacketBatch::default()
        };
        self.fill(&mut batch, max);
        if batch.is_empty() {
            match sys::poll_in(&self.fd, self.poll_timeout_ms)
                .map_err(|e| self.error(format!("poll: {e}")))?
            {
                sys::Readiness::Ready => {}
                sys::Readiness::Error => self.socket_error()?,
                sys::Readiness::Timeout => return Ok(Some(batch)),
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            self.fill(&mut batch, max);
        }
        if !batch.is_empty() && self.link_down {
            self.link_down = false;
            tracing::info!(interface = %self.interface, "interface is receiving again");
        }
        self.next_index += batch.len() as u64;
        self.packets += batch.len() as u64;
        self.bytes += batch
            .records
            .iter()
            .map(|r| u64::from(r.caplen))
            .sum::<u64>();
        Ok(Some(batch))
    }

    fn stats(&self) -> SourceStats {
        self.refresh_kernel_stats();
        SourceStats {
            packets: self.packets,
            bytes: self.bytes,
            input_bytes_read: self.bytes,
            input_bytes_total: None,
            kernel_drops: self.kernel_drops.get(),
            internal_drops: 0,
        }
    }

    fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let cfg = LiveConfig::new("eth0");
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(
            u64::from(cfg.block_size) * u64::from(cfg.block_count),
            64 << 20
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        let ok = LiveConfig::new("eth0");
        let bad = [
            LiveConfig {
                interface: String::new(),
                ..ok.clone()
            },
            LiveConfig {
                interface: "a-very-long-interface-name".into(),
                ..ok.clone()
            },
            LiveConfig {
                workers: 0,
                ..ok.clone()
            },
            LiveConfig {
                snaplen: 0,
                ..ok.clone()
            },
            LiveConfig {
                snaplen: MAX_SNAPLEN + 1,
                ..ok.clone()
            },
            LiveConfig {
                block_size: 4097 * 256,
                ..ok.clone()
            },
            LiveConfig {
                block_size: 4096 * 16,
                ..ok.clone()
            },
            LiveConfig {
                block_count: 0,
                ..ok.clone()
            },
            LiveConfig {
                block_count: 1 << 20,
                ..ok.clone()
            },
            LiveConfig {
                poll_timeout_ms: 0,
                ..ok.clone()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
    }

    #[test]
    fn rejects_a_missing_interface_and_a_bad_filter_without_privileges() {
        let err = open_live(&LiveConfig::new("ygr-no-such0"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no such interface"), "{err}");
        let cfg = LiveConfig {
            filter: Some("tcp port".into()),
            ..LiveConfig::new("lo")
        };
        let err = open_live(&cfg).err().unwrap().to_string();
        assert!(err.contains("invalid capture filter"), "{err}");
    }

    #[test]
    fn says_which_privilege_is_missing() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return; // root may open the socket; the live integration tests cover that
        }
        let err = open_live(&LiveConfig::new("lo")).err().unwrap().to_string();
        assert!(err.contains("CAP_NET_RAW"), "{err}");
    }

    #[test]
    fn maps_hardware_types() {
        assert_eq!(
            link_type_of(libc::ARPHRD_ETHER).map(|l| l.0),
            Some(LinkType::ETHERNET)
        );
        assert_eq!(
            link_type_of(libc::ARPHRD_LOOPBACK).map(|l| l.0),
            Some(LinkType::ETHERNET)
        );
        assert_eq!(
            link_type_of(libc::ARPHRD_NONE).map(|l| l.0),
            Some(LinkType::RAW)
        );
        assert_eq!(link_type_of(0x1234), None);
    }
}
