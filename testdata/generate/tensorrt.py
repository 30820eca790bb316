#!/usr/bin/env python3
"""Writes the TensorRT engine fixtures under testdata/tensorrt/.

TensorRT builds engines only on a GPU, so no fixture here is written by TensorRT: each follows the
public part of the plan layout, the header `trtexec --getPlanVersionOnly` reads (TensorRT OSS
samples/common/sampleEngines.cpp: the 32-bit tag 0x74727466, bytes `ftrt`; a 32-bit
serialization kind, 0; the serialization version byte at 8; TensorRT major.minor.patch.build at
bytes 24..28), followed by opaque bytes and, where a fixture needs them, CUDA ELF images (GPU
code, `e_machine` 190), an x86-64 ELF image (host code), plugin names and a plugin library path.
Ultralytics-wrapped engines put a 32-bit little-endian length and that much JSON metadata first,
as Ultralytics' exporter does. Every payload is inert (the ELF images are headers only, the
expression calls `true`).

Usage: python -P testdata/generate/tensorrt.py   (from the repository root)
Needs: the standard library only.
"""

import json
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tensorrt"


def header(version=(10, 8, 0, 43), serialization=239, kind=0):
    h = b"ftrt" + struct.pack("<I", kind) + bytes([serialization]) + b"\0" * 15
    return h + bytes(version)


def elf(machine):
    """An ELF64 little-endian header (64 bytes) for `machine`, nothing after it."""
    e = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    e += struct.pack("<HHI", 3, machine, 1)  # ET_DYN, e_machine, EV_CURRENT
    return e.ljust(64, b"\0")


def opaque(n, seed):
    """Deterministic filler bytes that contain no printable runs and no ELF magic."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        b = (x >> 33) & 0xFF
        out.append(b if b < 0x20 or b >= 0x80 else b | 0x80)
    return bytes(out)


def plan(*parts, seed=1):
    body = header()
    for p in parts:
        body += opaque(256, seed) + p
        seed += 1
    return body + opaque(256, seed)


def ultralytics(metadata, engine):
    meta = json.dumps(metadata).encode()
    return struct.pack("<I", len(meta)) + meta + engine


YOLO_META = {
    "description": "Ultralytics YOLOv8n model trained on coco8.yaml",
    "author": "Ultralytics",
    "date": "2026-01-01T00:00:00",
    "version": "8.3.0",
    "license": "AGPL-3.0 License (https://ultralytics.com/license)",
    "stride": 32,
    "task": "detect",
    "batch": 1,
    "imgsz": [640, 640],
    "names": {"0": "person", "1": "bicycle"},
    "args": {"batch": 1, "half": True, "int8": False, "dynamic": False, "nms": False},
}

BENIGN = {
    # A plan with two CUDA images (its GPU kernels): opaque, high by the fail-closed rule.
    "gpu-kernels.engine": plan(elf(190), elf(190)),
    # The same behind Ultralytics metadata whose values are literals (imgsz as a string literal,
    # as older exporters wrote it).
    "ultralytics-yolo.engine": ultralytics(dict(YOLO_META, imgsz="[640, 640]"), plan(elf(190))),
}

MALICIOUS = {
    "plugin-library.plan": plan(elf(190), b"\0/opt/plugins/libcustom_nms_plugin.so\0"),
    "plugin-names.engine": plan(elf(190), b"\0EfficientNMS_TRT\0\x01MyShellPlugin\0"),
    "host-code.engine": plan(elf(190), elf(62)),
    "ultralytics-names-eval.engine": ultralytics(
        dict(YOLO_META, names="__import__('os').system('true') or {0: 'person'}"), plan(elf(190))
    ),
}

MALFORMED = {
    "not-a-plan.engine": b"GIF89a not an engine, whatever the name says\n" + opaque(64, 9),
    "short-header.plan": b"ftrt\0\0\0\0\xef",
    "ultralytics-prefix-past-end.engine": struct.pack("<I", 4096) + b'{"task": "detect"}',
    "ultralytics-metadata-not-json.engine": struct.pack("<I", 12) + b"{not json}!!" + plan(elf(190)),
}


def main():
    for kind, files in (("benign", BENIGN), ("malicious", MALICIOUS), ("malformed", MALFORMED)):
        d = OUT / kind
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
