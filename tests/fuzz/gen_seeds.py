# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Seed corpora for the fuzzers, made at build time from the interpreters on
this machine (nothing binary is committed).

    python3 gen_seeds.py OUTDIR --cc CC --record RECORD_PYWALK --parked PARKED_PY
                         --record-pprof RECORD_PPROF
                         --record-pylocals RECORD_PYLOCALS --locals LOCALS_PY [PYTHON ...]

With no PYTHON, the interpreters are Debian's, pyenv's and /opt/pythons'
(the same list the unit tests use). Each interpreter runs a probe that
prints its line tables, strings, /proc files and (3.13+) the first bytes
of _PyRuntime; the seeds are written in each fuzzer's input format:

  linetable/   format, co_firstlineno, offset step, table
  pystr/       kind, output size, code units
  procfs/      the interpreter's /proc/self/{maps,stat,comm,cgroup}
  debugoffsets/ minor, flags, the _Py_DebugOffsets block
  elf/         a small shared object per interpreter with its Py_Version,
               _PyRuntime block and version string (made with CC), and the
               interpreter's executable when it is small
  pywalk/      a memory image recorded by RECORD_PYWALK from a live thread
  pprofread/   the interpreter's own stacks (traceback) written as pprof,
               plain and gzipped, by RECORD_PPROF
  pylocals/    the memory each frame's locals were read from, recorded by
               RECORD_PYLOCALS from a live thread parked in LOCALS_PY
  unwind/      registers and stack of each thread of a live interpreter
               blocked in a system call (/proc/PID/task/TID/syscall, mem),
               with its libc, libpython and executable cut down to what
               unwinding reads (headers, CFI, symbols, notes)
