#!/usr/bin/env python3
"""Writes the RAR archive fixtures under testdata/rar/.

RARLab's `rar` (the only RAR writer) is non-free and not installable here, so every archive is
written byte by byte from the published layouts: RARLab's "RAR 5.0 archive format" technote
(https://www.rarlab.com/technote.htm) and the RAR 4.x technote that ships with unrar 3.x/4.x
(`technote.txt`: marker block, archive header 0x73, file header 0x74, end block 0x7b). Header
CRCs are right unless a fixture is about a wrong one. Members are stored (method 0); compressed
members are headers whose data is filler. The `rars-*` fixtures are written by an independent
RAR writer, the `rars` package (pip `rars==0.12.3`, a Rust RAR implementation with Python
bindings): real compressed, solid, encrypted and multi-volume archives in both formats, so the
header reader is checked against a writer's output and not only against this file's reading of
the technotes. The `tests/formats/rar.rs` oracle extracts every fixture with 7-Zip (p7zip's RAR
handlers: listing and stored members) and checks that modelgate scanned whatever 7-Zip extracted.
Payloads are inert (`os.system('true')`). The hand-written fixtures are the same bytes every run;
the encrypted `rars-*` ones are not (random salts).

Usage: python3 -P testdata/generate/rar.py   (from the repository root)
Needs: pip install rars==0.12.3
"""

import json
import shutil
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "rar"
# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."
CONFIG = json.dumps({"model_type": "bert", "hidden_size": 4}).encode()


def safetensors():
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0)


WEIGHTS = safetensors()


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


# --- RAR 5.0 -----------------------------------------------------------------------------------

SIG5 = b"Rar!\x1a\x07\x01\x00"


def vint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def block5(htype, body, extra=b"", data=None, hflags=0, bad_crc=False, data_size=None):
    """One RAR 5 header: CRC32, size, type, flags, [extra size], [data size], body, extra.
    `data_size` overrides the declared data size."""
    flags = hflags | (0x01 if extra else 0) | (0x02 if data is not None else 0)
    h = vint(htype) + vint(flags)
    if extra:
        h += vint(len(extra))
    if data is not None:
        h += vint(len(data) if data_size is None else data_size)
    h += body + extra
    sized = vint(len(h)) + h
    c = crc(sized) ^ (0xDEADBEEF if bad_crc else 0)
    return struct.pack("<I", c) + sized + (data or b"")


def main5(archive_flags=0):
    return block5(1, vint(archive_flags))


def end5():
    return block5(5, vint(0))


def file5(name, data, method=0, host=1, directory=False, extra=b"", hflags=0, unp=None,
          bad_crc=False, htype=2, data_crc=None, data_size=None):
    ff = 0x04 | (0x01 if directory else 0)
    attr = 0o040755 if directory else 0o100644
    if host == 0:
        attr = 0x10 if directory else 0x20
    unp = len(data) if unp is None else unp
    body = vint(ff) + vint(unp) + vint(attr)
    body += struct.pack("<I", crc(data) if data_crc is None else data_crc)
    body += vint(method << 7) + vint(host) + vint(len(name)) + name
    return block5(htype, body, extra=extra, data=None if directory else data, hflags=hflags,
                  bad_crc=bad_crc, data_size=data_size)


def record(rtype, payload):
    """A RAR 5 extra-area record: size (of type and data), type, data."""
    body = vint(rtype) + payload
    return vint(len(body)) + body


def rar5(*blocks, main=None):
    return SIG5 + (main if main is not None else main5()) + b"".join(blocks) + end5()


# --- RAR 4.x -----------------------------------------------------------------------------------

SIG4 = b"Rar!\x1a\x07\x00"


def block4(htype, flags, rest, bad_crc=False):
    """HEAD_CRC (low 16 bits of the CRC32 of everything after it), HEAD_TYPE, HEAD_FLAGS,
    HEAD_SIZE, then the type's fields."""
    size = 7 + len(rest)
    tail = struct.pack("<BHH", htype, flags, size) + rest
    c = (crc(tail) & 0xFFFF) ^ (0xBEEF if bad_crc else 0)
    return struct.pack("<H", c) + tail


def main4(flags=0):
    return block4(0x73, flags, struct.pack("<HI", 0, 0))


def end4():
    return block4(0x7B, 0x4000, b"")


def file4(name, data, method=0x30, host=2, flags=0, attr=0x20, htype=0x74, bad_crc=False):
    rest = struct.pack(
        "<IIBIIBBHI", len(data), len(data), host, crc(data), 0x5C210000, 29, method, len(name),
        attr,
    )
    return block4(htype, 0x8000 | flags, rest + name, bad_crc=bad_crc) + data


