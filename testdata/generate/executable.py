#!/usr/bin/env python3
"""Writes the fixtures for programs shipped as models under testdata/executable/.

Built from the documented layouts, standard library only: llamafile is an Actually Portable
Executable (cosmopolitan's `MZqFpD='` magic, https://justine.lol/ape.html) with its GGUF weights
stored in a zip appended to the program; ELF, PE and Mach-O files start with their magic numbers;
a `#!` script can carry a binary payload after its last line. The programs are only headers
(nothing here can run), and the weights are the committed GGUF fixtures of testdata/gguf.
Deterministic: fixed zip timestamps.

Usage: python -P testdata/generate/executable.py   (from the repository root)
"""

import io
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "executable"
GGUF = (ROOT / "gguf" / "benign" / "tiny-gemma-it.gguf").read_bytes()
SSTI = (ROOT / "gguf" / "malicious" / "ssti-02-llama-drama.gguf").read_bytes()

APE = b"MZqFpD='\n\n\x00\x00\x10\x00\xf8\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 48
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 40
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x40\x00\x00\x00" + b"PE\x00\x00"
MACHO = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00\x02\x00\x00\x00" + b"\x00" * 16
SCRIPT = b"#!/bin/sh\nexec ./llama-server -m \"$0\" \"$@\"\n\x00"


def stored_zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def pad(b, n=4096):
    return b + b"\x00" * (-len(b) % n)


def main():
    for kind in ("benign", "malicious", "malformed"):
        d = OUT / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    w = lambda kind, name, data: (OUT / kind / name).write_bytes(data)  # noqa: E731
    # A zip appended to a program: its offsets are relative to the zip, as llamafile's zipalign
    # leaves them readable by unzip (which allows a prefix).
    w("malicious", "gemma.llamafile", pad(APE) + stored_zip([("gemma-it.gguf", GGUF), (".args", b"-m\ngemma-it.gguf\n")]))
    w("malicious", "template-injection.llamafile", pad(APE) + stored_zip([("model.gguf", SSTI)]))
    w("malicious", "elf-appended-gguf.gguf", pad(ELF) + GGUF)
    w("malicious", "pe-appended-gguf.bin", pad(PE) + GGUF)
    w("malicious", "macho-appended-gguf.bin", pad(MACHO) + GGUF)
    w("malicious", "script-prelude.llamafile", SCRIPT + GGUF)
    w("malicious", "ape-without-name", pad(APE) + GGUF)
    w("malformed", "truncated-elf.gguf", b"\x7fELF\x02")
    w("malformed", "ape-truncated-zip.llamafile", pad(APE) + stored_zip([("model.gguf", GGUF)])[:-30])


if __name__ == "__main__":
    main()
