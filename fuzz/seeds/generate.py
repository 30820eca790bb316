#!/usr/bin/env python3
"""Writes the fuzzing seed corpora into fuzz/seeds/<target>/ (archive, pickle, hdf5, onnx, gguf,
image_layer).

Standard library only, deterministic (fixed mtimes, no randomness): running it twice gives the
same bytes, so the committed seeds can be checked with `python3 fuzz/seeds/generate.py && git
diff --exit-code fuzz/seeds`. Existing fixtures are copied from testdata/ (the 7z regression
inputs from shared/regressions/7z live in testdata/archives/malformed/7z-regressions).

Nothing here is ever unpickled: the malicious pickles are written by hand as bytes, the benign
ones come from pickle.dumps of plain data.

Each seed stays under 100 KB and the whole set under 3 MB (checked at the end).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

FUZZ = Path(__file__).resolve().parent.parent
REPO = FUZZ.parent
SEEDS = FUZZ / "seeds"
TESTDATA = REPO / "testdata"
TARGETS = ["archive", "pickle", "hdf5", "onnx", "gguf", "image_layer"]
MAX_SEED = 100_000
MAX_TOTAL = 3_000_000
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
TAR_MTIME = 1_704_067_200  # 2024-01-01

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def write(target: str, name: str, data: bytes) -> None:
    path = SEEDS / target / name
    path.write_bytes(data)


def copy(target: str, src: Path, name: str | None = None, strip_prefix: bytes = b"") -> None:
    data = src.read_bytes()
    if len(data) > MAX_SEED:
        return
    if strip_prefix and data.startswith(strip_prefix):
        data = data[len(strip_prefix):]
    if name is None:
        name = "_".join(src.relative_to(TESTDATA).parts)
    write(target, name, data)


# ---------------------------------------------------------------- builders


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ)


def lzma_alone(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_ALONE)


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def tar_file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = TAR_MTIME
    info.mode = 0o644
    info.uname = info.gname = "root"
    return info


def make_tar(members: list[tuple[str, bytes]], dirs: list[str] = (), fmt=tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = TAR_MTIME
            t.addfile(info)
        for name, data in members:
            t.addfile(tar_file_info(name, len(data)), io.BytesIO(data))
    return buf.getvalue()


# Benign pickle content (dumped, never loaded).
BENIGN_OBJ = {
    "weights": [0.5, -1.25, 3.0],
    "name": "tiny",
    "shape": (2, 3),
    "flags": {True, False},
    "blob": b"\x00\x01\x02",
    "nested": {"a": [1, 2, {"b": None}]},
}

# Hand-written malicious pickles (bytes only; never unpickled).
# Protocol 0: GLOBAL os system, MARK, STRING, TUPLE, REDUCE, STOP.
REDUCE_OS_SYSTEM_P0 = b"cos\nsystem\n(S'echo fuzz'\ntR."
# Protocol 2: GLOBAL, BINUNICODE arg, TUPLE1, REDUCE, STOP.
REDUCE_OS_SYSTEM_P2 = (
    b"\x80\x02cos\nsystem\nq\x00X\x09\x00\x00\x00echo fuzzq\x01\x85q\x02Rq\x03."
)


def p4_stack_global(module: str, name: str, arg: str) -> bytes:
    """Protocol 4 framed STACK_GLOBAL + TUPLE1 + REDUCE, with MEMOIZE after each push."""
    body = b""
    for s in (module, name):
        e = s.encode()
        body += b"\x8c" + bytes([len(e)]) + e + b"\x94"  # SHORT_BINUNICODE, MEMOIZE
    body += b"\x93\x94"  # STACK_GLOBAL, MEMOIZE
    a = arg.encode()
    body += b"\x8c" + bytes([len(a)]) + a + b"\x94"
    body += b"\x85\x94R\x94."  # TUPLE1, MEMOIZE, REDUCE, MEMOIZE, STOP
    return b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body


REDUCE_OS_SYSTEM_P4 = p4_stack_global("os", "system", "echo fuzz")
REDUCE_BUILTINS_EVAL_P4 = p4_stack_global("builtins", "eval", "1+1")
# Memo indirection: put the global in the memo, pop it, fetch it back (BINPUT / BINGET).
MEMO_INDIRECT_OS_SYSTEM = (
    b"\x80\x02cos\nsystem\nq\x05" b"0" b"h\x05X\x09\x00\x00\x00echo fuzz\x85R."
)


def memo_heavy_pickle() -> bytes:
    shared = ["shared", 1, 2.5]
    strings = [f"s{i:04d}" for i in range(400)]
    obj = {"refs": [shared] * 300, "strings": strings, "again": strings, "tuples": [(s, s) for s in strings[:100]]}
    return pickle.dumps(obj, protocol=4)


def pytorch_like_zip(pkl: bytes) -> bytes:
    return make_zip(
        [
            ("archive/data.pkl", pkl),
            ("archive/data/0", bytes(range(64))),
            ("archive/version", b"3\n"),
            ("archive/byteorder", b"little"),
        ],
        method=zipfile.ZIP_STORED,
    )


# ---------------------------------------------------------------- per target


def seeds_archive() -> None:
    t = "archive"
    # 7z: the regression inputs (shared/regressions/7z, kept in testdata) and the valid fixtures.
    for p in sorted((TESTDATA / "archives").rglob("*.7z")):
        copy(t, p)
    for p in sorted((TESTDATA / "differential" / "archive-methods").rglob("*.7z")):
        copy(t, p)
    # Other small archive fixtures (zip, tar, bz2, gz, xz, torch zips).
    for p in sorted((TESTDATA / "archives").rglob("*")):
        if p.is_file() and p.suffix != ".7z":
            copy(t, p)
    for p in sorted((TESTDATA / "differential" / "compression").rglob("*")):
        if p.is_file() and p.name.endswith((".xz", ".lzma", ".zst", ".lz4")):
            copy(t, p)

    pkl = pickle.dumps(BENIGN_OBJ, protocol=2)
    # xz and lzma streams.
    write(t, "gen_pickle.xz", xz(pkl))
    write(t, "gen_pickle.lzma", lzma_alone(pkl))
    write(t, "gen_os_system.pkl.xz", xz(REDUCE_OS_SYSTEM_P2))
    write(t, "gen_zeros_1mb.xz", xz(bytes(1 << 20)))
    write(t, "gen_zeros_1mb.lzma", lzma_alone(bytes(1 << 20)))
    write(t, "gen_zeros_1mb.gz", gz(bytes(1 << 20)))
    write(t, "gen_zeros_1mb.bz2", bz2.compress(bytes(1 << 20), 9))
    # xz with two concatenated streams.
    write(t, "gen_two_streams.xz", xz(pkl) + xz(REDUCE_OS_SYSTEM_P0))
    # Nested zip-in-zip-in-zip with a pickle at the bottom.
    inner = make_zip([("model.pkl", REDUCE_OS_SYSTEM_P2)])
    middle = make_zip([("inner.zip", inner), ("readme.txt", b"middle\n")])
    outer = make_zip([("middle.zip", middle)], method=zipfile.ZIP_STORED)
    write(t, "gen_nested_zip3.zip", outer)
    # tar.gz, tar.xz, tar with a pickle.
    tar = make_tar([("model/model.pkl", pkl), ("model/config.json", b'{"a": 1}')], dirs=["model"])
    write(t, "gen_model.tar.gz", gz(tar))
    write(t, "gen_model.tar.xz", xz(tar))
    write(t, "gen_model_pax.tar", make_tar([("model.pkl", REDUCE_OS_SYSTEM_P0)], fmt=tarfile.PAX_FORMAT))
    # Zip with a pickle member (deflated), and a PyTorch-like zip.
    write(t, "gen_zip_pickle.zip", make_zip([("model.pkl", REDUCE_OS_SYSTEM_P4)]))
    write(t, "gen_pytorch_like.pt", pytorch_like_zip(pickle.dumps({"w": [1.0, 2.0]}, protocol=2)))
    write(t, "gen_pytorch_like_reduce.pt", pytorch_like_zip(REDUCE_OS_SYSTEM_P2))
    # Zip holding an xz'd pickle and a tar.gz.
    write(t, "gen_zip_mixed.zip", make_zip([("a.pkl.xz", xz(pkl)), ("b.tar.gz", gz(tar))], method=zipfile.ZIP_STORED))
    # Plain pickles (the archive target is the whole engine).
    write(t, "gen_plain_p0.pkl", REDUCE_OS_SYSTEM_P0)
    write(t, "gen_plain_p4.pkl", pkl)


def seeds_pickle() -> None:
    t = "pickle"
    for proto in range(0, 6):
        write(t, f"gen_benign_p{proto}.pkl", pickle.dumps(BENIGN_OBJ, protocol=proto))
    write(t, "gen_memo_heavy_p4.pkl", memo_heavy_pickle())
    write(t, "gen_memo_heavy_p2.pkl", pickle.dumps([["x"] * 5] * 200 + [list(range(50))] * 50, protocol=2))
    write(t, "gen_reduce_os_system_p0.pkl", REDUCE_OS_SYSTEM_P0)
    write(t, "gen_reduce_os_system_p2.pkl", REDUCE_OS_SYSTEM_P2)
    write(t, "gen_reduce_os_system_p4.pkl", REDUCE_OS_SYSTEM_P4)
    write(t, "gen_reduce_builtins_eval_p4.pkl", REDUCE_BUILTINS_EVAL_P4)
    write(t, "gen_memo_indirect_os_system.pkl", MEMO_INDIRECT_OS_SYSTEM)
    write(t, "gen_two_pickles.pkl", pickle.dumps(1, protocol=2) + REDUCE_OS_SYSTEM_P2)
    # Protocol 5 with out-of-band-style bytearray8 content.
    write(t, "gen_p5_bytearray.pkl", pickle.dumps(bytearray(b"abc" * 20), protocol=5))
    for p in sorted((TESTDATA / "pickle").rglob("*.pkl")):
        copy(t, p)


def seeds_hdf5() -> None:
    # The hdf5 target prepends the 8-byte HDF5 signature itself: strip it from fixtures that
    # start with it (user-block fixtures keep their bytes; their signature sits further in).
    t = "hdf5"
    for area in ("hdf5", "keras"):
        for p in sorted((TESTDATA / area).rglob("*")):
            if p.is_file() and p.suffix in (".h5", ".hdf5"):
                copy(t, p, strip_prefix=HDF5_MAGIC)
    for p in sorted((TESTDATA / "keras").rglob("keras2_lambda_named.bin")):
        copy(t, p, strip_prefix=HDF5_MAGIC)
    for p in sorted((TESTDATA / "differential" / "hdf5-userblock").rglob("*")):
        if p.is_file() and p.suffix in (".h5", ".hdf5"):
            copy(t, p, strip_prefix=HDF5_MAGIC)


def seeds_onnx() -> None:
    t = "onnx"
    for p in sorted((TESTDATA / "onnx").rglob("*")):
        if p.is_file() and (p.suffix == ".onnx" or p.name == "mlp-unusual-extension.bin"):
            copy(t, p)


def seeds_gguf() -> None:
    t = "gguf"
    for sub in ("benign", "malicious", "malformed"):
        for p in sorted((TESTDATA / "gguf" / sub).iterdir()):
            if p.is_file():
                copy(t, p)


def seeds_image_layer() -> None:
    t = "image_layer"
    # Layer blobs from the OCI layout fixtures (gzip'd tars); manifests/configs are skipped.
    seen = set()
    for p in sorted((TESTDATA / "image").rglob("blobs/sha256/*")):
        data = p.read_bytes()
        if data[:2] == b"\x1f\x8b" and data not in seen:
            seen.add(data)
            write(t, f"fixture_{p.parent.parent.parent.name}_{p.name[:12]}.tar.gz", data)
    pkl = REDUCE_OS_SYSTEM_P2
    # A layer with a plain whiteout, an opaque whiteout, a symlink and a hard link.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("models", "models/old", "etc"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = TAR_MTIME
            tf.addfile(info)
        for name, data in (
            ("models/.wh.model.pkl", b""),
            ("models/old/.wh..wh..opq", b""),
            ("models/new.pkl", pkl),
            ("etc/config.json", b'{"k": "v"}'),
        ):
            tf.addfile(tar_file_info(name, len(data)), io.BytesIO(data))
        link = tarfile.TarInfo("models/link.pkl")
        link.type = tarfile.SYMTYPE
        link.linkname = "new.pkl"
        link.mtime = TAR_MTIME
        tf.addfile(link)
        hard = tarfile.TarInfo("models/hard.pkl")
        hard.type = tarfile.LNKTYPE
        hard.linkname = "models/new.pkl"
        hard.mtime = TAR_MTIME
        tf.addfile(hard)
    layer = buf.getvalue()
    write(t, "gen_whiteout_layer.tar", layer)
    write(t, "gen_whiteout_layer.tar.gz", gz(layer))
    write(t, "gen_whiteout_layer.tar.xz", xz(layer))
    write(t, "gen_whiteout_layer.tar.bz2", bz2.compress(layer, 9))
    # A minimal layer: one file, GNU format, plus an ustar one with a long name.
    write(t, "gen_single_file_gnu.tar", make_tar([("model.pkl", pickle.dumps([1, 2, 3], protocol=2))]))
    write(t, "gen_long_name_pax.tar.gz", gz(make_tar([("d/" + "n" * 150 + ".pkl", b"x")], fmt=tarfile.PAX_FORMAT)))


def main() -> int:
    for t in TARGETS:
        d = SEEDS / t
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    seeds_archive()
    seeds_pickle()
    seeds_hdf5()
    seeds_onnx()
    seeds_gguf()
    seeds_image_layer()

    total = 0
    for t in TARGETS:
        files = sorted((SEEDS / t).iterdir())
        size = sum(f.stat().st_size for f in files)
        total += size
        for f in files:
            assert f.stat().st_size < MAX_SEED, f"{f} is {f.stat().st_size} bytes"
        print(f"{t}: {len(files)} seeds, {size} bytes")
    assert total < MAX_TOTAL, f"seed set is {total} bytes"
    print(f"total: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