def file4_commented(name, data, comment):
    """A RAR 1.5-2.x file header carrying an old-style file comment (LHD_COMMENT, a 0x75
    subblock after the name, inside the header). `unrar` checks such a header's CRC only over the
    fields it reads (`GetCRC15(ProcessedOnly)`), so the CRC leaves the comment out."""
    rest = struct.pack(
        "<IIBIIBBHI", len(data), len(data), 0, crc(data), 0x5C210000, 20, 0x30, len(name), 0x20,
    ) + name
    sub = struct.pack("<BHHHBBH", 0x75, 0, 7 + 6 + len(comment), len(comment), 15, 0x30,
                      crc(comment) & 0xFFFF) + comment
    sub = struct.pack("<H", crc(sub) & 0xFFFF) + sub
    head = struct.pack("<BHH", 0x74, 0x8000 | 0x0008, 7 + len(rest) + len(sub)) + rest
    return struct.pack("<H", crc(head) & 0xFFFF) + head + sub + data


def rar4(*blocks, main=None):
    return SIG4 + (main if main is not None else main4()) + b"".join(blocks) + end4()


def unicode_name(ascii_name, wide):
    """RAR 4's Unicode name field: the ASCII name, NUL, then the compact encoding of `wide`
    (high byte 0, every unit as a full 16-bit value: opcode 2)."""
    enc = bytearray([0])
    units = wide.encode("utf-16-le")
    units = [units[i:i + 2] for i in range(0, len(units), 2)]
    for i in range(0, len(units), 4):
        group = units[i:i + 4]
        flags = 0
        for j in range(4):
            flags = (flags << 2) | (2 if j < len(group) else 0)
        enc.append(flags)
        for u in group:
            enc += u
    return ascii_name + b"\0" + bytes(enc)


# --- fixtures ----------------------------------------------------------------------------------

# A self-extractor prelude: a PE stub's first bytes and filler (nothing in it can run).
SFX_PRELUDE = b"MZ" + b"\x90" * 62 + b"This program cannot be run in DOS mode.\r\n" + bytes(4000)


def fixtures():
    benign = {
        "v4-file-comment.rar": rar4(file4_commented(b"config.json", CONFIG, b"file comment")),
        "v5-stored.rar": rar5(
            file5(b"model", b"", directory=True),
            file5(b"model/model.safetensors", WEIGHTS),
            file5(b"model/config.json", CONFIG),
        ),
        "v4-stored.rar": rar4(
            file4(b"model\\model.safetensors", WEIGHTS),
            file4(b"model\\config.json", CONFIG),
        ),
    }
    malicious = {
        "v5-pickle.rar": rar5(file5(b"model.pkl", PICKLE)),
        "v4-pickle.rar": rar4(file4(b"model.pkl", PICKLE)),
        # The ASCII name says notes.txt; unrar and 7-Zip use the Unicode name.
        "v4-unicode-name.rar": rar4(
            file4(unicode_name(b"notes.txt", "data.pkl"), PICKLE, flags=0x0200),
        ),
        # unrar reads the name as a C string: `model.pkl`.
        "v4-nul-name.rar": rar4(file4(b"model.pkl\0.txt", PICKLE)),
        "v5-sfx.exe": SFX_PRELUDE + rar5(file5(b"model.pkl", PICKLE)),
        "v5-traversal.rar": rar5(file5(b"../../evil.pkl", PICKLE)),
        "v5-symlink.rar": rar5(
            file5(b"weights.bin", b"", extra=record(5, vint(1) + vint(0) + vint(11) + b"/etc/passwd")),
        ),
        "v4-symlink.rar": rar4(file4(b"weights.bin", b"/etc/passwd", host=3, attr=0o120777)),
        "v5-compressed.rar": rar5(file5(b"model.pkl", bytes(range(64)), method=3, unp=4096)),
        "v4-compressed.rar": rar4(file4(b"model.pkl", bytes(range(64)), method=0x33)),
        # A file-encryption record (type 1) on a member: AES-256 data without a password.
        "v5-encrypted-member.rar": rar5(
            file5(b"model.pkl", bytes(range(32)), extra=record(1, vint(0) + vint(0) + bytes(33))),
        ),
        "v4-encrypted-member.rar": rar4(file4(b"model.pkl", bytes(range(32)), flags=0x0004)),
        # An archive encryption header (type 4) right after the signature: nothing can be listed.
        "v5-encrypted-headers.rar": SIG5 + block5(4, vint(0) + vint(0) + vint(15) + bytes(16))
        + bytes(64),
        "v4-encrypted-headers.rar": SIG4 + main4(flags=0x0080) + bytes(64),
        # The first volume of a set: the member continues in the next volume.
        "v5-split.part1.rar": rar5(
            file5(b"model.pkl", PICKLE[:10], hflags=0x10, unp=len(PICKLE)),
            main=main5(archive_flags=0x01),
        ),
        "v4-split.part1.rar": rar4(
            file4(b"model.pkl", PICKLE[:10], flags=0x0002), main=main4(flags=0x0001),
        ),
        "v5-duplicate.rar": rar5(
            file5(b"model.pkl", b"\x80\x04K\x01."),
            file5(b"model.pkl", PICKLE),
        ),
        # unrar warns about the header CRC and extracts the member anyway.
        "v5-header-crc.rar": rar5(file5(b"model.pkl", PICKLE, bad_crc=True)),
        "v4-header-crc.rar": rar4(file4(b"model.pkl", PICKLE, bad_crc=True)),
        # RAR 1.4 (`RE~^`, which unrar still extracts): headers modelgate does not read.
        "v14-archive.rar": b"RE~^" + struct.pack("<HB", 7, 0) + bytes(32),
        # A stored payload under a tensor-like name in a directory.
        "v5-hidden-name.rar": rar5(
            file5(b"model", b"", directory=True), file5(b"model/weights.bin", PICKLE),
        ),
        # An NTFS stream (service header STM) carrying the payload, behind a benign file.
        "v5-stream.rar": rar5(
            file5(b"config.json", CONFIG),
            file5(b"STM", PICKLE, htype=3),
        ),
    }
    good = rar5(file5(b"model.pkl", PICKLE))
    malformed = {
        "v5-truncated.rar": good[: len(good) - 20],
        "v5-garbage.rar": SIG5 + b"\xff" * 40,
        "v4-short-header.rar": SIG4 + struct.pack("<HBHH", 0, 0x73, 0, 3),
        "v5-stored-size-mismatch.rar": rar5(file5(b"model.pkl", PICKLE, unp=len(PICKLE) + 100)),
        # A data size of 1 TiB on a 23-byte member: its data runs past the end.
        "v5-huge-data-size.rar": SIG5 + main5() + file5(b"model.pkl", PICKLE, data_size=1 << 40),
    }
    return {"benign": benign, "malicious": malicious, "malformed": malformed}


