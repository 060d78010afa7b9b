#!/usr/bin/env bash
# Builds the fuzzing corpora under fuzz/corpus/<target>/ from real captures: the bundled ones
# (testdata/pcap) and the small files of the shared corpus (../shared/corpus/pcap, or the
# directory in $YAGURA_CORPUS), each input in the format its target reads (see the targets'
# doc comments). fuzz/corpus is not tracked; fuzz/seeds/<target>/ holds a small tracked
# subset (`--seeds` refreshes it from a freshly built corpus).
#
#   fuzz/make-corpus.sh [--seeds]
#
# Needs python3 and editcap (wireshark-common) to turn pcapng into pcap.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
shared=${YAGURA_CORPUS:-$root/../shared/corpus/pcap}
max_file=${MAX_FILE:-262144}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every capture becomes a classic pcap (pcapng through editcap; files mixing link types are
# skipped), listed with its original path.
list=$tmp/list
: >"$list"
i=0
while IFS= read -r f; do
  i=$((i + 1))
  out=$tmp/$i.pcap
  if editcap -F pcap "$f" "$out" 2>/dev/null; then
    printf '%s\t%s\n' "$f" "$out" >>"$list"
  fi
done < <({
  find "$root/testdata/pcap" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \)
  if [ -d "$shared" ]; then
    find "$shared" -type f -size -"$max_file"c \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \)
  fi
} | sort)

python3 - "$list" corpus <<'PY'
import hashlib, os, struct, sys, gzip

list_file, out_dir = sys.argv[1], sys.argv[2]
# Link types in the order of fuzz_targets/common::DECODABLE.
DECODABLE = [1, 113, 276, 101, 12, 14, 228, 229, 0, 108]
LIMIT = {"decode": 4000, "detect": 4000, "reassembly": 600, "defrag": 200,
         "pipeline": 600, "capture_file": 400}
PER_FILE = 150
counts, seen, per_file = {}, set(), {}

def put(target, data):
    if counts.get(target, 0) >= LIMIT.get(target, 1500) or per_file.get(target, 0) >= PER_FILE:
        return
    h = hashlib.sha1(data).hexdigest()
    if (target, h) in seen:
        return
    seen.add((target, h))
    d = os.path.join(out_dir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, h), "wb") as f:
        f.write(data)
    counts[target] = counts.get(target, 0) + 1
    per_file[target] = per_file.get(target, 0) + 1

