//! Thin wrappers over the system calls live capture needs: the AF_PACKET socket, its options,
//! the memory-mapped receive ring, and interface look-ups. Every `unsafe` block of the live
//! source that touches the kernel lives here.

use std::ffi::CString;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use libc::{c_int, c_void};

/// Byte offset of `block_status` in a `tpacket_block_desc`.
pub(super) const BLOCK_STATUS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, block_status);
/// Byte offset of `num_pkts` in a `tpacket_block_desc`.
pub(super) const BLOCK_NUM_PKTS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, num_pkts);
/// Byte offset of `offset_to_first_pkt` in a `tpacket_block_desc`.
pub(super) const BLOCK_FIRST_PKT: usize = offset_of!(libc::tpacket_block_desc, hdr)
    + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
/// Byte offset of `blk_len` (bytes of the block in use) in a `tpacket_block_desc`.
pub(super) const BLOCK_LEN: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, blk_len);
/// Size of the block descriptor: packets start after it.
pub(super) const BLOCK_HDR_LEN: usize = size_of::<libc::tpacket_block_desc>();

/// A socket of the AF_PACKET family (protocol 0: deaf until bound).
pub(super) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: a plain system call with constant arguments; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An unprivileged datagram socket, only used for interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: a plain system call with constant arguments; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, val)`.
pub(super) fn set_opt<T: Copy>(fd: &OwnedFd, level: c_int, name: c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live, initialised `T` of `size_of::<T>()` bytes for the
    // duration of the call and the kernel only reads it. Options carrying pointers
    // (`sock_fprog`) are copied by the kernel before the call returns.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast::<c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt(fd, level, name)` into a value of type `T`, starting from `init`.
pub(super) fn get_opt<T: Copy>(fd: &OwnedFd, level: c_int, name: c_int, init: T) -> io::Result<T> {
    let mut val = init;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a live, initialised `T` and `len` says how many bytes the kernel may
    // write into it; any bit pattern is valid for the plain integer structs used here.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut val as *mut T).cast::<c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(val)
    }
}

/// Binds `fd` to every protocol (`ETH_P_ALL`) on interface `ifindex`.
pub(super) fn bind_all(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
        sll_ifindex: ifindex as c_int,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `addr` is a valid `sockaddr_ll` whose size is passed alongside; the kernel only
    // reads it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// What `poll` said about a socket.
pub(super) enum Readiness {
    /// Something to read (a retired block), or the wait was interrupted by a signal.
    Ready,
    /// The socket has a pending error (the link went down, say); read it with `SO_ERROR`.
    Error,
    /// Nothing within the timeout.
    Timeout,
}

/// Waits up to `timeout_ms` for the socket to become readable.
pub(super) fn poll_in(fd: &OwnedFd, timeout_ms: c_int) -> io::Result<Readiness> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid `pollfd`, and we pass a count of 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        // A signal (Ctrl-C) interrupts the wait; the caller checks its stop flag next.
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(Readiness::Ready)
        } else {
            Err(e)
        };
    }
    if rc == 0 {
        Ok(Readiness::Timeout)
    } else if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        Ok(Readiness::Error)
    } else {
        Ok(Readiness::Ready)
    }
}

/// Index of the interface called `name`, `None` when there is none.
pub(super) fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call; the function only reads it.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// An `ifreq` naming `name` (which the caller has checked is shorter than `IFNAMSIZ`).
fn ifreq_for(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a C struct of integers, arrays and a union of such; all zeroes is a
    // valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

/// The interface's ARPHRD hardware type (`ARPHRD_ETHER`, `ARPHRD_LOOPBACK`, …).
pub(super) fn hw_type(name: &str) -> io::Result<u16> {
    let sock = ioctl_socket()?;
    let mut req = ifreq_for(name);
    // SAFETY: SIOCGIFHWADDR reads the name from and writes the address into `req`, a valid
    // `ifreq` that lives across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFHWADDR succeeds the kernel has filled the `ifru_hwaddr` member.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Whether the interface is administratively up (`IFF_UP`).
pub(super) fn is_up(name: &str) -> io::Result<bool> {
    let sock = ioctl_socket()?;
    let mut req = ifreq_for(name);
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, a valid
    // `ifreq` that lives across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS succeeds the kernel has filled the `ifru_flags` member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags as c_int & libc::IFF_UP != 0)
}

/// The TPACKET_V3 receive ring of one socket, mapped into our memory.
pub(super) struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    blocks: usize,
}

// SAFETY: the mapping is owned by this value alone (it is never aliased by another `Ring`)
// and is valid from any thread; the kernel synchronises with us through each block's status
// word, which we access atomically.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps the ring that `PACKET_RX_RING` created on `fd`.
    pub(super) fn map(fd: &OwnedFd, block_size: usize, blocks: usize) -> io::Result<Ring> {
        let len = block_size * blocks;
        // SAFETY: we ask for a fresh shared mapping of the socket's ring (offset 0, the exact
        // size the kernel allocated); no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(Ring {
            base,
            block_size,
            blocks,
        })
    }

    /// Number of blocks.
    pub(super) fn blocks(&self) -> usize {
        self.blocks
    }

    /// The status word of block `i`.
    fn status(&self, i: usize) -> &AtomicU32 {
        assert!(i < self.blocks);
        // SAFETY: block `i` starts `i * block_size` bytes into the mapping, which is page
        // aligned, so the status word (offset 8) is in bounds and 4-byte aligned. The mapping
        // lives as long as `self`. The kernel writes this word only with full barriers, and we
        // access it only atomically, which is how libpcap and the kernel docs hand blocks back
        // and forth.
        unsafe {
            AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(i * self.block_size + BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    /// Whether the kernel has handed block `i` to us.
    pub(super) fn is_ready(&self, i: usize) -> bool {
        self.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Copies the used part of block `i`, which must be ready, into a fresh buffer: one
    /// allocation and one memcpy per block.
    pub(super) fn copy_block(&self, i: usize) -> Vec<u8> {
        debug_assert!(self.is_ready(i));
        // SAFETY: block `i` (checked in `status`, which `is_ready` called) lies inside the
        // mapping, and while its status says TP_STATUS_USER the kernel does not write to it,
        // so reading it as plain bytes is sound.
        let block = unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(i * self.block_size), self.block_size)
        };
        let used = u32::from_ne_bytes(
            block[BLOCK_LEN..BLOCK_LEN + 4]
                .try_into()
                .unwrap_or_default(),
        ) as usize;
        // `blk_len` counts from the block start; clamp it in case of a kernel surprise.
        let used = used.clamp(BLOCK_HDR_LEN, self.block_size);
        block[..used].to_vec()
    }

    /// Hands block `i` back to the kernel.
    pub(super) fn release(&self, i: usize) {
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base` and the length are exactly what `mmap` returned and took, and no
        // reference into the mapping outlives `self` (blocks are copied out).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.block_size * self.blocks);
        }
    }
}
