//! Capture filters: a tcpdump-style expression compiled to classic BPF by libpcap, ready for
//! `SO_ATTACH_FILTER`.
//!
//! We call libpcap's compiler through a five-function FFI rather than the `pcap` crate: the
//! crate's `BpfInstruction` keeps its fields private, so reading the instructions back would
//! mean parsing its `Display` output or transmuting.

use std::ffi::{CStr, CString};
use std::sync::Mutex;

use libc::{c_char, c_int, c_uint};

/// `BPF_RET | BPF_K` (linux/filter.h): return the constant as the number of bytes to keep.
const BPF_RET_K: u16 = 0x06;
/// `PCAP_NETMASK_UNKNOWN` (pcap/pcap.h): the capture has no IPv4 netmask.
const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;
/// The kernel refuses longer classic BPF programs (`BPF_MAXINSNS`, linux/bpf_common.h).
const BPF_MAXINSNS: usize = 4096;

/// libpcap's opaque `pcap_t`.
#[repr(C)]
struct PcapT {
    _private: [u8; 0],
}

/// libpcap's `struct bpf_program`; `struct bpf_insn` has the layout of `sock_filter`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut libc::sock_filter,
}

#[link(name = "pcap")]
unsafe extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut PcapT;
    fn pcap_compile(
        p: *mut PcapT,
        fp: *mut BpfProgram,
        expr: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_geterr(p: *mut PcapT) -> *mut c_char;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_close(p: *mut PcapT);
}

/// libpcap before 1.8 compiled with global parser state; serialise to be safe everywhere.
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// A program that keeps the first `snaplen` bytes of every packet.
pub(super) fn accept_all(snaplen: u32) -> Vec<libc::sock_filter> {
    vec![ret(snaplen)]
}

/// A program that drops every packet.
pub(super) fn drop_all() -> Vec<libc::sock_filter> {
    vec![ret(0)]
}

fn ret(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Compiles `expr` for a capture of link type `dlt` (a libpcap DLT value) that keeps at most
/// `snaplen` bytes per packet. The error is libpcap's message.
pub(super) fn compile(
    expr: &str,
    dlt: c_int,
    snaplen: u32,
) -> Result<Vec<libc::sock_filter>, String> {
    let c_expr =
        CString::new(expr).map_err(|_| "the expression contains a NUL byte".to_string())?;
    let snaplen = c_int::try_from(snaplen).unwrap_or(c_int::MAX);
    let _guard = COMPILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());

    // SAFETY: pcap_open_dead allocates a handle that only carries a link type and snaplen;
    // it reads nothing of ours.
    let p = unsafe { pcap_open_dead(dlt, snaplen) };
    if p.is_null() {
        return Err("libpcap could not allocate a compiler handle".into());
    }
    let mut prog = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null_mut(),
    };
    // SAFETY: `p` is a live handle, `prog` a valid out-parameter and `c_expr` a NUL-terminated
    // string, all living across the call.
    let rc = unsafe { pcap_compile(p, &mut prog, c_expr.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) };
    let result = if rc != 0 {
        // SAFETY: after a failed compile, pcap_geterr returns a NUL-terminated message owned
        // by `p`, which is still open; we copy it before closing `p`.
        let msg = unsafe { CStr::from_ptr(pcap_geterr(p)) };
        Err(msg.to_string_lossy().into_owned())
    } else {
        let insns = if prog.bf_insns.is_null() || prog.bf_len == 0 {
            Vec::new()
        } else {
            // SAFETY: on success libpcap filled `prog` with `bf_len` instructions at
            // `bf_insns`, laid out as `sock_filter`; we copy them before freeing.
            unsafe { std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize) }.to_vec()
        };
        // SAFETY: `prog` was filled by a successful pcap_compile and is freed exactly once.
        unsafe { pcap_freecode(&mut prog) };
        Ok(insns)
    };
    // SAFETY: `p` came from pcap_open_dead and is closed exactly once; nothing borrowed from
    // it survives (the error message was copied above).
    unsafe { pcap_close(p) };

    let insns = result?;
    if insns.is_empty() {
        return Err("libpcap produced an empty program".into());
    }
    if insns.len() > BPF_MAXINSNS {
        return Err(format!(
            "the compiled program has {} instructions, more than the kernel's limit of {BPF_MAXINSNS}; simplify the expression",
            insns.len()
        ));
    }
    Ok(insns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DLT_EN10MB: c_int = 1;

    #[test]
    fn compiles_a_port_filter() {
        let prog = compile("tcp port 502", DLT_EN10MB, 262_144).unwrap();
        assert!(prog.len() > 4);
        // Every path ends in a return; the accepting one keeps `snaplen` bytes.
        assert!(prog.iter().any(|i| i.code == BPF_RET_K && i.k == 262_144));
        assert!(prog.iter().any(|i| i.code == BPF_RET_K && i.k == 0));
    }

    #[test]
    fn rejects_a_malformed_expression() {
        let err = compile("tcp port", DLT_EN10MB, 65_535).unwrap_err();
        assert!(!err.is_empty());
        assert!(compile("tcp port 502 and", DLT_EN10MB, 65_535).is_err());
        assert!(compile("nonsense keyword", DLT_EN10MB, 65_535).is_err());
    }
}