def read_pcap(path):
    b = open(path, "rb").read()
    if len(b) < 24:
        return None, []
    magic = struct.unpack("<I", b[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    off, frames = 24, []
    while off + 16 <= len(b):
        s, us, cap, orig = struct.unpack(e + "IIII", b[off:off + 16])
        off += 16
        if off + cap > len(b):
            break
        t = s * 10**9 + (us if nano else us * 1000)
        frames.append((t, orig, b[off:off + cap]))
        off += cap
    return link, frames

def l3(link, f):
    """(ethertype, offset of the IP header) or None."""
    if link == 1:
        if len(f) < 14:
            return None
        et, o = struct.unpack(">H", f[12:14])[0], 14
        while et in (0x8100, 0x88A8) and len(f) >= o + 4:
            et, o = struct.unpack(">H", f[o + 2:o + 4])[0], o + 4
        return et, o
    if link == 113:
        return (struct.unpack(">H", f[14:16])[0], 16) if len(f) >= 16 else None
    if link in (101, 12, 14, 228, 229):
        if not f:
            return None
        return (0x0800 if f[0] >> 4 == 4 else 0x86DD), 0
    if link in (0, 108):
        return (0x0800 if len(f) > 4 and f[4] >> 4 == 4 else 0x86DD), 4
    return None

def ip(link, f):
    """Decoded IP packet: dict with src, dst, proto, frag info, payload."""
    r = l3(link, f)
    if not r:
        return None
    et, o = r
    p = f[o:]
    if et == 0x0800 and len(p) >= 20 and p[0] >> 4 == 4:
        hl = (p[0] & 15) * 4
        tot = struct.unpack(">H", p[2:4])[0]
        fl = struct.unpack(">H", p[6:8])[0]
        return dict(src=p[12:16], dst=p[16:20], proto=p[9], id=struct.unpack(">H", p[4:6])[0],
                    off=(fl & 0x1FFF) * 8, more=bool(fl & 0x2000), payload=p[hl:max(hl, tot)])
    if et == 0x86DD and len(p) >= 40 and p[0] >> 4 == 6:
        nh, q, fr = p[6], p[40:40 + struct.unpack(">H", p[4:6])[0]], None
        while nh in (0, 43, 60, 44) and len(q) >= 8:
            if nh == 44:
                fo = struct.unpack(">H", q[2:4])[0]
                fr = (struct.unpack(">I", q[4:8])[0], fo & 0xFFF8, bool(fo & 1))
                nh, q = q[0], q[8:]
            else:
                nh, q = q[0], q[(q[1] + 1) * 8:]
        d = dict(src=p[8:24], dst=p[24:40], proto=nh, id=0, off=0, more=False, payload=q)
        if fr:
            d["id"], d["off"], d["more"] = fr
        return d
    return None

def l4(d):
    """(src_port, dst_port, seq, ack, flags, payload) for TCP, (sport, dport, payload) for UDP."""
    p = d["payload"]
    if d["off"] or d["more"]:
        return None
    if d["proto"] == 6 and len(p) >= 20:
        sp, dp, seq, ack = struct.unpack(">HHII", p[:12])
        return ("tcp", sp, dp, seq, ack, p[13], p[(p[12] >> 4) * 4:])
    if d["proto"] == 17 and len(p) >= 8:
        sp, dp, ln = struct.unpack(">HHH", p[:6])
        return ("udp", sp, dp, 0, 0, 0, p[8:max(8, ln)])
    return None

# Dissector targets: (target, transport, ports, index of the id in the target's list).
DISSECT = [
    ("dissect_modbus", "tcp", {502}, 0), ("dissect_modbus", "udp", {502}, 0),
    ("dissect_s7comm", "tcp", {102}, 0),
    ("dissect_enip", "tcp", {44818}, 0), ("dissect_enip", "udp", {44818}, 0),
    ("dissect_dnp3", "tcp", {20000}, 0), ("dissect_dnp3", "udp", {20000}, 0),
    ("dissect_iec104", "tcp", {2404}, 0),
    ("dissect_bacnet", "udp", set(range(47808, 47824)), 0),
    ("dissect_dns", "udp", {53}, 0), ("dissect_dns", "tcp", {53}, 0),
    ("dissect_dns", "udp", {5353}, 1), ("dissect_dns", "udp", {5355}, 2),
    ("dissect_dns", "udp", {137}, 3),
    ("dissect_dhcp", "udp", {67, 68}, 0), ("dissect_dhcp", "udp", {546, 547}, 1),
    ("dissect_ntp", "udp", {123}, 0),
    ("dissect_snmp", "udp", {161, 162}, 0),
    ("dissect_http", "tcp", {80, 8000, 8080}, 0), ("dissect_http", "udp", {1900}, 1),
    ("dissect_tls", "tcp", {443, 636, 4911, 8443, 8883}, 0),
    ("dissect_smb", "tcp", {139, 445}, 0),
]

def dissect_seed(target, udp, idx, first, second=b""):
    body = first + second
    mode = (idx << 4) | (1 if udp else 0)
    split = len(first) % 256 if second else len(body) // 2 % 256
    put(target, bytes([split, mode]) + body)

for line in open(list_file):
    orig, path = line.rstrip("\n").split("\t")
    link, frames = read_pcap(path)
    per_file.clear()
    if link is None:
        continue
    raw = open(path, "rb").read()
    # capture_file and pipeline (whole-file mode): small files as they are, and gzipped.
    if len(raw) <= 16384:
        put("capture_file", raw)
        put("pipeline", b"\x00" + raw)
    if len(raw) <= 4096:
        put("capture_file", gzip.compress(raw, mtime=0))
    if orig.endswith(".pcapng") and os.path.getsize(orig) <= 16384:
        put("capture_file", open(orig, "rb").read())
    # pipeline (wrapped mode): windows of 24 frames, each cut to 255 bytes.
    sel = DECODABLE.index(link) if link in DECODABLE else None
    lhdr = bytes([sel, 0]) if sel is not None else bytes([0x80 | (link >> 8), link & 0xFF])
    for w in range(0, min(len(frames), 24 * 12), 24):
        out, last = bytearray([0x01]) + lhdr, None
        for t, o, f in frames[w:w + 24]:
            dt = 0 if last is None else max(0, min(63, (t - last) // 100_000_000))
            last = t
            n = min(len(f), 255)
            cut = 0x40 if n < o else 0
            out += bytes([dt | cut, n]) + f[:n]
        put("pipeline", bytes(out))
    flows, frags = {}, {}
    for t, o, f in frames:
        if sel is not None:
            put("decode", bytes([sel]) + f[:2048])
        else:
            put("decode", bytes([0xF0, link >> 8, link & 0xFF]) + f[:2048])
        d = ip(link, f)
        if not d:
            continue
        if d["off"] or d["more"]:
            frags.setdefault((d["src"], d["dst"], d["id"]), []).append(d)
            continue
        x = l4(d)
        if not x:
            continue
        kind, sp, dp, seq, ack, flags, pay = x
        if pay:
            put("detect", bytes([0 if kind == "tcp" else 4]) + struct.pack(">HH", sp, dp) + pay[:1024])
        if kind == "tcp":
            a, b = (d["src"], sp), (d["dst"], dp)
            key = (min(a, b), max(a, b))
            flows.setdefault(key, []).append((0 if a == key[0] else 1, seq, ack, flags, pay, o))
        for target, tr, ports, idx in DISSECT:
            if tr == kind and (sp in ports or dp in ports) and pay:
                dissect_seed(target, kind == "udp", idx, pay[:2048])
    # Consecutive payloads of one TCP direction: PDUs that straddle the split.
    for key, segs in flows.items():
        ports = {key[0][1], key[1][1]}
        for target, tr, tports, idx in DISSECT:
            if tr == "tcp" and ports & tports:
                for di in (0, 1):
                    pays = [s[4] for s in segs if s[0] == di and s[4]]
                    for j in range(0, min(len(pays) - 1, 40), 2):
                        dissect_seed(target, False, idx, pays[j][:1024], pays[j + 1][:1024])
        # reassembly: the flow's segments, sequence numbers relative to the next expected byte.
        base = [None, None]
        for s in segs:
            if base[s[0]] is None:
                base[s[0]] = s[1]
        out = bytearray(struct.pack("<II", base[0] or 0, base[1] or 0))
        nxt = [None, None]
        for di, seq, ack, flags, pay, o in segs[:64]:
            exp = nxt[di] if nxt[di] is not None else base[di]
            rel = max(-32768, min(32767, (seq - exp + 2**31) % 2**32 - 2**31))
            other = nxt[1 - di]
            arel = 0 if other is None else max(-32768, min(32767, (ack - other + 2**31) % 2**32 - 2**31))
            ctrl = di | (4 if flags & 0x10 and other is not None else 0)
            n = min(len(pay), 255)
            out += bytes([ctrl, flags]) + struct.pack("<hh", rel, arel) + bytes([n]) + pay[:n]
            end = (seq + n + (1 if flags & 0x03 else 0)) % 2**32
            if nxt[di] is None or (end - nxt[di]) % 2**32 < 2**31:
                nxt[di] = end
        if len(segs) > 1:
            put("reassembly", bytes(out))
    # defrag: the fragments of real datagrams, in capture order.
    for k, fl in frags.items():
        out = bytearray()
        for d in fl[:16]:
            p = d["payload"][:255]
            out += bytes([4 if d["more"] else 0]) + struct.pack("<H", d["off"]) + bytes([len(p)]) + p
        put("defrag", bytes(out))

# defrag: synthetic datagrams cut in order, reversed, overlapping, and on two keys.
data = bytes(range(256)) * 2
for size in (8, 64, 200):
    parts = [(o, data[o:o + size]) for o in range(0, 400, size)]
    def frag(key, o, p, last):
        return bytes([key | (0 if last else 4)]) + struct.pack("<H", o) + bytes([len(p)]) + p
    inorder = b"".join(frag(0, o, p, i == len(parts) - 1) for i, (o, p) in enumerate(parts))
    rev = b"".join(frag(1, o, p, i == len(parts) - 1) for i, (o, p) in reversed(list(enumerate(parts))))
    put("defrag", inorder)
    put("defrag", rev)
    put("defrag", inorder[: len(inorder) // 2] + rev + inorder[len(inorder) // 2:])

for t in sorted(counts):
    print(f"{t:16} {counts[t]:5} inputs")
PY

# intel_import: the indicator files of the tests and the tracked seeds (lists, bundles,
# bare patterns).
mkdir -p corpus/intel_import
cp "$root"/testdata/intel/*.txt "$root"/testdata/intel/*.json seeds/intel_import/* corpus/intel_import/

if [ "${1:-}" = "--seeds" ]; then
  # A handful of small inputs per target, spread over the size range.
  for d in corpus/*/; do
    t=$(basename "$d")
    rm -rf "seeds/$t"
    mkdir -p "seeds/$t"
    mapfile -t files < <(find "$d" -type f -size -1025c -printf '%s %p\n' | sort -n | cut -d' ' -f2-)
    n=${#files[@]}
    [ "$n" -gt 0 ] || continue
    for k in 0 1 2 3 4 5 6 7; do
      f=${files[$((k * (n - 1) / 7))]}
      cp "$f" "seeds/$t/"
    done
  done
  du -sh seeds
fi
