"""Keep only one GPU architecture's code in a CUDA shared library, moving no file offset.

    python tests/gpu/keep_sm90.py LIB OUT [--arch 90]   write OUT: LIB with only sm_90 code
    python tests/gpu/keep_sm90.py LIB OUT --fallback     vLLM's libraries: see keep_arch
    python tests/gpu/keep_sm90.py LIB --list            bytes of code per architecture
    python tests/gpu/keep_sm90.py LIB --check           exit 1 unless every fat binary is cut

A CUDA library keeps its device code in the ELF section `.nv_fatbin`: a run of fat binaries, each
a 16-byte header (magic 0xBA55ED50, version, header size, size of what follows) and entries (an
entry header with kind, size and architecture, then the cubin or PTX). The runtime finds each fat
binary by its address (the wrappers in `.nvFatBinSegment`) and reads the entries its header spans.
So each fat binary is rewritten where it stands: the kept entries moved to the front, the header's
size cut to them, the rest zeroed (xz then packs it to almost nothing). The section, every other
byte of the file and every address stay as they were. A fat binary with no entry for the
architecture is an error: the library would then lack that code.
"""
from __future__ import annotations

import argparse
import collections
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND_NAMES = {1: "ptx", 2: "cubin"}


def section(data: bytes, name: str) -> tuple[int, int]:
    """(file offset, size) of the ELF64 section called `name`."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    names_offset = header(shstrndx)[4]
    for i in range(shnum):
        name_at, _, _, _, offset, size = header(i)
        start = names_offset + name_at
        if data[start:data.index(b"\0", start)].decode() == name:
            return offset, size
    raise SystemExit(f"no section {name}")


def fat_binaries(data: bytes, start: int, end: int):
    """Yield (offset, header size, size of entries) of each fat binary in [start, end)."""
    at = start
    while at + 16 <= end:
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", data, at)
        if magic != FATBIN_MAGIC:
            at += 8  # alignment padding between fat binaries
            continue
        yield at, header_size, size
        at += header_size + size


def entries(data: bytes, first: int, end: int):
    """Yield (offset, total length, kind, arch) of each entry between first and end."""
    at = first
    while at < end:
        kind, _, header_size, size = struct.unpack_from("<HHIQ", data, at)
        if header_size == 0 or at + header_size + size > end:
            raise SystemExit(f"malformed fat binary entry at file offset {at:#x}")
        arch, = struct.unpack_from("<I", data, at + 28)
        yield at, header_size + size, kind, arch
        at += header_size + size


def architectures(data: bytes) -> collections.Counter:
    """Bytes of device code per (kind, sm_NN) in the library."""
    sizes = collections.Counter()
    offset, size = section(data, ".nv_fatbin")
    for at, header_size, fat_size in fat_binaries(data, offset, offset + size):
        for _, length, kind, arch in entries(data, at + header_size, at + header_size + fat_size):
            sizes[(KIND_NAMES.get(kind, str(kind)), f"sm_{arch}")] += length
    return sizes


def _fallback(found: list, arch: int) -> list:
    """For a fat binary with no `arch` entry: the newest PTX below it (the driver compiles it for
    `arch` when the module loads), else its smallest entry (code for other GPUs that `arch` never
    runs, as before; one entry keeps the fat binary well-formed for the runtime's registration)."""
    ptx = [e for e in found if e[2] == 1 and e[3] < arch]
    if ptx:
        return [max(ptx, key=lambda e: e[3])]
    return [min(found, key=lambda e: e[1])]


def keep_arch(data: bytearray, arch: int, fallback: bool = False) -> int:
    """Rewrite every fat binary in place to hold only `arch`'s entries; returns how many. A fat
    binary without one is an error, or with `fallback` keeps what `_fallback` picks."""
    offset, size = section(data, ".nv_fatbin")
    count = 0
    for at, header_size, fat_size in list(fat_binaries(data, offset, offset + size)):
        first, end = at + header_size, at + header_size + fat_size
        found = list(entries(data, first, end))
        chosen = [e for e in found if e[3] == arch]
        if not chosen and fallback:
            chosen = _fallback(found, arch)
        kept = b"".join(bytes(data[e:e + n]) for e, n, _, _ in chosen)
        if not kept:
            raise SystemExit(f"fat binary at file offset {at:#x} has no sm_{arch} entry")
        data[first:end] = kept + bytes(fat_size - len(kept))
        struct.pack_into("<Q", data, at + 8, len(kept))
        count += 1
    return count


def not_reduced(data: bytes, arch: int) -> list[int]:
    """File offsets of the fat binaries that hold more than `arch`'s entries or one fallback entry
    (what keep_arch leaves); empty for a library that keep_arch has cut."""
    offset, size = section(data, ".nv_fatbin")
    bad = []
    for at, header_size, fat_size in fat_binaries(data, offset, offset + size):
        found = list(entries(data, at + header_size, at + header_size + fat_size))
        if not (all(a == arch for _, _, _, a in found) or len(found) == 1):
            bad.append(at)
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every fat binary is cut as keep_arch cuts")
    parser.add_argument("--fallback", action="store_true",
                        help="a fat binary without the architecture keeps its newest older PTX, "
                             "else its smallest entry")
    args = parser.parse_args(argv)
    data = bytearray(open(args.lib, "rb").read())
    if args.check:
        bad = not_reduced(bytes(data), args.arch)
        where = f" (first at {bad[0]:#x})" if bad else ""
        print(f"{args.lib}: {len(bad)} fat binaries not cut to sm_{args.arch}{where}")
        return 1 if bad else 0
    if args.list or not args.out:
        for (kind, sm), n in sorted(architectures(data).items()):
            print(f"{kind}\t{sm}\t{n / 1048576:.1f} MiB")
        return 0
    count = keep_arch(data, args.arch, args.fallback)
    with open(args.out, "wb") as out:
        out.write(data)
    print(f"{args.out}: {count} fat binaries reduced to sm_{args.arch}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