"""

import argparse
import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

PROBE = r'''
import ctypes, json, sys, types
out = {"version": list(sys.version_info[:3]), "hexversion": sys.hexversion,
       "tables": [], "strings": [], "proc": {}, "runtime": ""}
import json.decoder, argparse, string
def codes(c):
    yield c
    for k in c.co_consts:
        if isinstance(k, types.CodeType):
            yield from codes(k)
for mod in (json.decoder, string, argparse):
    with open(mod.__file__) as f:
        top = compile(f.read(), mod.__file__, "exec")
    for c in codes(top):
        if sys.version_info >= (3, 10):
            tab = c.co_linetable
        else:
            tab = c.co_lnotab
        out["tables"].append([c.co_firstlineno, tab.hex()])
        out["strings"].append(c.co_qualname if hasattr(c, "co_qualname") else c.co_name)
        if len(out["tables"]) >= 40:
            break
out["strings"] += ["caf\u00e9.cr\u00e8me", "\u540d\u524d.\u95a2\u6570", "emoji_\U0001f40d", "\udcff"]
for name in ("maps", "stat", "comm", "cgroup"):
    try:
        with open("/proc/self/" + name, "rb") as f:
            out["proc"][name] = f.read().hex()
    except OSError:
        pass
import traceback
stacks = []
def leaf(d=None):
    stacks.append([(f.name, f.filename, f.lineno, getattr(f, "lineno", 0))
                   for f in reversed(traceback.extract_stack())])
    return d
json.loads('{"a": [1, {"b": 2}]}', object_hook=leaf)
leaf()
out["stacks"] = stacks
if sys.version_info >= (3, 13):
    try:
        addr = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
        out["runtime"] = ctypes.string_at(addr, 1024).hex()
    except (ValueError, AttributeError):
        pass
print(json.dumps(out))
'''

SO_TEMPLATE = r'''
const unsigned long Py_Version = %(hex)du;
__attribute__((section(".PyRuntime"), aligned(64))) unsigned char _PyRuntime[%(rtlen)d] = { %(rt)s };
static const char version[] = "%(ver)s";
char buf[64];
const char *Py_GetVersion(void)
{
	__builtin_memcpy(buf, version, sizeof(version));
	return buf;
}
'''

GLOBS = ["/usr/bin/python3.[0-9]*[0-9]", "/root/.pyenv/versions/3.*/bin/python3",
         "/opt/pythons/*/bin/python3"]


def put(outdir, kind, data):
    d = os.path.join(outdir, kind)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def lt_format(ver):
    if ver[:2] < [3, 10]:
        return 1
    return 2 if ver[:2] == [3, 10] else 3


def seeds_for(python, args):
    try:
        res = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, timeout=60,
                             check=True)
    except (OSError, subprocess.SubprocessError) as e:
        print("gen_seeds: %s: skipped (%s)" % (python, e), file=sys.stderr)
        return 0
    p = json.loads(res.stdout)
    ver = p["version"]
    n = 0
    for first, tab in p["tables"]:
        put(args.outdir, "linetable",
            struct.pack("<Bih", lt_format(ver), first, 2) + bytes.fromhex(tab))
        n += 1
    for s in p["strings"]:
        m = max(map(ord, s)) if s else 0
        kind, enc = (1, "latin-1") if m < 256 else (2, "utf-16-le") if m < 65536 else (4, "utf-32-le")
        units = s.encode(enc, "surrogatepass")
        for outlen in (255, 12):
            put(args.outdir, "pystr", struct.pack("<BB", kind, outlen) + units)
            n += 1
    for name, data in p["proc"].items():
        put(args.outdir, "procfs", bytes.fromhex(data))
        n += 1
    rt = bytes.fromhex(p["runtime"])
    if rt[:8] == b"xdebugpy":
        # flags: bit 0 free-threaded (the block's own word at 16), bit 1 a
        # _PyRuntime size to check, bit 2 the version the ELF says (the
        # block's): the first seed is read whole, the others refused early
        ft = struct.unpack_from("<Q", rt, 16)[0] & 1
        for flags in (ft | 4, ft | 4 | 2, ft, ft ^ 1 | 4):
            put(args.outdir, "debugoffsets", struct.pack("<BB", ver[1], flags) + rt)
        n += 4
    n += elf_seed(python, p, rt, args)
    if args.record_pprof and p.get("stacks"):
        text = "".join(
            "%d\t%s\n" % (i + 1, "\t".join("%s|%s|%d|%d" % tuple(f) for f in st))
            for i, st in enumerate(p["stacks"]))
        with tempfile.TemporaryDirectory() as d:
            base = os.path.join(d, "p")
            r = subprocess.run([args.record_pprof, base], input=text.encode(), timeout=60)
            for ext in (".pb", ".pb.gz"):
                if r.returncode == 0 and os.path.exists(base + ext):
                    with open(base + ext, "rb") as f:
                        put(args.outdir, "pprofread", f.read())
                    n += 1
    if args.record and args.parked:
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            pass
        r = subprocess.run([args.record, python, args.parked, tmp.name], timeout=120)
        if r.returncode == 0:
            with open(tmp.name, "rb") as f:
                put(args.outdir, "pywalk", f.read())
            n += 1
        os.unlink(tmp.name)
    n += unwind_seeds(python, args)
    if args.record_pylocals and args.locals:
        with tempfile.TemporaryDirectory() as d:
            base = os.path.join(d, "l")
            subprocess.run([args.record_pylocals, python, args.locals, base], timeout=120)
            for f in sorted(glob.glob(base + ".*")):
                with open(f, "rb") as fh:
                    put(args.outdir, "pylocals", fh.read())
                n += 1
    return n


PARK_NATIVE = r'''
import sys, threading
lock = threading.Lock()
lock.acquire()
threading.Thread(target=lock.acquire, name="waiter", daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
'''

# Sections unwinding and naming read: everything else becomes SHT_NOBITS
# (.symtab and .strtab too when there is a .dynsym: they are the largest).
KEEP_TYPES = {2, 3, 6, 7, 11}  # SYMTAB, STRTAB, DYNAMIC, NOTE, DYNSYM
KEEP_NAMES = {b".eh_frame", b".eh_frame_hdr", b".debug_frame", b".gnu_debuglink"}
STACK_MAX = 16384


def cut_elf(data):
    """An ELF64 file with only the sections unwinding reads, packed after
    the program headers; other sections keep their headers as SHT_NOBITS,
    segments keep their addresses (what libdwfl takes the load bias from),
    and non-load segments follow the section they start at."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phnum, _, shnum, shstrndx = struct.unpack_from("<HHHH", data, 56)
    shdrs = [list(struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i)) for i in range(shnum)]
    if not shnum or shstrndx >= shnum:
        return None
    strs = shdrs[shstrndx]
    names = [data[strs[4] + h[0]:data.index(b"\0", strs[4] + h[0])] for h in shdrs]
    out = bytearray(data[:64]) + bytearray(data[phoff:phoff + 56 * phnum])
    moved = {}
    dynsym = any(h[1] == 11 for h in shdrs)
    for i, h in enumerate(shdrs):
        if i == 0 or h[1] == 8:
            continue
        keep = h[1] in KEEP_TYPES or names[i] in KEEP_NAMES or i == shstrndx
        if dynsym and names[i] in (b".symtab", b".strtab"):
            keep = False
        if keep:
            align = max(h[8], 1)
            out += bytes(-len(out) % align)
            moved[h[4]] = len(out)
            body = bytearray(data[h[4]:h[4] + h[5]])
            if names[i] == b".note.gnu.build-id" and body:
                # Another build ID: libdwfl must not find (and read) the
                # real file's debuginfo under /usr/lib/debug at each run.
                body[-1] ^= 0xff
            out += body
            h[4] = len(out) - h[5]
        else:
            h[1] = 8  # SHT_NOBITS
    out += bytes(-len(out) % 8)
    new_shoff = len(out)
    for h in shdrs:
        out += struct.pack("<IIQQQQIIQQ", *h)
    struct.pack_into("<QQ", out, 32, 64, new_shoff)
    for i in range(phnum):
        ph = list(struct.unpack_from("<IIQQQQQQ", out, 64 + 56 * i))
        if ph[0] != 1 and ph[2] in moved:  # not PT_LOAD
            ph[2] = moved[ph[2]]
            struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, *ph)
    return bytes(out)


