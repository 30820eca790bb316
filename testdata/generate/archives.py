#!/usr/bin/env python3
"""Writes the archive fixtures under testdata/archives/: containers that hide content from strict
readers (zip header tricks, polyglots, nested and compressed archives, traversal names, links,
bombs). Payloads are inert (`os.system('true')`). This script only writes bytes; it never loads
a pickle.

Run: python3 testdata/generate/archives.py   (needs py7zr for the 7z fixtures)
"""
import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "archives")

# Protocol-0 pickle that calls os.system('true'): GLOBAL, MARK, STRING, TUPLE, REDUCE, STOP.
EVIL = b"cos\nsystem\n(S'true'\ntR."
# Protocol-2 pickle of {'a': 1}: benign plain data.
BENIGN = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return bytearray(buf.getvalue())


def torch_zip(pkl):
    return zip_bytes([("archive/data.pkl", pkl), ("archive/data/0", b"\x80\x04" + bytes(62)), ("archive/version", b"3\n")])


def central_dir_offset(z):
    eocd = z.rfind(b"PK\x05\x06")
    return struct.unpack_from("<I", z, eocd + 16)[0]


def main():
    # Benign: a plain zip of data, a tar.gz of a benign pickle, nested zip in zip.
    write("benign/plain.zip", bytes(zip_bytes([("readme.txt", b"hello\n"), ("data.pkl", BENIGN)])))
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w:gz") as t:
        info = tarfile.TarInfo("model/data.pkl")
        info.size = len(BENIGN)
        t.addfile(info, io.BytesIO(BENIGN))
    write("benign/model.tar.gz", tbuf.getvalue())

    # Malicious: pickle under a non-pickle name inside a zip (content sniffing, C1).
    write("malicious/hidden-name.zip", bytes(zip_bytes([("notes/data.txt", EVIL)])))
    # Torch-style zip with a payload in data.pkl, nested inside another zip (C9).
    write("malicious/nested.zip", bytes(zip_bytes([("inner/model.pt", bytes(torch_zip(EVIL)))])))
    # Compressed archives: tar.bz2, tar.xz, zip with deflate, single-file gzip/xz/zstd-less streams.
    for ext, mode in (("tar.bz2", "w:bz2"), ("tar.xz", "w:xz")):
        tb = io.BytesIO()
        with tarfile.open(fileobj=tb, mode=mode) as t:
            info = tarfile.TarInfo("payload.pkl")
            info.size = len(EVIL)
            t.addfile(info, io.BytesIO(EVIL))
        write(f"malicious/payload.{ext}", tb.getvalue())
    write("malicious/deflated.zip", bytes(zip_bytes([("w/data.pkl", EVIL * 3)], zipfile.ZIP_DEFLATED)))
    write("malicious/model.pkl.gz", gzip.compress(EVIL))
    write("malicious/model.pkl.bz2", bz2.compress(EVIL))
    write("malicious/model.pkl.xz", lzma.compress(EVIL))
    write("malicious/model.joblib", zlib.compress(EVIL))

    # Zip header tricks (CVE-2025-1944 / -1945 / -10156).
    z = torch_zip(EVIL)
    i = z.find(b"archive/data.pkl")  # first occurrence: the local header
    z[i:i + len(b"archive/data.pkl")] = b"archive/datap.kl"
    write("malicious/local-name-mismatch.pt", bytes(z))
    z = torch_zip(EVIL)
    cd = central_dir_offset(z)
    struct.pack_into("<H", z, 6, 0x0001)  # local header flag: encrypted
    struct.pack_into("<H", z, cd + 8, 0x0001)  # central directory flag
    write("malicious/flag-encrypted.pt", bytes(z))
    # Edit the stored payload in place (`os` -> `nt`, same length) without fixing the CRC.
    z = torch_zip(EVIL)
    data_at = z.find(EVIL)
    z[data_at + 1:data_at + 3] = b"nt"
    write("malicious/crc-mismatch.pt", bytes(z))
    # Polyglot: PNG signature prepended to a torch zip.
    write("malicious/png-polyglot.pt", b"\x89PNG\r\n\x1a\n" + bytes(16) + bytes(torch_zip(EVIL)))
    # Duplicate member names: benign first, malicious second (rename in local and central headers).
    zb = bytearray(zip_bytes([("archive/data.pkl", BENIGN), ("archive/data.pk2", EVIL)]))
    for _ in range(2):
        j = zb.find(b"archive/data.pk2")
        zb[j:j + 16] = b"archive/data.pkl"
    write("malicious/duplicate-member.zip", bytes(zb))

    # Traversal and links.
    write("malicious/traversal.zip", bytes(zip_bytes([("../../evil.pkl", EVIL)])))
    tb = io.BytesIO()
    with tarfile.open(fileobj=tb, mode="w") as t:
        link = tarfile.TarInfo("weights.bin")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        t.addfile(link)
        info = tarfile.TarInfo("/abs/model.pkl")
        info.size = len(BENIGN)
        t.addfile(info, io.BytesIO(BENIGN))
    write("malicious/links.tar", tb.getvalue())

    # A bzip2 bomb: 256 MiB of zeros in a few hundred bytes, far above the default ratio limit.
    write("malformed/bomb.bz2", bz2.compress(bytes(256 * 1024 * 1024), 9))
    # Truncated gzip and a corrupt zip directory.
    write("malformed/truncated.pkl.gz", gzip.compress(EVIL + bytes(4096))[:40])
    z = torch_zip(BENIGN)
    write("malformed/no-central-directory.zip", bytes(z[: central_dir_offset(z)]))

    try:
        import py7zr
    except ImportError:
        print("py7zr missing: 7z fixtures not written")
        return
    sb = io.BytesIO()
    with py7zr.SevenZipFile(sb, "w") as s:
        s.writestr(EVIL, "model/data.pkl")
        s.writestr(b"hello\n", "README")
    write("malicious/payload.7z", sb.getvalue())
    sb = io.BytesIO()
    with py7zr.SevenZipFile(sb, "w", password="secret", header_encryption=True) as s:
        s.writestr(EVIL, "model/data.pkl")
    write("malicious/encrypted.7z", sb.getvalue())


if __name__ == "__main__":
    main()