def written_by_rars():
    """Archives from the `rars` writer (RarBuilder): format rar50 (RAR 5) or rar29 (RAR 4)."""
    import rars

    def build(members, **kw):
        b = rars.RarBuilder(**kw)
        for name, data in members:
            b.add_bytes(data, name, mtime=0)
        return b.to_bytes()

    model = [("model/model.safetensors", WEIGHTS), ("model/config.json", CONFIG)]
    payload = [("README.txt", b"model card\n"), ("model.pkl", PICKLE)]
    # Compressible (the pickle ends at its STOP opcode; the padding after it is never read):
    # a writer stores what does not shrink.
    packed = [("README.txt", b"model card\n" * 200), ("model.pkl", PICKLE + b" " * 4096)]
    benign = {
        "rars-v5-stored.rar": build(model, store=True),
        "rars-v4-stored.rar": build(model, format="rar29", store=True),
    }
    malicious = {
        "rars-v5-stored-pickle.rar": build(payload, store=True),
        "rars-v4-stored-pickle.rar": build(payload, format="rar29", store=True),
        "rars-v5-compressed.rar": build(packed),
        "rars-v4-compressed.rar": build(packed, format="rar29"),
        "rars-v5-solid.rar": build(packed, solid=True),
        "rars-v5-encrypted.rar": build(packed, password="secret"),
        "rars-v5-encrypted-headers.rar": build(payload, password="secret", encrypt_headers=True),
        "rars-v4-encrypted-headers.rar": build(payload, format="rar30", password="secret",
                                               encrypt_headers=True),
    }
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        b = rars.RarBuilder(store=True, volume_size=200)
        b.add_bytes(PICKLE * 20, "model.pkl", mtime=0)
        b.write_volumes(str(Path(tmp) / "set.part1.rar"))
        first = sorted(Path(tmp).iterdir())[0]
        malicious["rars-v5-volume.part1.rar"] = first.read_bytes()
    return benign, malicious


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    sets = fixtures()
    benign, malicious = written_by_rars()
    sets["benign"].update(benign)
    sets["malicious"].update(malicious)
    for kind, files in sets.items():
        d = OUT / kind
        d.mkdir(parents=True)
        for name, data in files.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