def unwind_seeds(python, args):
    """One fuzz_unwind input per thread blocked in a system call."""
    n = 0
    try:
        proc = subprocess.Popen([python, "-I", "-c", PARK_NATIVE], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
    except OSError:
        return 0
    try:
        if proc.stdout.readline().strip() != b"ready":
            return 0
        time.sleep(0.5)  # the threads reach their system calls
        with open("/proc/%d/maps" % proc.pid) as f:
            maps = [l.split(None, 5) for l in f]
        exe = os.path.realpath(python)
        spans = {}
        for m in maps:
            path = m[5].strip() if len(m) > 5 else ""
            if path and ("libc.so" in path or "libpython" in path or path == exe):
                lo, hi = (int(x, 16) for x in m[0].split("-"))
                a, b = spans.get(path, (lo, hi))
                spans[path] = (min(a, lo), max(b, hi))
        mods = b""
        count = 0
        for path, (lo, hi) in sorted(spans.items()):
            with open(path, "rb") as f:
                cut = cut_elf(f.read())
            if cut:
                mods += struct.pack("<QQI", lo, hi, len(cut)) + cut
                count += 1
        for tid in sorted(os.listdir("/proc/%d/task" % proc.pid)):
            with open("/proc/%d/task/%s/syscall" % (proc.pid, tid)) as f:
                fields = f.read().split()
            if len(fields) < 9:
                continue  # running: no registers there
            sp, pc = int(fields[-2], 16), int(fields[-1], 16)
            top = next((int(m[0].split("-")[1], 16) for m in maps
                        if int(m[0].split("-")[0], 16) <= sp < int(m[0].split("-")[1], 16)), sp)
            with open("/proc/%d/mem" % proc.pid, "rb", buffering=0) as f:
                f.seek(sp)
                stack = f.read(min(top - sp, STACK_MAX))
            put(args.outdir, "unwind", struct.pack("<QQQB", pc, sp, 0, count) + mods + stack)
            n += 1
    except (OSError, ValueError) as e:
        print("gen_seeds: %s: no unwind seed (%s)" % (python, e), file=sys.stderr)
    finally:
        proc.kill()
        proc.wait()
    return n


def elf_seed(python, p, rt, args):
    n = 0
    exe = os.path.realpath(python)
    if os.path.getsize(exe) <= 65536:
        with open(exe, "rb") as f:
            put(args.outdir, "elf", f.read())
        n += 1
    if not args.cc:
        return n
    rt = rt or bytes(64)
    src = SO_TEMPLATE % {"hex": p["hexversion"], "rtlen": len(rt),
                         "rt": ",".join(str(b) for b in rt), "ver": ".".join(map(str, p["version"]))}
    with tempfile.TemporaryDirectory() as d:
        c, so = os.path.join(d, "rt.c"), os.path.join(d, "rt.so")
        with open(c, "w") as f:
            f.write(src)
        r = subprocess.run([args.cc, "-shared", "-fPIC", "-O1", "-nostdlib", "-o", so, c])
        if r.returncode == 0:
            with open(so, "rb") as f:
                put(args.outdir, "elf", f.read())
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--cc")
    ap.add_argument("--record")
    ap.add_argument("--parked")
    ap.add_argument("--record-pprof")
    ap.add_argument("--record-pylocals")
    ap.add_argument("--locals")
    ap.add_argument("pythons", nargs="*")
    args = ap.parse_args()
    pythons = args.pythons
    if not pythons and os.environ.get("PYBPF_TEST_PYTHONS"):
        pythons = os.environ["PYBPF_TEST_PYTHONS"].split()
    if not pythons:
        pythons = sorted(x for g in GLOBS for x in glob.glob(g))
    total = 0
    for py in pythons:
        total += seeds_for(py, args)
    # Never an empty corpus directory: libFuzzer then starts from nothing.
    for kind in ("linetable", "pystr", "procfs", "debugoffsets", "elf", "pywalk",
                 "pprofread", "pylocals", "unwind"):
        os.makedirs(os.path.join(args.outdir, kind), exist_ok=True)
    print("gen_seeds: %d seeds from %d interpreters in %s" % (total, len(pythons), args.outdir),
          file=sys.stderr)


if __name__ == "__main__":
    main()
