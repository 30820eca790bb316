"""Writes the hostile inputs of the bounded-input issue at full size into a directory.

Usage: python benches/hostile_inputs.py OUT_DIR [--scale S]

`--scale` divides every size (CI's tests/hostile.rs builds its own small versions; this script is
for benches/hostile.sh). Nothing here unpickles anything: pickles are written with pickle.dump
of plain data or as raw opcode bytes.

Cases (file names are what benches/hostile.sh runs):
  xz_zeros.xz          20 GiB of zeros as concatenated xz streams (xz decoders read them all)
  zstd_zeros.zst       20 GiB of zeros as concatenated zstd frames
  nested_42.zip        42.zip-style: 4 levels x 16 members, 1 GiB zero leaves
  member_5g.zip        one deflated member of 5 GiB of zeros
  tar_1m.tar           1,000,000 empty members
  files_200k/          200,000 small files (tiny pickles and text)
  memoize_50m.pkl      50 million MEMOIZE opcodes on one list
  tuples_5m.pkl        pickle.dump of 5 million (i, str(i)) tuples (plain data: must be clean)
"""

import io
import os
import pickle
import struct
import sys
import tarfile
import zlib
import lzma

GiB = 1 << 30
MiB = 1 << 20


def zeros_chunks(total, chunk=64 * MiB):
    block = bytes(min(chunk, total))
    left = total
    while left > 0:
        k = min(left, len(block))
        yield block if k == len(block) else block[:k]
        left -= k


def xz_zeros(path, total, unit):
    """`total` zeros as copies of one xz stream of `unit` zeros (multi-stream xz)."""
    comp = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=1)
    one = b"".join(comp.compress(c) for c in zeros_chunks(unit)) + comp.flush()
    with open(path, "wb") as f:
        for _ in range(total // unit):
            f.write(one)


def zstd_zeros(path, total, unit):
    import zstandard

    one = zstandard.ZstdCompressor(level=3).compress(bytes(unit))
    with open(path, "wb") as f:
        for _ in range(total // unit):
            f.write(one)


def deflate_zeros(n):
    """A raw deflate stream of `n` zeros and its CRC-32."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = io.BytesIO()
    crc = 0
    for chunk in zeros_chunks(n):
        out.write(c.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    out.write(c.flush())
    return out.getvalue(), crc


def raw_zip(members):
    """A zip from (name, method, compressed bytes, crc, uncompressed size) tuples, zip64 where a
    size needs it. Written by hand so one compressed leaf can be reused without recompressing."""
    out = io.BytesIO()
    central = []
    for name, method, data, crc, size in members:
        nb = name.encode()
        off = out.tell()
        big = size >= 0xFFFFFFFF or len(data) >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, size, len(data)) if big else b""
        csize = 0xFFFFFFFF if big else len(data)
        usize = 0xFFFFFFFF if big else size
        ver = 45 if big else 20
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, 0, method, 0, 0x21, crc,
                              csize, usize, len(nb), len(extra)))
        out.write(nb + extra + data)
        cextra = struct.pack("<HHQQQ", 1, 24, size, len(data), off) if big else b""
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ver, ver, 0, method, 0,
                                   0x21, crc, csize, usize, len(nb), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF if big else off) + nb + cextra)
    cd_off = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd),
                          cd_off, 0))
    return out.getvalue()


def nested_zip(path, levels, width, leaf):
    data, crc = deflate_zeros(leaf)
    blob = raw_zip([(f"{i}.bin", 8, data, crc, leaf) for i in range(width)])
    for level in range(levels - 1):
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = comp.compress(blob) + comp.flush()
        crc = zlib.crc32(blob)
        blob = raw_zip([(f"l{level}_{i}.zip", 8, packed, crc, len(blob)) for i in range(width)])
    with open(path, "wb") as f:
        f.write(blob)


def big_member(path, size):
    data, crc = deflate_zeros(size)
    with open(path, "wb") as f:
        f.write(raw_zip([("weights.bin", 8, data, crc, size)]))


def tar_members(path, n):
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as t:
        for i in range(n):
            info = tarfile.TarInfo(f"m/{i:07d}")
            t.addfile(info, io.BytesIO(b""))


def small_files(d, n):
    os.makedirs(d, exist_ok=True)
    payload = pickle.dumps({"w": [1, 2, 3]}, protocol=4)
    for i in range(n):
        sub = os.path.join(d, f"{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        name = os.path.join(sub, f"f{i}.pkl" if i % 2 else f"f{i}.txt")
        with open(name, "wb") as f:
            f.write(payload if i % 2 else b"label\n")


def memoize(path, n):
    with open(path, "wb") as f:
        f.write(b"\x80\x04]")  # PROTO 4, EMPTY_LIST
        chunk = b"\x94" * (1 << 20)
        left = n
        while left > 0:
            k = min(left, len(chunk))
            f.write(chunk[:k])
            left -= k
        f.write(b".")


def tuples(path, n):
    with open(path, "wb") as f:
        pickle.dump([(i, str(i)) for i in range(n)], f, protocol=4)


def main():
    out = sys.argv[1]
    scale = 1
    if "--scale" in sys.argv:
        scale = int(sys.argv[sys.argv.index("--scale") + 1])
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731
    steps = [
        ("xz_zeros.xz", lambda: xz_zeros(p("xz_zeros.xz"), 20 * GiB // scale, GiB // scale)),
        ("zstd_zeros.zst", lambda: zstd_zeros(p("zstd_zeros.zst"), 20 * GiB // scale, GiB // scale)),
        ("nested_42.zip", lambda: nested_zip(p("nested_42.zip"), 4, 16, GiB // scale)),
        ("member_5g.zip", lambda: big_member(p("member_5g.zip"), 5 * GiB // scale)),
        ("tar_1m.tar", lambda: tar_members(p("tar_1m.tar"), 1_000_000 // scale)),
        ("files_200k", lambda: small_files(p("files_200k"), 200_000 // scale)),
        ("memoize_50m.pkl", lambda: memoize(p("memoize_50m.pkl"), 50_000_000 // scale)),
        ("tuples_5m.pkl", lambda: tuples(p("tuples_5m.pkl"), 5_000_000 // scale)),
    ]
    for name, make in steps:
        if os.path.exists(p(name)):
            continue
        print(f"writing {name}", file=sys.stderr, flush=True)
        make()


if __name__ == "__main__":
    main()
