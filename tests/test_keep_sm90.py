"""tests/gpu/keep_sm90.py on a small ELF64 file built here with a `.nv_fatbin` section laid out as
CUDA's fat binaries are (the real check, on Transformer Engine's library, is tests/gpu/check_te.sh)."""
import importlib.util
import struct
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("keep_sm90", Path(__file__).parent / "gpu" / "keep_sm90.py")
keep_sm90 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(keep_sm90)


def entry(arch: int, payload: bytes, kind: int = 2) -> bytes:
    header = bytearray(64)
    struct.pack_into("<HHIQ", header, 0, kind, 0x0101, 64, len(payload))
    struct.pack_into("<I", header, 28, arch)
    return bytes(header) + payload


def fat_binary(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IHHQ", keep_sm90.FATBIN_MAGIC, 1, 16, len(body)) + body


def elf(fatbin_section: bytes) -> bytes:
    """ELF64 header, a prefix of other bytes, .nv_fatbin, .shstrtab, then three section headers."""
    names = b"\0.nv_fatbin\0.shstrtab\0"
    prefix = bytes(range(256)) * 2
    fat_at = 64 + len(prefix)
    names_at = fat_at + len(fatbin_section)
    shoff = names_at + len(names)
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)
    def section(name_at, offset, size):
        return struct.pack("<IIQQQQIIQQ", name_at, 1, 0, 0, offset, size, 0, 0, 8, 0)
    return (bytes(header) + prefix + fatbin_section + names + bytes(64)
            + section(1, fat_at, len(fatbin_section)) + section(12, names_at, len(names)))


def library() -> bytes:
    first = fat_binary(entry(80, b"A" * 40), entry(90, b"B" * 24), entry(1, b"P" * 8, kind=1))
    second = fat_binary(entry(75, b"C" * 16), entry(90, b"D" * 32), entry(100, b"E" * 48))
    padding = bytes(-len(first) % 8 + 8)  # fat binaries are 8-aligned, with padding between them
    return elf(first + padding + second)


def test_only_the_chosen_architecture_is_left_and_nothing_moves():
    original = library()
    assert keep_sm90.architectures(original) == {("cubin", "sm_80"): 104, ("cubin", "sm_90"): 184,
                                                 ("ptx", "sm_1"): 72, ("cubin", "sm_75"): 80,
                                                 ("cubin", "sm_100"): 112}
    data = bytearray(original)
    assert keep_sm90.keep_arch(data, 90) == 2
    assert len(data) == len(original)
    assert keep_sm90.architectures(bytes(data)) == {("cubin", "sm_90"): 184}
    offset, size = keep_sm90.section(original, ".nv_fatbin")
    assert data[:offset] == original[:offset] and data[offset + size:] == original[offset + size:]
    # each sm_90 entry, header and code, now stands first in its fat binary, byte for byte
    fats = list(keep_sm90.fat_binaries(bytes(data), offset, offset + size))
    assert [bytes(data[at + 16:at + 16 + n]) for at, _, n in fats] == [entry(90, b"B" * 24), entry(90, b"D" * 32)]
    # the fat binaries start where they did
    assert [at for at, _, _ in fats] == [at for at, _, _ in keep_sm90.fat_binaries(original, offset, offset + size)]


def test_a_fat_binary_without_the_architecture_is_an_error():
    data = bytearray(elf(fat_binary(entry(80, b"A" * 40))))
    with pytest.raises(SystemExit, match="has no sm_90 entry"):
        keep_sm90.keep_arch(data, 90)


def test_the_fallback_keeps_the_newest_older_ptx_else_the_smallest_entry():
    """vLLM's libraries hold fat binaries with no sm_90 entry: PTX for older GPUs (the driver
    compiles it for sm_90) or code only for other GPUs. --fallback keeps one entry of each."""
    with_ptx = fat_binary(entry(75, b"C" * 16), entry(70, b"p" * 8, kind=1), entry(80, b"q" * 12, kind=1))
    other_gpus = fat_binary(entry(100, b"E" * 48), entry(120, b"F" * 20))
    both = fat_binary(entry(80, b"A" * 40), entry(90, b"B" * 24))
    data = bytearray(elf(with_ptx + other_gpus + both))
    with pytest.raises(SystemExit, match="has no sm_90 entry"):
        keep_sm90.keep_arch(bytearray(data), 90)
    assert keep_sm90.keep_arch(data, 90, fallback=True) == 3
    offset, size = keep_sm90.section(bytes(data), ".nv_fatbin")
    kept = [bytes(data[at + 16:at + 16 + n]) for at, _, n in keep_sm90.fat_binaries(bytes(data), offset, offset + size)]
    assert kept == [entry(80, b"q" * 12, kind=1), entry(120, b"F" * 20), entry(90, b"B" * 24)]


def test_the_check_tells_a_cut_library_from_an_uncut_one():
    data = bytearray(library())
    assert keep_sm90.not_reduced(bytes(data), 90) != []
    keep_sm90.keep_arch(data, 90)
    assert keep_sm90.not_reduced(bytes(data), 90) == []
