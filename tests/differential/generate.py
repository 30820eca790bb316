#!/usr/bin/env python3
"""Loader-differential case generator (test-only; see issue 10, "the real loaders as oracle").

For every attack class, writes K structural variants drawn with a seeded RNG. Each variant is a
*pair* rendered from one template and one structural spec:

* ``payload``: the dangerous callable is a real one (``os.system``, ``builtins.exec``,
  ``subprocess.Popen``, ...) with a harmless argument. Payloads are never loaded by anything.
* ``twin``: the same template and spec with the callable replaced by ``modelgate_canary.hit``
  (tests/differential/modelgate_canary.py), which records that a loader reached it.

oracle.py then runs the real loaders on every twin; a variant whose twin reaches the canary is
"confirmed" and modelgate must flag its payload at high or critical severity. Classes also emit
plain benign files (label lists, compressed joblib dumps, benign templates and model code, ...)
that modelgate must not flag at high or critical.

Usage: generate.py --seed N --per-class K --out DIR [--classes a,b,...]
Writes DIR/cases.json and one directory per case under DIR/<class>/<variant>/.
"""

import argparse
import base64
import bz2
import codecs
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import random
import shutil
import struct
import zipfile
import zlib

CANARY = ("modelgate_canary", "hit")

# (module, name, harmless argument). Payloads are never executed; the argument only keeps the
# call shape realistic.
PICKLE_CALLS = [
    ("os", "system", "true"),
    ("posix", "system", "true"),
    ("nt", "system", "true"),
    ("builtins", "exec", "None"),
    ("builtins", "eval", "0"),
    ("subprocess", "Popen", "true"),
    ("subprocess", "check_output", "true"),
    ("subprocess", "call", "true"),
    ("subprocess", "getoutput", "true"),
    ("os", "popen", "true"),
    ("pty", "spawn", "true"),
]

TORCH_MAGIC = 0x1950A86A20F9469CFC6C


# --------------------------------------------------------------------------------------------
# Pickle opcode building blocks. A *spec* (a dict of structural choices drawn once per variant)
# is rendered twice, with the dangerous global and with the canary.
# --------------------------------------------------------------------------------------------


def u32(n):
    return struct.pack("<I", n)


def push_str(s, kind):
    """One opcode pushing the str ``s`` (every string opcode a Python 3 unpickler turns into str)."""
    b = s.encode("utf-8")
    if kind == "V":  # UNICODE, protocol 0
        return b"V" + s.encode("raw-unicode-escape") + b"\n"
    if kind == "S":  # STRING, protocol 0 (decoded as ASCII by Python 3)
        return b"S'" + b + b"'\n"
    if kind == "U":  # SHORT_BINSTRING, protocol 1
        return b"U" + bytes([len(b)]) + b
    if kind == "T":  # BINSTRING, protocol 1
        return b"T" + u32(len(b)) + b
    if kind == "X":  # BINUNICODE, protocol 1
        return b"X" + u32(len(b)) + b
    if kind == "\x8c":  # SHORT_BINUNICODE, protocol 4
        return b"\x8c" + bytes([len(b)]) + b
    if kind == "\x8d":  # BINUNICODE8, protocol 4
        return b"\x8d" + struct.pack("<Q", len(b)) + b
    raise ValueError(kind)


TEXT_STR_KINDS = ["V", "S"]
P1_STR_KINDS = ["V", "S", "U", "T", "X"]
BIN_STR_KINDS = ["U", "T", "X", "\x8c", "\x8d", "V", "S"]


def push_junk(data, kind):
    """One opcode pushing a long string or bytes object (used as a first opcode or filler)."""
    if kind == "B":
        return b"B" + u32(len(data)) + data
    if kind == "C":
        return b"C" + bytes([min(len(data), 255)]) + data[:255]
    if kind == "\x8e":
        return b"\x8e" + struct.pack("<Q", len(data)) + data
    if kind == "\x96":
        return b"\x96" + struct.pack("<Q", len(data)) + data
    text = data.decode("latin-1")
    if kind in ("X", "\x8d"):
        return push_str(text, kind)
    # STRING and BINSTRING are decoded as ASCII by Python 3 and UNICODE ends at a newline: keep
    # their junk printable ASCII (the magic bytes stay where they are).
    safe = "".join(c if c.isascii() and c.isprintable() and c not in "'\\" else "_" for c in text)
    if kind == "T":
        return b"T" + u32(len(safe)) + safe.encode("ascii")
    if kind in ("V", "S"):
        return push_str(safe, kind)
    raise ValueError(kind)


def memo_key_text(k, style):
    """Text forms of a memo key that Python's int() accepts for the value k."""
    s = str(k)
    if style == "plain":
        return s
    if style == "zeros":
        return "00" + s
    if style == "lead_space":
        return " " + s
    if style == "trail_space":
        return s + " "
    if style == "plus":
        return "+" + s
    if style == "underscore":
        return s[0] + "_" + s[1:] if len(s) > 1 else "0_" + s
    if style == "tab":
        return "\t" + s + "\t"
    raise ValueError(style)


MEMO_STYLES = ["plain", "zeros", "lead_space", "trail_space", "plus", "underscore", "tab"]


def memo_op(k, form, style):
    """A memo opcode for key k: text forms (PUT "p", GET "g") spell the key in ``style``; binary
    forms take one byte (BINPUT "q", BINGET "h") or four (LONG_BINPUT "r", LONG_BINGET "j")."""
    if form in ("p", "g"):
        return form.encode() + memo_key_text(k, style).encode() + b"\n"
    if form in ("q", "h"):
        return form.encode() + bytes([k & 0xFF])
    if form in ("r", "j"):
        return form.encode() + u32(k)
    raise ValueError(form)


def draw_call_spec(rng, text_only=False, proto1=False, embedded=False):
    """Structural choices for one call of a global with one string argument. ``embedded``: the
    call is spliced into an existing stream whose memo is in use, so memo keys are fresh ones."""
    kinds = TEXT_STR_KINDS if text_only else (P1_STR_KINDS if proto1 else BIN_STR_KINDS)
    forms = ["reduce_mark", "inst", "obj"]
    if not text_only and not proto1:
        forms += ["reduce_tuple1", "reduce_tuple1"]
    spec = {
        "global": "c" if (text_only or proto1) else rng.choice(["c", "c", "stack"]),
        "form": rng.choice(forms),
        "arg_kind": rng.choice(kinds),
        "name_kind": rng.choice([k for k in kinds if k not in ("V", "S")] or ["X"]),
        "memo": rng.random() < 0.35,
    }
    if spec["memo"]:
        key = rng.choice([0, 1, 7, 10, 12, 100, 255])
        spec["memo_key"] = key
        if text_only:
            spec["memo_put"], spec["memo_get"] = "p", "g"
        else:
            spec["memo_put"] = rng.choice(["p", "q", "r", "memoize"] if not proto1 else ["p", "q", "r"])
            spec["memo_get"] = rng.choice(["g", "h", "j"])
        spec["memo_put_style"] = rng.choice(MEMO_STYLES)
        spec["memo_get_style"] = rng.choice(MEMO_STYLES)
    if spec.get("memo") and embedded:
        spec["memo_key"] = rng.choice([1000, 4096, 70000])
        spec["memo_put"] = rng.choice(["p", "r"])
        spec["memo_get"] = rng.choice(["g", "j"])
    if spec["form"] == "inst":
        spec["memo"] = False
    return spec


def render_global(spec, mod, name):
    if spec["global"] == "stack":
        kind = spec["name_kind"] if spec["name_kind"] in ("X", "\x8c", "\x8d") else "\x8c"
        return push_str(mod, kind) + push_str(name, kind) + b"\x93"
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def render_memo(spec, body):
    """Stores the global on the memo, pops it and fetches it back (memo indirection)."""
    if not spec.get("memo"):
        return body
    key = spec["memo_key"]
    put = spec["memo_put"]
    if put == "memoize":
        key = 0  # MEMOIZE stores at len(memo), which is 0 in a fresh stream
        out = body + b"\x94"
    else:
        out = body + memo_op(key, put, spec["memo_put_style"])
    return out + b"0" + memo_op(key, spec["memo_get"], spec["memo_get_style"])


def render_call(spec, mod, name, arg):
    """Opcodes that push mod.name(arg)."""
    a = push_str(arg, spec["arg_kind"])
    if spec["form"] == "inst":
        return b"(" + a + b"i" + mod.encode() + b"\n" + name.encode() + b"\n"
    g = render_memo(spec, render_global(spec, mod, name))
    if spec["form"] == "obj":
        return b"(" + g + a + b"o"
    if spec["form"] == "reduce_tuple1":
        return g + a + b"\x85R"
    return g + b"(" + a + b"tR"


def draw_pickle_spec(rng):
    """A whole-stream spec: first opcode, framing, prefix junk, memo forms, trailing bytes."""
    first = rng.choice(
        ["proto", "none", "frame", "proto_frame", "longstr", "longstr_pop", "mark", "mark_pop",
         "text0", "text1", "stacked_benign", "stacked_torch", "junk_pop", "trailing"]
    )
    text_only = first == "text0"
    proto1 = first == "text1"
    spec = {"first": first, "call": draw_call_spec(rng, text_only, proto1)}
    spec["proto"] = rng.choice([2, 3, 4, 5])
    spec["junk_kind"] = rng.choice(["B", "C", "\x8e", "\x96", "X", "\x8d", "T", "V", "S"])
    spec["junk_len"] = rng.choice([1, 5, 70, 255, 256, 300, 4096, 70000])
    spec["junk_magic"] = rng.choice([None, b"TFL3", b"ustar\x0000", b"PK\x03\x04", b"\x89HDF\r\n\x1a\n",
                                     b"\x93NUMPY", b"GGUF", b"{\"", b"\x08\x01"])
    spec["junk_seed"] = rng.randrange(1 << 30)
    spec["benign_proto"] = rng.choice([0, 1, 2, 3, 4, 5])
    return spec


def junk_bytes(spec):
    r = random.Random(spec["junk_seed"])
    n = spec["junk_len"]
    data = bytearray(r.getrandbits(8) for _ in range(min(n, 512)))
    data = (bytes(data) * (n // max(len(data), 1) + 1))[:n]
    magic = spec.get("junk_magic")
    if magic:
        data = bytearray(data)
        # Magic placed where a sniffer looks for it: TFL3 at byte 4 of the file (the junk opcode
        # header takes 1-9 bytes, so also at a few offsets), tar's "ustar" at 257.
        for off in (0, 2, 3, 252, 257 - 9, 257 - 5, 257 - 2):
            if off + len(magic) <= len(data):
                data[off:off + len(magic)] = magic
        data = bytes(data)
    return data


def render_pickle(spec, mod, name, arg):
    first = spec["first"]
    call = render_call(spec["call"], mod, name, arg)
    if first == "text0" or first == "text1":
        return call + b"."
    body = call
    if first in ("longstr", "longstr_pop"):
        j = push_junk(junk_bytes(spec), spec["junk_kind"])
        body = j + (b"0" if first == "longstr_pop" else b"") + call
    elif first == "mark":
        body = b"(" + call + b"t"
    elif first == "mark_pop":
        body = b"(" + push_junk(junk_bytes(spec), spec["junk_kind"]) + b"1" + call
    elif first == "junk_pop":
        body = b"N0" + push_junk(junk_bytes(spec), "B") + b"0" + call
    stream = body + b"."
    if first == "proto":
        return b"\x80" + bytes([spec["proto"]]) + stream
    if first == "frame":
        return b"\x95" + struct.pack("<Q", len(stream)) + stream
    if first == "proto_frame":
        return b"\x80\x04\x95" + struct.pack("<Q", len(stream)) + stream
    if first == "stacked_benign":
        benign = pickle.dumps({"weights": [1.0, 2.0], "name": "model"}, protocol=spec["benign_proto"])
        return benign + b"\x80\x02" + stream
    if first == "stacked_torch":
        # torch's legacy (non-zip) format: magic number, protocol version and sys info pickles,
        # then the object pickle. torch.load(weights_only=False) unpickles all four in order.
        head = pickle.dumps(TORCH_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2)
        head += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                              "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
        return head + b"\x80\x02" + stream
    if first == "trailing":
        return b"\x80\x02" + stream + junk_bytes(spec)
    return stream


def pick_call(rng):
    return rng.choice(PICKLE_CALLS)


# --------------------------------------------------------------------------------------------
# Case bookkeeping.
# --------------------------------------------------------------------------------------------


class Out:
    def __init__(self, root):
        self.root = root
        self.cases = []

    def path(self, cls, vid, role, name):
        p = os.path.join(self.root, cls, vid, role, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write(self, cls, vid, role, name, data):
        p = self.path(cls, vid, role, name)
        with open(p, "wb") as f:
            f.write(data)
        return os.path.relpath(p, self.root)

    def attack(self, cls, vid, payload, twin, loaders, desc, control_ok=True, **extra):
        self.cases.append({"class": cls, "variant": vid, "kind": "attack", "payload": payload,
                           "twin": twin, "loaders": loaders, "desc": desc,
                           "control_ok": control_ok, **extra})

    def benign(self, cls, vid, path, desc, limits=None):
        """A benign file: no high or critical finding, and none above ``limits`` (finding code,
        or "*" for every code, to the highest severity allowed)."""
        self.cases.append({"class": cls, "variant": vid, "kind": "benign", "payload": path,
                           "twin": None, "loaders": [], "desc": desc, "control_ok": True,
                           "limits": limits or {}})

    def pair_files(self, cls, vid, name, render, loaders, desc, **kw):
        """Writes render(mod, name, arg) for the payload and the twin; returns nothing."""
        mod, fn, arg = kw.pop("call")
        p = self.write(cls, vid, "payload", name, render(mod, fn, arg))
        t = self.write(cls, vid, "twin", name, render(CANARY[0], CANARY[1], arg))
        self.attack(cls, vid, p, t, loaders, desc + f" [{mod}.{fn}]", **kw)


PICKLE_LOADERS = ["pickle", "pickle-py", "joblib", "numpy", "torch-legacy"]


def spec_desc(spec):
    c = spec["call"]
    bits = [f"first={spec['first']}", f"global={c['global']}", f"call={c['form']}",
            f"arg={c['arg_kind']!r}"]
    if c.get("memo"):
        bits.append(f"memo={c['memo_put']}/{c['memo_get']} key={c['memo_key']} "
                    f"{c['memo_put_style']}/{c['memo_get_style']}")
    if spec["first"] in ("longstr", "longstr_pop", "mark_pop", "trailing"):
        bits.append(f"junk={spec['junk_kind']!r}x{spec['junk_len']} magic={spec['junk_magic']!r}")
    return " ".join(bits)


# --------------------------------------------------------------------------------------------
# Classes.
# --------------------------------------------------------------------------------------------


def gen_pickle_first_opcode(out, rng, k):
    cls = "pickle-first-opcode"
    firsts = ["proto", "none", "frame", "proto_frame", "longstr", "longstr_pop", "mark", "mark_pop",
              "text0", "text1", "stacked_benign", "stacked_torch", "junk_pop", "trailing"]
    for i in range(k):
        spec = draw_pickle_spec(rng)
        # Cover every first-opcode shape before repeating any.
        spec["first"] = firsts[i % len(firsts)]
        text_only = spec["first"] == "text0"
        proto1 = spec["first"] == "text1"
        spec["call"] = draw_call_spec(rng, text_only, proto1)
        call = pick_call(rng)
        name = rng.choice(["model.pkl", "data.pickle", "weights.bin", "model.joblib", "x"])
        out.pair_files(cls, f"{cls}-{i:03d}", name, lambda m, n, a: render_pickle(spec, m, n, a),
                       PICKLE_LOADERS, spec_desc(spec), call=call)
        if spec["first"] in ("proto", "text0", "text1"):
            # The shapes real pickle writers produce, calling an allowed constructor: a benign
            # control (principle 9).
            spec["call"]["memo_put_style"] = spec["call"]["memo_get_style"] = "plain"
            vid = f"{cls}-benign-{i:03d}"
            out.benign(cls, vid, out.write(cls, vid, "benign", name, render_pickle(spec, *BENIGN_CALL)),
                       "benign " + spec_desc(spec) + " [builtins.set]")


    # Principle 9: a protocol 0/1 pickle of a long string is a pickle, and plain data.
    for proto in (0, 1):
        vid = f"{cls}-benign-longstr-p{proto}"
        data = pickle.dumps("class names: " + ", ".join(f"label_{j}" for j in range(400)), protocol=proto)
        out.benign(cls, vid, out.write(cls, vid, "benign", "labels.pkl", data),
                   f"protocol {proto} pickle of a long string", {"*": "low"})


# An allowed constructor that accepts the same string argument.
BENIGN_CALL = ("builtins", "set", "true")


def gen_pickle_memo(out, rng, k):
    cls = "pickle-memo"
    for i in range(k):
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "text0", "text0", "text1"])
        text_only = spec["first"] == "text0"
        spec["call"] = draw_call_spec(rng, text_only, spec["first"] == "text1")
        spec["call"]["form"] = rng.choice(["reduce_mark", "obj"])
        spec["call"]["memo"] = True
        spec["call"]["memo_key"] = rng.choice([0, 1, 7, 10, 12, 100, 255])
        spec["call"]["memo_put"] = "p" if text_only or rng.random() < 0.6 else rng.choice(["q", "r"])
        spec["call"]["memo_get"] = "g" if text_only or rng.random() < 0.6 else rng.choice(["h", "j"])
        spec["call"]["memo_put_style"] = MEMO_STYLES[i % len(MEMO_STYLES)]
        spec["call"]["memo_get_style"] = rng.choice(MEMO_STYLES)
        call = pick_call(rng)
        out.pair_files(cls, f"{cls}-{i:03d}", "model.pkl",
                       lambda m, n, a: render_pickle(spec, m, n, a), PICKLE_LOADERS,
                       spec_desc(spec), call=call)


LYING_NAMES = [
    ("arr.npy", ["numpy", "pickle"]),
    ("weights.npy", ["numpy"]),
    ("model.pt", ["torch-legacy", "pickle"]),
    ("pytorch_model.bin", ["torch-legacy", "pickle"]),
    ("model.pth", ["torch-legacy"]),
    ("variables.data-00000-of-00001", ["pickle", "joblib"]),
    ("variables.index", ["pickle"]),
    ("labels.txt", ["pickle", "joblib"]),
    ("data.csv", ["pickle", "joblib"]),
    ("config.json", ["pickle", "joblib"]),
    ("model.tflite", ["pickle", "joblib"]),
    ("model.onnx", ["pickle", "torch-legacy"]),
    ("model.safetensors", ["pickle", "torch-legacy"]),
    ("model.h5", ["pickle", "joblib"]),
    ("README.md", ["pickle"]),
    ("model.gguf", ["pickle"]),
    ("saved_model.pb", ["pickle"]),
    ("image.png", ["pickle"]),
]


def gen_names(out, rng, k):
    cls = "names-lie"
    for i in range(k):
        name, loaders = LYING_NAMES[i % len(LYING_NAMES)]
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "longstr_pop", "longstr", "text0", "frame"])
        if rng.random() < 0.5:
            spec["first"] = "longstr_pop"
            spec["junk_magic"] = rng.choice([b"TFL3", b"ustar\x0000", b"ustar  \x00"])
            spec["junk_len"] = rng.choice([40, 300, 600])
            spec["junk_kind"] = rng.choice(["B", "C", "X", "T"])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        call = pick_call(rng)
        out.pair_files(cls, f"{cls}-{i:03d}", name, lambda m, n, a: render_pickle(spec, m, n, a),
                       loaders + ["pickle"], f"name={name} " + spec_desc(spec), call=call)
    # Principle 9: text is not a pickle. Label lists and CSVs starting with "c" (GLOBAL) and
    # other plain text must stay below high.
    texts = {
        "labels.txt": b"cat\ndog\nbird\n",
        "classes.txt": b"car\ntruck\nbus\nbicycle\n",
        "vocab.txt": b"[PAD]\n[UNK]\ncls\nsep\nthe\n",
        "data.csv": b"col_a,col_b\n1,2\n3,4\n",
        "cities.csv": b"city\ncountry\nParis\nFrance\n",
        "LICENSE": b"copyright (c) 2024 someone\nPermission is hereby granted\n",
        "merges.txt": b"#version: 0.2\nc a\nt h\n",
        "notes.txt": b"c\n(\nR\n.\n",
    }
    for j, (name, data) in enumerate(sorted(texts.items())):
        vid = f"{cls}-benign-{j:02d}"
        # Principle 9: text is not a pickle; nothing above low on a label list or a CSV.
        out.benign(cls, vid, out.write(cls, vid, "benign", name, data), f"plain text {name}", {"*": "low"})
    # Plain-data pickles under the names whose loaders fall back to unpickling (numpy.load,
    # torch.load's legacy format) are ordinary files. (A pickle named after a format that never
    # holds one, .safetensors or .onnx, is itself suspicious and is no benign control.)
    fallback_names = [n for n, loaders in LYING_NAMES if "numpy" in loaders or "torch-legacy" in loaders
                      and n.endswith((".pt", ".bin", ".pth"))]
    for j, name in enumerate(fallback_names * 3):
        vid = f"{cls}-benign-pickle-{j:02d}"
        data = pickle.dumps({"labels": ["cat", "dog"], "weights": [0.5, 1.5], "n": j}, protocol=j % 6)
        out.benign(cls, vid, out.write(cls, vid, "benign", name, data), f"plain-data pickle protocol {j % 6} as {name}")


def lz4_available():
    try:
        import lz4.frame  # noqa: F401
        return True
    except ImportError:
        return False


def zstd_available():
    try:
        import zstandard  # noqa: F401
        return True
    except ImportError:
        return False


def compressors():
    c = {
        "zlib": (lambda b, lvl: zlib.compress(b, lvl), ".z"),
        "gzip": (lambda b, lvl: gzip.compress(b, lvl, mtime=0), ".gz"),
        "bz2": (lambda b, lvl: bz2.compress(b, max(lvl, 1)), ".bz2"),
        "xz": (lambda b, lvl: lzma.compress(b, format=lzma.FORMAT_XZ, preset=lvl), ".xz"),
        "lzma": (lambda b, lvl: lzma.compress(b, format=lzma.FORMAT_ALONE, preset=lvl), ".lzma"),
    }
    if lz4_available():
        import lz4.frame
        c["lz4"] = (lambda b, lvl: lz4.frame.compress(b, compression_level=lvl), ".lz4")
    if zstd_available():
        import zstandard
        c["zstd"] = (lambda b, lvl: zstandard.ZstdCompressor(level=max(lvl, 1)).compress(b), ".zst")
    # pandas.read_pickle also infers zip and tar "compression" from the name: the archive's one
    # member is unpickled.
    c["pandas-zip"] = (lambda b, lvl: build_zip([("model.pkl", b)], zipfile.ZIP_DEFLATED if lvl else
                                                zipfile.ZIP_STORED, {}), ".zip")
    c["pandas-tar"] = (lambda b, lvl: build_tar([("model.pkl", b, b"0", "ustar")]), ".tar")
    return c


def gen_compression(out, rng, k):
    cls = "compression"
    comps = compressors()
    names = sorted(comps)
    for i in range(k):
        cname = names[i % len(names)]
        fn, ext = comps[cname]
        level = rng.choice([0, 1, 3, 6, 9]) if cname != "lz4" else rng.choice([0, 3, 9])
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "longstr_pop", "text0", "frame"])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        ratio = rng.choice(["short", "short", "high"])
        if ratio == "high":
            spec["first"] = "longstr_pop"
            spec["junk_kind"] = "B"
            spec["junk_len"] = rng.choice([200000, 1000000])
            spec["junk_magic"] = None
            spec["junk_seed"] = 0
        fname = rng.choice(["model.joblib", "model.pkl", "model" + ext, "model.pkl" + ext, "weights.bin",
                            "model.joblib" + ext])
        call = pick_call(rng)

        def render(m, n, a, spec=spec, fn=fn, level=level, ratio=ratio):
            raw = render_pickle(spec, m, n, a)
            if ratio == "high":
                # A repetitive filler (high ratio, tiny stream).
                raw = raw.replace(push_junk(junk_bytes(spec), "B"),
                                  b"B" + u32(spec["junk_len"]) + b"\x00" * spec["junk_len"], 1)
            return fn(raw, level)

        loaders = ["joblib", "pandas"]
        if cname in ("gzip", "bz2", "xz", "lzma"):
            loaders.append("stdlib-" + cname)
        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, loaders,
                       f"{cname} level={level} ratio={ratio} name={fname} " + spec_desc(spec),
                       call=call)
    # Benign: plain-data pickles in every wrapper, and joblib.dump(..., compress=...) with every
    # compressor and ordinary names.
    for cname in names:
        fn, ext = comps[cname]
        vid = f"{cls}-benign-raw-{cname}"
        data = fn(pickle.dumps({"coef": [0.1] * 50, "classes": ["a", "b"]}, protocol=4), 6)
        out.benign(cls, vid, out.write(cls, vid, "benign", "model.pkl" + ext, data), f"plain-data pickle in {cname}")
    import joblib
    import numpy as np
    jcomps = ["zlib", "gzip", "bz2", "lzma", "xz"] + (["lz4"] if lz4_available() else [])
    for j, cname in enumerate(jcomps):
        for name in ("model.joblib", "model.pkl"):
            vid = f"{cls}-benign-{cname}-{name.split('.')[1]}"
            path = out.path(cls, vid, "benign", name)
            joblib.dump({"coef": np.arange(20, dtype="f8"), "classes": ["a", "b"]}, path,
                        compress=(cname, 3))
            # Principle 9: compressed joblib dumps are normal; no extension mismatch above info.
            out.benign(cls, vid, os.path.relpath(path, out.root), f"joblib.dump compress={cname} {name}",
                       {"engine/extension-mismatch": "info"})


JOBLIB_DTYPES = [
    "<f8", ">f8", "<i4", ">i2", "u1", "?", "<f2", "<c16", ">c8", "<g", "U7", ">U3", "S5", "S1",
    "V3", "V16", "M8[ns]", "<m8[s]",
    [("a", "<i4"), ("b", "S3")],
    [("x", "<f4", (2, 3)), ("y", ">i8")],
    [("a", "u1"), ("b", "<f8")],  # packed
    "ALIGNED",  # aligned struct dtype
    [("a", "<i4"), ("o", "O")],  # object field: pickled nested
    "O",
    [("n", [("p", "<i2"), ("q", "U2")]), ("r", "V5")],
]


def make_array(np, dt, r, shape):
    if dt == "ALIGNED":
        dtype = np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True)
    else:
        dtype = np.dtype(dt)
    count = int(np.prod(shape)) if shape else 1
    if dtype.hasobject:
        arr = np.empty(shape, dtype=dtype)
        if dtype.names:
            for idx in np.ndindex(*shape) if shape else [()]:
                arr[idx] = (r.randrange(100), "obj%d" % r.randrange(100))
        else:
            for idx in np.ndindex(*shape) if shape else [()]:
                arr[idx] = "o%d" % r.randrange(1000)
        return arr
    raw = bytes(r.getrandbits(8) for _ in range(count * dtype.itemsize))
    arr = np.frombuffer(raw, dtype=dtype).copy()
    return arr.reshape(shape) if shape else arr.reshape(())


def gen_joblib_inline(out, rng, k):
    """joblib.dump of real arrays with a call spliced in where joblib.load resumes unpickling:

    * ``after``: right after an array's raw bytes (or its nested object pickle), for many dtypes;
    * ``object_flag``: the wrapper's dtype is ``f8`` but its BUILD state sets the object flag, so
      joblib reads a nested pickle where the raw bytes would be (the raw bytes are replaced);
    * ``elsize``: a ``V``/``S``/``U`` dtype whose BUILD state enlarges the item size, so joblib
      reads more bytes than the dtype string says before the call.
    """
    import copyreg

    import joblib
    import joblib.numpy_pickle as jnp
    import numpy as np

    cls = "joblib-inline"
    orig = jnp.NumpyArrayWrapper.write_array
    spans = []

    def recording(self, array, pickler, *a, **kw):
        begin = pickler.file_handle.tell()
        orig(self, array, pickler, *a, **kw)
        spans.append((begin, pickler.file_handle.tell()))

    jnp.NumpyArrayWrapper.write_array = recording
    try:
        for i in range(k):
            r = random.Random(rng.randrange(1 << 30))
            mode = ["after", "after", "object_flag", "elsize", "padding"][i % 5]
            if mode == "after":
                dt = JOBLIB_DTYPES[(i // 5 * 2 + i % 5) % len(JOBLIB_DTYPES)]
            elif mode == "object_flag":
                dt = "<f8"
            elif mode == "padding":
                dt = r.choice(["<f8", "u1", "S2", "<i4"])
            else:
                dt = r.choice(["V4", "S3", "U2", "V1"])
            shape = r.choice([(), (1,), (3,), (2, 3), (4, 1, 2)] + ([(0,)] if mode == "after" else []))
            arr = make_array(np, dt, r, shape)
            if len(shape) == 2 and r.random() < 0.5:
                arr = np.asfortranarray(arr)
            extra = make_array(np, r.choice(["<f4", "U2", "<i8"] if mode == "after" else ["<f4", "<i8"]), r, (2,))
            container = r.choice(["bare", "list", "dict", "tuple"])
            if container == "bare":
                obj = arr
            elif container == "list":
                obj = [arr, extra]
            elif container == "dict":
                obj = {"w": arr, "b": extra, "name": "layer"}
            else:
                obj = (extra, arr, 1)
            protocol = r.choice([2, 3, 4, 5])
            cspec = draw_call_spec(r, embedded=True)
            factor = r.choice([2, 3, 4])
            flags = r.choice([0x01, 0x3F, 0x11])
            dtdesc = dt if isinstance(dt, str) else json.dumps(dt)
            registered = None
            if mode in ("object_flag", "elsize"):
                registered = type(arr.dtype)

                def reduce_dtype(d, mode=mode, factor=factor, flags=flags):
                    fn, args, state = d.__reduce__()
                    state = list(state)
                    if mode == "object_flag":
                        state[-1] = state[-1] | flags
                    else:
                        state[5] = state[5] * factor
                    return fn, args, tuple(state)

                copyreg.pickle(registered, reduce_dtype)
            tmp = out.path(cls, f"{cls}-{i:03d}", "base", "base.joblib")
            spans.clear()
            try:
                joblib.dump(obj, tmp, compress=0, protocol=protocol)
            finally:
                if registered is not None:
                    copyreg.dispatch_table.pop(registered, None)
            with open(tmp, "rb") as f:
                base = f.read()
            shutil.rmtree(os.path.dirname(tmp))
            which = r.choice(["first", "last"]) if mode == "after" else "main"
            if mode == "after":
                begin, end = spans[0] if which == "first" else spans[-1]
            else:
                # The main array is written first except in the tuple, where `extra` precedes it.
                begin, end = spans[1 if container == "tuple" else 0]
            call = pick_call(r)
            nbytes = arr.nbytes
            # joblib's alignment padding: one length byte, then that many bytes it skips. Any
            # length 0-255 loads; the skipped bytes may look like opcodes (a STOP, a whole pickle).
            padlen = r.choice([0, 1, 46, 200, 255])
            pad_fill = r.choice([b".", b"\x80\x02N.", b"\xff"])

            def render(m, n, a, base=base, begin=begin, end=end, cspec=cspec, mode=mode, factor=factor,
                       nbytes=nbytes, padlen=padlen, pad_fill=pad_fill):
                ops = render_call(cspec, m, n, a) + b"0"
                if mode == "padding":
                    data = base[end - nbytes:end]
                    filler = (pad_fill * 256)[:padlen]
                    return base[:begin] + bytes([padlen]) + filler + data + ops + base[end:]
                if mode == "object_flag":
                    # The nested pickle joblib now reads in place of the raw bytes.
                    return base[:begin] + b"\x80\x02" + render_call(cspec, m, n, a) + b"." + base[end:]
                if mode == "elsize":
                    filler = bytes((j * 7) & 0xFF for j in range(nbytes * (factor - 1)))
                    return base[:end] + filler + ops + base[end:]
                return base[:end] + ops + base[end:]

            desc = (f"mode={mode} dtype={dtdesc} shape={shape} container={container} protocol={protocol} "
                    f"array={which} (bytes {begin}..{end}) call={cspec['form']}/{cspec['global']}")
            if mode == "object_flag":
                desc += f" state-flags|={flags:#x}"
            elif mode == "elsize":
                desc += f" state-elsize x{factor}"
            elif mode == "padding":
                desc += f" padding={padlen} fill={pad_fill!r}"
            out.pair_files(cls, f"{cls}-{i:03d}", r.choice(["model.joblib", "model.pkl"]), render,
                           ["joblib", "joblib-mmap"], desc, call=call)
            if mode == "after":
                # Benign: the same dump without the inserted call.
                vid = f"{cls}-benign-{i:03d}"
                out.benign(cls, vid, out.write(cls, vid, "benign", "model.joblib", base),
                           f"joblib.dump dtype={dtdesc} shape={shape} protocol={protocol}")
    finally:
        jnp.NumpyArrayWrapper.write_array = orig


NPY_DESCRS = [
    "'|O'", "'O'", "'object'", "\"O\"", "'|' 'O'", "'|' \"O\"", "'\\x4f'", "'|\\x4f'", "'\\117'",
    "u'O'", "'O' ''", "'''O'''", "'\\N{LATIN CAPITAL LETTER O}'", "('O', (2,))", "('|O', (1, 2))",
    "[('f0', '|O')]", "[('a', '<i4'), ('b', '|O')]", "[('a', ('O', (2,)))]", "'o' 'bject'",
    "str('O')",  # not a literal: numpy must reject (control)
]


def npy_header(descr_src, shape_src, rng, version):
    keys = [f"'descr': {descr_src}", "'fortran_order': False", f"'shape': {shape_src}"]
    style = rng.choice(["plain", "reorder", "dupe", "whitespace", "escaped_key", "concat_key",
                        "trailing_comma", "newlines"])
    if style == "reorder":
        rng.shuffle(keys)
    elif style == "dupe":
        keys = ["'descr': '<f8'"] + keys[1:] + [f"'descr': {descr_src}"]
    elif style == "escaped_key":
        keys[0] = f"'\\x64escr': {descr_src}"
    elif style == "concat_key":
        keys[0] = f"'de' 'scr': {descr_src}"
    sep = {"whitespace": " ,  ", "newlines": ",\n\t"}.get(style, ", ")
    text = "{" + sep.join(keys) + (", }" if style in ("plain", "trailing_comma") else "}")
    if style == "whitespace":
        text = "  " + text.replace(":", " :  ")
    pad_to = rng.choice([64, 16, 1, "big"])
    enc = text.encode("utf-8" if version == 3 else "latin-1")
    pre = 10 if version == 1 else 12
    if pad_to == "big":
        total = 20000
    else:
        total = ((pre + len(enc) + 1 + pad_to - 1) // pad_to) * pad_to
        if version == 1 and total - pre > 65535:
            total = pre + len(enc) + 1
    hdr = enc + b" " * max(total - pre - len(enc) - 1, 0) + b"\n"
    if version == 1:
        if len(hdr) > 65535:
            hdr = enc + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr, style
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(hdr)) + hdr, style + f" pad={pad_to}"


def gen_npy_header(out, rng, k):
    cls = "npy-header"
    for i in range(k):
        descr = NPY_DESCRS[i % len(NPY_DESCRS)]
        version = rng.choice([1, 1, 2, 3])
        shape = rng.choice(["(1,)", "(2,)", "()", "(1, 1)", "[1]", "(1 ,)"])
        hdr, style = npy_header(descr, shape, rng, version)
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "proto", "none", "text0"])
        spec["proto"] = rng.choice([2, 3, 4])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        call = pick_call(rng)
        out.pair_files(cls, f"{cls}-{i:03d}", rng.choice(["arr.npy", "weights.npy", "x.npy"]),
                       lambda m, n, a, hdr=hdr, spec=spec: hdr + render_pickle(spec, m, n, a),
                       ["numpy"], f"v{version} descr={descr} shape={shape} style={style} "
                       + spec_desc(spec), call=call)
    # Benign .npy files written by numpy itself, and numeric headers in odd spellings.
    import numpy as np
    for j, dt in enumerate(["<f8", ">i4", "U5", "S3", "V4", "<g", "?", "<c8"]):
        vid = f"{cls}-benign-{j:02d}"
        buf = io.BytesIO()
        np.save(buf, np.zeros((2, 3), dtype=dt))
        out.benign(cls, vid, out.write(cls, vid, "benign", "arr.npy", buf.getvalue()), f"np.save {dt}")
    for j, descr in enumerate(["'<' 'f8'", "'\\x3cf8'", "('<f4', (2,))", "[('a', '<i4'), ('b', 'S2')]"]):
        vid = f"{cls}-benign-odd-{j:02d}"
        hdr, style = npy_header(descr, "(2,)", random.Random(j), 1)
        dtype = np.dtype(eval(descr))  # noqa: S307 - our own literal, test-only
        body = np.zeros((2,), dtype=dtype).tobytes()
        out.benign(cls, vid, out.write(cls, vid, "benign", "arr.npy", hdr + body),
                   f"numeric npy descr={descr} style={style}")


def object_npy(pickle_bytes, rng):
    hdr, _ = npy_header(rng.choice(["'|O'", "'O'", "'object'"]), "(1,)", rng, 1)
    return hdr + pickle_bytes


ZIP_METHODS = [("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED),
               ("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)]


def build_zip(members, method, nul_names, prefix=b""):
    """members: list of (name, bytes). nul_names: {name: replacement with a NUL}. Patches the names
    byte for byte (same length) in the local and central headers."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
    raw = buf.getvalue()
    for name, patched in nul_names.items():
        raw = raw.replace(name.encode(), patched.encode())
    if prefix:
        # Python's zipfile finds the central directory from the end and tolerates a prefix.
        raw = prefix + raw
    return raw


def gen_zip(out, rng, k):
    cls = "zip-members"
    for i in range(k):
        mname, method = ZIP_METHODS[i % len(ZIP_METHODS)]
        shape = rng.choice(["npz", "npz", "extract", "torch"])
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "text0", "frame"])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        nul = rng.random() < 0.5
        prefix_kind = rng.choice([None, None, "junk", "benign_pickle"])
        call = pick_call(rng)
        sub = random.Random(rng.randrange(1 << 30))
        if shape == "npz":
            member = "x.npy"
            loaders = ["numpy-npz"]
            fname = "arrays.npz"
        elif shape == "torch":
            # torch.save's zip layout, read by torch's own (miniz) reader: stored or deflate
            # members, exact names, no prefix.
            mname, method = ZIP_METHODS[i % 2]
            nul, prefix_kind = False, None
            member = rng.choice(["archive/data.pkl", "model/data.pkl", "pytorch_model/data.pkl"])
            loaders = ["torch-zip", "zip-extract+pickle"]
            fname = rng.choice(["model.pt", "pytorch_model.bin", "checkpoint.ckpt"])
        else:
            member = rng.choice(["model.pkl", "data/weights.bin", "model.joblib"])
            loaders = ["zip-extract+pickle", "zip-extract+joblib"]
            fname = rng.choice(["model.zip", "bundle.zip", "model.bin"])
        nul_name = None
        if nul:
            # A NUL ends the name in Python's zipfile: "x.npy\0.txt" is read as "x.npy".
            fake = member + "Q" + rng.choice(["txt", "png", "md"])
            nul_name = {fake: member + "\x00" + fake[len(member) + 1:]}
            stored = fake
        else:
            stored = member

        def render(m, n, a, spec=spec, stored=stored, shape=shape, sub_seed=sub.randrange(1 << 30),
                   nul_name=nul_name, method=method, prefix_kind=prefix_kind):
            r = random.Random(sub_seed)
            p = render_pickle(spec, m, n, a)
            data = object_npy(p, r) if shape == "npz" else p
            benign = [("readme.txt", b"hello\n")]
            if shape == "torch":
                root = stored.split("/")[0]
                benign = [(f"{root}/version", b"3\n"), (f"{root}/byteorder", b"little")]
            if shape == "npz":
                b = io.BytesIO()
                import numpy as np
                np.save(b, np.arange(4))
                benign = [("a.npy", b.getvalue())]
            prefix = b""
            if prefix_kind == "junk":
                prefix = bytes(r.getrandbits(8) for _ in range(100))
            elif prefix_kind == "benign_pickle":
                prefix = pickle.dumps({"a": 1}, protocol=2)
            return build_zip(benign + [(stored, data)], method, nul_name or {}, prefix)

        # A NUL in a member name or bytes before the zip are anomalies a scanner may report on
        # their own (principle 3), so such twins are no benign controls.
        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, loaders,
                       f"{shape} method={mname} nul_name={nul} prefix={prefix_kind} member={member} "
                       + spec_desc(spec), call=call, control_ok=not nul and prefix_kind is None)
    import numpy as np
    for j, (mname, method) in enumerate(ZIP_METHODS):
        vid = f"{cls}-benign-{mname}"
        b = io.BytesIO()
        np.save(b, np.arange(6, dtype="f4"))
        data = build_zip([("w.npy", b.getvalue()), ("notes.txt", b"cat\ndog\n")], method, {})
        out.benign(cls, vid, out.write(cls, vid, "benign", "arrays.npz", data), f"npz {mname}")


def tar_header(name, size, typeflag, magic):
    h = bytearray(512)
    nb = name.encode()[:100]
    h[0:len(nb)] = nb
    h[100:108] = b"0000644\x00"
    h[108:116] = b"0000000\x00"
    h[116:124] = b"0000000\x00"
    h[124:136] = b"%011o\x00" % size
    h[136:148] = b"00000000000\x00"
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    if magic == "ustar":
        h[257:265] = b"ustar\x0000"
    elif magic == "gnu":
        h[257:265] = b"ustar  \x00"
    chk = sum(h)
    h[148:156] = b"%06o\x00 " % chk
    return bytes(h)


def build_tar(members):
    """members: list of (name, data, typeflag, magic)."""
    out = b""
    for name, data, typeflag, magic in members:
        out += tar_header(name, len(data), typeflag, magic)
        out += data + b"\x00" * ((512 - len(data) % 512) % 512)
    return out + b"\x00" * 1024


def gen_tar(out, rng, k):
    cls = "tar-entries"
    flags = [b"0", b"\x00", b"7", b"8", b"9", b"A", b"B", b"E", b"N", b"Q", b"Z", b"z"]
    for i in range(k):
        flag = flags[i % len(flags)]
        magic = rng.choice(["ustar", "gnu", "v7", "v7"])
        wrap = rng.choice(["none", "none", "gz", "bz2", "xz"])
        member = rng.choice(["model.pkl", "archive/data.pkl", "weights.bin", "model.joblib"])
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "text0"])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        call = pick_call(rng)
        fname = {"none": rng.choice(["model.tar", "model.pt", "bundle"]), "gz": "model.tar.gz",
                 "bz2": "model.tar.bz2", "xz": "model.tar.xz"}[wrap]
        loaders = ["tar-extract+pickle"]
        legacy = i % 4 == 3
        if legacy:
            # torch's legacy tar checkpoint: "storages", "tensors" and "pickle" members, each
            # unpickled by torch.load(weights_only=False); the payload sits in one of them.
            wrap, fname = "none", rng.choice(["model.pt", "checkpoint.pth", "pytorch_model.bin"])
            member = rng.choice(["storages", "tensors", "pickle"])
            loaders = ["torch-legacy", "tar-extract+pickle"]

        def render(m, n, a, spec=spec, flag=flag, magic=magic, wrap=wrap, member=member, legacy=legacy):
            data = render_pickle(spec, m, n, a)
            if legacy:
                members = {"storages": pickle.dumps(0, 2) + pickle.dumps([], 2), "tensors": pickle.dumps(0, 2),
                           "pickle": pickle.dumps({"epoch": 3}, 2)}
                # The call's result (0 for the canary, an exit status for os.system) stands in for
                # the count, so the rest of the member still reads.
                members[member] = data + members[member][len(pickle.dumps(0, 2)):] if member != "pickle" else data
                raw = build_tar([("sys_info", pickle.dumps({"little_endian": True}, 2), b"0", magic)]
                                + [(name, body, flag if name == member else b"0", magic)
                                   for name, body in members.items()])
                return raw
            raw = build_tar([("README", b"benign\n", b"0", magic), (member, data, flag, magic)])
            return {"none": lambda b: b, "gz": lambda b: gzip.compress(b, mtime=0), "bz2": bz2.compress,
                    "xz": lzma.compress}[wrap](raw)

        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, loaders,
                       f"{'torch-legacy-tar ' if legacy else ''}typeflag={flag!r} magic={magic} wrap={wrap} "
                       f"member={member} " + spec_desc(spec),
                       call=call)
    for j, magic in enumerate(["ustar", "gnu", "v7"]):
        vid = f"{cls}-benign-{magic}"
        b = io.BytesIO()
        import numpy as np
        np.save(b, np.arange(3))
        data = build_tar([("labels.txt", b"cat\ndog\n", b"0", magic), ("w.npy", b.getvalue(), b"0", magic)])
        out.benign(cls, vid, out.write(cls, vid, "benign", "bundle.tar", data), f"benign tar {magic}")


def zip_local(name, data):
    n = name.encode()
    return b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, 0, 0, 0, zlib.crc32(data), len(data),
                                       len(data), len(n), 0) + n + data


def zip_central(name, data, offset):
    n = name.encode()
    return b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, 0, 0, 0, zlib.crc32(data),
                                       len(data), len(data), len(n), 0, 0, 0, 0, 0, offset) + n


def zip_end(count, size, offset):
    return b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, size, offset, 0)


def zip_stored(members, start=0):
    """Stored members by hand: (local headers and data, central directory), offsets from start."""
    local, central = b"", b""
    for name, data in members:
        central += zip_central(name, data, start + len(local))
        local += zip_local(name, data)
    return local, central


def zip_directory_trick(trick, member, data, r):
    """A zip whose central directory Python's zipfile finds differently from other readers."""
    decoys = [(f"notes{i}.txt", b"hello\n") for i in range(r.randint(3, 6))]
    benign = pickle.dumps({"a": 1}, protocol=2)
    if trick == "count":
        # The end record counts fewer entries than the directory holds: zipfile reads the
        # directory to its recorded size, miniz stops at the count.
        local, central = zip_stored(decoys + [(member, data)])
        return local + central + zip_end(r.randint(0, 1), len(central), len(local))
    if trick == "cut-name":
        # The last entry's name runs past the directory: zipfile cuts it and reads every entry
        # through the directory, past junk that stops a walk along the local headers.
        # An .npz read by numpy.load (ZipFile.open per key; extractall would stop at the cut
        # entry): the payload is an object array.
        import numpy as np
        b = io.BytesIO()
        np.save(b, np.arange(3))
        local, central = zip_stored([("a.npy", b.getvalue())])
        local += bytes(r.getrandbits(8) for _ in range(r.randint(8, 64)))
        arr = object_npy(data, r)
        payload = zip_central("x.npy", arr, len(local))
        local += zip_local("x.npy", arr)
        tail = bytearray(zip_central("tail.txt", b"", 0))
        tail[28:30] = struct.pack("<H", r.randint(64, 4000))
        central += payload + bytes(tail)
        return local + central + zip_end(len(decoys) + 2, len(central), len(local))
    if trick == "zip64-locator":
        # The zip64 locator points at a record for a benign directory (miniz's reading); the
        # record right before the locator (zipfile's reading) describes the payload's directory.
        local, central = zip_stored([(member, benign)])
        body = local
        b_off = len(body)
        body += central
        decoy = len(body)
        body += b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 1, 1, len(central), b_off)
        local, central = zip_stored(decoys + [(member, data)], start=len(body))
        body += local
        e_off = len(body)
        body += central
        n = len(decoys) + 1
        body += b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, n, n, len(central), e_off)
        body += b"PK\x06\x07" + struct.pack("<IQI", 0, decoy, 1)
        return body + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                                                  0xFFFFFFFF, 0)
    if trick == "zip64-no-record":
        # A zip64 locator with no record right before it: zipfile reads the end record's own
        # fields (the payload's directory, whose last comment covers the locator), miniz follows
        # the locator to a decoy record describing a benign directory.
        body = zip_local(member, data)
        d_local = len(body)
        body += zip_local(member, benign)
        d_dir = len(body)
        central = zip_central(member, benign, d_local)
        body += central
        decoy = len(body)
        body += b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 1, 1, len(central), d_dir)
        e_dir = len(body)
        entry = bytearray(zip_central(member, data, 0))
        entry[32:34] = struct.pack("<H", 20)
        body += bytes(entry) + b"PK\x06\x07" + struct.pack("<IQI", 0, decoy, 1)
        return body + zip_end(1, len(entry) + 20, e_dir)
    # "negative-shift": the end record places the directory k bytes past where it lies, and
    # every local header offset is k too high: zipfile subtracts k (its `concat`), so it reads the
    # payload at the real offset, while a benign copy sits at the recorded one.
    payload = zip_local(member, data)
    cover = zip_local(member, benign)
    k = len(payload)
    central = zip_central(member, data, k)
    body = payload + cover
    return body + central + zip_end(1, len(central), len(body) + k)


def tar_sparse(style, member, logical):
    """A GNU sparse tar member whose NUL bytes are holes: the stored bytes alone are not the
    pickle, tarfile's reconstruction is."""
    import re
    runs = [(m.start(), m.end() - m.start()) for m in re.finditer(rb"[^\x00]+", logical)]
    raw = b"".join(logical[o:o + n] for o, n in runs)

    def pad(b):
        return b + b"\x00" * ((512 - len(b) % 512) % 512)

    def pax(records):
        out = b""
        for key, value in records:
            body = f" {key}={value}\n".encode()
            n = len(body) + 1
            while len(str(n)) + len(body) != n:
                n = len(str(n)) + len(body)
            out += str(n).encode() + body
        return out

    if style == "old-gnu":
        h = bytearray(tar_header(member, len(raw), b"S", "gnu"))
        for i, (o, n) in enumerate(runs[:4]):
            h[386 + 24 * i:398 + 24 * i] = b"%011o\x00" % o
            h[398 + 24 * i:410 + 24 * i] = b"%011o\x00" % n
        h[482] = 1 if len(runs) > 4 else 0
        h[483:495] = b"%011o\x00" % len(logical)
        ext = bytearray(512)
        for i, (o, n) in enumerate(runs[4:25]):
            ext[24 * i:24 * i + 12] = b"%011o\x00" % o
            ext[24 * i + 12:24 * i + 24] = b"%011o\x00" % n
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\x00 " % sum(h)
        return bytes(h) + (bytes(ext) if len(runs) > 4 else b"") + pad(raw) + b"\x00" * 1024
    if style == "pax-0.1":
        x = pax([("GNU.sparse.major", "0"), ("GNU.sparse.minor", "1"), ("GNU.sparse.name", member),
                 ("GNU.sparse.size", str(len(logical))),
                 ("GNU.sparse.map", ",".join(f"{o},{n}" for o, n in runs))])
        data = raw
    else:  # pax-1.0: the map is at the start of the member's data
        x = pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", member),
                 ("GNU.sparse.realsize", str(len(logical)))])
        data = pad((f"{len(runs)}\n" + "".join(f"{o}\n{n}\n" for o, n in runs)).encode()) + raw
    return (tar_header("PaxHeaders/" + member, len(x), b"x", "ustar") + pad(x)
            + tar_header("GNUSparseFile.0/" + member, len(data), b"0", "ustar") + pad(data)
            + b"\x00" * 1024)


def gen_archive_structure(out, rng, k):
    """Structures where Python's zipfile/tarfile/gzip read other members or bytes than common
    readers do: the end record's entry count, a zip64 locator pointing at a decoy record, a
    directory offset past the directory, a zip64 locator with no record before it, a name cut by
    the directory's end, npz keys that are directories or symlinks, GNU sparse members with holes,
    a V7 directory, NUL padding between gzip members, concatenated .lzma streams (joblib)."""
    cls = "archive-structure"
    tricks = ["zip-count", "zip-cut-name", "zip-zip64-locator", "zip-zip64-no-record", "zip-negative-shift", "tar-sparse-old-gnu",
              "tar-sparse-pax-0.1", "tar-sparse-pax-1.0", "gzip-padding", "npz-dir-entry",
              "npz-symlink-mode", "tar-v7-dir", "joblib-lzma-concat", "gzip-tar-polyglot"]
    for i in range(k):
        trick = tricks[i % len(tricks)]
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none"])
        spec["call"] = draw_call_spec(rng)
        call = pick_call(rng)
        member = rng.choice(["model.pkl", "data.bin", "weights"])
        sub_seed = rng.randrange(1 << 30)

        def render(m, n, a, spec=spec, trick=trick, member=member, sub_seed=sub_seed):
            r = random.Random(sub_seed)
            data = render_pickle(spec, m, n, a)
            if trick.startswith("zip-"):
                return zip_directory_trick(trick[4:], member, data, r)
            if trick.startswith("tar-sparse-"):
                return tar_sparse(trick[len("tar-sparse-"):], member, data)
            if trick.startswith("npz-"):
                # numpy.load reads every key with ZipFile.open, whatever the entry's Unix mode
                # and even when its name ends with a slash (a "directory" holding data).
                b = io.BytesIO()
                with zipfile.ZipFile(b, "w", compression=r.choice(ZIP_METHODS[:2])[1]) as z:
                    z.writestr("a.npy", object_npy(pickle.dumps([1], protocol=2), r))
                    zi = zipfile.ZipInfo("arr/" if trick == "npz-dir-entry" else "x.npy",
                                         date_time=(2020, 1, 1, 0, 0, 0))
                    zi.compress_type = z.compression
                    if trick == "npz-symlink-mode":
                        zi.create_system = 3
                        zi.external_attr = 0o120777 << 16
                    z.writestr(zi, object_npy(data, r))
                return b.getvalue()
            if trick == "joblib-lzma-concat":
                # joblib reads .lzma with lzma.LZMAFile, which goes on into the next stream.
                cut = r.randint(1, 2)  # the import and the call in the second stream
                return (lzma.compress(data[:cut], format=lzma.FORMAT_ALONE)
                        + lzma.compress(data[cut:], format=lzma.FORMAT_ALONE))
            if trick == "gzip-tar-polyglot":
                # A gzip stream whose header's extra field holds a whole tar: tarfile.open tries
                # gzip first, finds no tar in the decompressed bytes and reads the plain tar.
                tar = bytearray(tar_header("\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + "xx" + member,
                                           len(data), b"0", "ustar"))
                body = tar + data + b"\x00" * ((512 - len(data) % 512) % 512) + b"\x00" * 1024
                tar = bytearray(body)
                tar[0:12] = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<H", len(body) - 12)
                tar[148:156] = b" " * 8
                tar[148:156] = b"%06o\x00 " % sum(tar[:512])
                inner = b"not a tar " * r.randint(1, 20)
                comp = zlib.compressobj(9, zlib.DEFLATED, -15)
                return (bytes(tar) + comp.compress(inner) + comp.flush()
                        + struct.pack("<II", zlib.crc32(inner), len(inner)))
            if trick == "tar-v7-dir":
                # A NUL-type entry named "weights/" is a directory to tarfile: the next header
                # follows it at once, inside what other readers skip as its 512 bytes of data.
                hidden = tar_header(member, len(data), b"0", "v7")
                hidden += data + b"\x00" * ((512 - len(data) % 512) % 512)
                return (build_tar([("README", b"benign\n", b"0", "v7")])[:-1024]
                        + tar_header("weights/", 512, b"\x00", "v7") + hidden + b"\x00" * 1024)
            raw = build_tar([("README", b"benign\n", b"0", "ustar"), (member, data, b"0", "ustar")])
            cut = r.randint(1, len(raw) - 1)
            return (gzip.compress(raw[:cut], mtime=0) + b"\x00" * r.randint(1, 64)
                    + gzip.compress(raw[cut:], mtime=0))

        fname = {"zip": "model.zip", "tar": "bundle.tar", "gzi": "bundle.tar.gz",
                 "npz": "arrays.npz", "job": "model.joblib"}[trick[:3]]
        if trick == "zip-cut-name":
            fname = "arrays.npz"
        loaders = {"zip": ["zip-extract+pickle"], "npz": ["numpy-npz"], "job": ["joblib"]}.get(
            trick[:3], ["tar-extract+pickle"])
        if trick == "zip-cut-name":
            loaders = ["numpy-npz"]
        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, loaders,
                       f"{trick} member={member} " + spec_desc(spec), call=call,
                       control_ok=False)
    # Benign controls: a sparse member of zeros and data, a padded multi-member gzip tar.
    vid = f"{cls}-benign-sparse"
    b = io.BytesIO()
    import numpy as np
    np.save(b, np.arange(8, dtype="i4"))
    out.benign(cls, vid, out.write(cls, vid, "benign", "bundle.tar",
                                   tar_sparse("pax-0.1", "w.npy", b.getvalue())),
               "GNU sparse (pax 0.1) npy member", limits={"*": "medium"})
    vid = f"{cls}-benign-gzip-padding"
    raw = build_tar([("labels.txt", b"cat\ndog\n", b"0", "ustar")])
    out.benign(cls, vid, out.write(cls, vid, "benign", "bundle.tar.gz",
                                   gzip.compress(raw[:600], mtime=0) + b"\x00" * 8
                                   + gzip.compress(raw[600:], mtime=0)),
               "multi-member gzip tar with NUL padding")


def keras_config(kind, mod, name, r):
    """A Keras model_config JSON string whose layer reaches mod.name."""
    inp = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                  "name": "input_1"}}
    if kind == "keras3_module":
        layer = {"module": mod, "class_name": name, "config": {"name": "l1"}, "registered_name": None}
    elif kind == "keras3_lambda_fn":
        layer = {"module": "keras.layers", "class_name": "Lambda",
                 "config": {"name": "l1", "function": {"module": mod, "class_name": "function",
                                                       "config": name, "registered_name": "function"}}}
    elif kind == "keras2_lambda_function":
        layer = {"class_name": "Lambda", "config": {"name": "l1", "function": name, "function_type": "function",
                                                    "module": mod, "output_shape": None, "arguments": {}}}
    else:  # keras2_lambda_marshal: the function's bytecode, as Keras 2 func_dump writes it
        src = f"lambda x: __import__({mod!r}).{name}('true')"
        code = compile(src, "<lambda>", "eval").co_consts[0]
        blob = base64.b64encode(marshal.dumps(code)).decode("ascii")
        layer = {"class_name": "Lambda", "config": {"name": "l1", "function": [blob, None, None],
                                                    "function_type": "lambda", "module": "__main__",
                                                    "output_shape": None, "arguments": {}}}
    model = {"class_name": r.choice(["Sequential", "Functional"]),
             "config": {"name": "m", "layers": [inp, layer]},
             "keras_version": r.choice(["2.15.0", "3.4.1"]), "backend": "tensorflow"}
    return json.dumps(model)


def build_h5(path, config, userblock, ub_content):
    import h5py
    import numpy as np
    kw = {"userblock_size": userblock} if userblock else {}
    with h5py.File(path, "w", **kw) as f:
        if config is not None:
            f.attrs["model_config"] = config
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights")
        g.create_dataset("dense/kernel:0", data=np.zeros((4, 2), dtype="f4"), track_times=False)
    if ub_content:
        with open(path, "r+b") as f:
            f.write(ub_content[:userblock])


def gen_hdf5(out, rng, k):
    try:
        import h5py  # noqa: F401
    except ImportError:
        return
    cls = "hdf5-userblock"
    kinds = ["keras3_module", "keras3_lambda_fn", "keras2_lambda_function", "keras2_lambda_marshal",
             "userblock_pickle", "both"]
    benign_cfg = json.dumps({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}})
    for i in range(k):
        kind = kinds[i % len(kinds)]
        userblock = rng.choice([512, 1024, 2048, 4096])
        ub = rng.choice(["zeros", "junk"])
        sub = rng.randrange(1 << 30)
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "text0", "longstr_pop"])
        spec["junk_len"] = min(spec["junk_len"], 256)
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        call = pick_call(rng)
        cfg_kind = kind if kind not in ("userblock_pickle", "both") else rng.choice(kinds[:4])
        name = rng.choice(["model.h5", "model.keras", "weights.hdf5", "model.bin"])
        vid = f"{cls}-{i:03d}"
        paths = {}
        for role, (m, n) in (("payload", call[:2]), ("twin", CANARY)):
            r = random.Random(sub)
            p = out.path(cls, vid, role, name)
            cfg = keras_config(cfg_kind, m, n, r) if kind != "userblock_pickle" else benign_cfg
            content = None
            if kind in ("userblock_pickle", "both"):
                content = render_pickle(spec, m, n, call[2])
            elif ub == "junk":
                content = bytes(r.getrandbits(8) for _ in range(userblock))
            build_h5(p, cfg, userblock, content)
            paths[role] = os.path.relpath(p, out.root)
        loaders = ["h5py-keras-config"]
        if kind in ("userblock_pickle", "both"):
            loaders += ["pickle", "joblib", "torch-legacy"]
        out.attack(cls, vid, paths["payload"], paths["twin"], loaders,
                   f"kind={kind} config={cfg_kind} userblock={userblock} ub={ub} "
                   + (spec_desc(spec) if kind in ("userblock_pickle", "both") else "")
                   + f" [{call[0]}.{call[1]}]", control_ok=kind == "userblock_pickle")
    # Keras 3 `.keras` archives: the same configs as config.json in a zip.
    for i in range(k, k + max(k // 2, 1)):
        cfg_kind = kinds[i % 4]
        method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
        call = pick_call(rng)
        sub = rng.randrange(1 << 30)

        def render(m, n, a, cfg_kind=cfg_kind, method=method, sub=sub):
            cfg = keras_config(cfg_kind, m, n, random.Random(sub)).encode()
            meta = json.dumps({"keras_version": "3.4.1", "date_saved": "2024-01-01@00:00:00"}).encode()
            return build_zip([("metadata.json", meta), ("config.json", cfg), ("model.weights.h5", b"")], method, {})

        zcls = "keras-zip"
        out.pair_files(zcls, f"{zcls}-{i - k:03d}", rng.choice(["model.keras", "classifier.keras"]), render,
                       ["keras-zip-config"], f"keras zip config={cfg_kind} method={method}", call=call,
                       control_ok=False)
    for j, ubs in enumerate([0, 512, 2048]):
        vid = f"{cls}-benign-{ubs}"
        p = out.path(cls, vid, "benign", "model.h5")
        build_h5(p, benign_cfg, ubs, None)
        out.benign(cls, vid, os.path.relpath(p, out.root), f"benign keras h5 userblock={ubs}")


# Jinja: expressions that reach __import__(MOD).NAME through attribute names computed at render
# time. S(x) renders a string expression for x in one of several obfuscations.


# Jinja expressions that evaluate to the string s, each spelled without s appearing literally
# (except "literal"); "token" (reading s from the special tokens) is handled in jinja_payload.
JINJA_STR = {
    "literal": lambda s: repr(s),
    "concat": lambda s: f"({s[:max(1, len(s) // 2)]!r} ~ {s[max(1, len(s) // 2):]!r})",
    "join": lambda s: "[" + ", ".join(repr(c) for c in s) + "]|join",
    "reverse": lambda s: f"({s[::-1]!r}|reverse|join)",
    "format": lambda s: repr("%c" * len(s)) + "|format(" + ", ".join(str(ord(c)) for c in s) + ")",
    "lower": lambda s: f"({s.upper()!r}|lower)",
    "replace": lambda s: f"({s.replace('_', 'X')!r}|replace('X', '_'))",
    "split": lambda s: f"('a.' ~ {s!r} ~ '.b').split('.')[1]",
}


STR_HOWS = ["literal", "concat", "join", "reverse", "format", "lower", "replace", "split", "token"]


def jinja_payload(spec, mod, name, arg):
    """The template, and the special tokens it reads its strings from (how == "token")."""
    h = spec["how"]
    tokens = []

    def S(s):
        if h != "token":
            return JINJA_STR[h](s)
        # transformers passes the special tokens map to the template: names live in the config.
        if s not in tokens:
            tokens.append(s)
        return f"additional_special_tokens[{tokens.index(s)}]"

    start = spec["start"]
    acc = spec["access"]

    def A(obj, attr):
        if acc == "subscript":
            return f"{obj}[{S(attr)}]"
        if acc == "attr_filter":
            return f"({obj}|attr({S(attr)}))"
        return f"{obj}.{attr}"

    if start == "lipsum":
        g = A("lipsum", "__globals__")
    elif start == "cycler":
        g = A(A("cycler", "__init__"), "__globals__")
    elif start == "joiner":
        g = A(A("joiner", "__init__"), "__globals__")
    elif start == "namespace":
        g = A(A("namespace", "__init__"), "__globals__")
    elif start == "subclasses":
        # object's subclasses, searched for one whose __init__ is a Python function
        # (warnings.catch_warnings): the classic chain through ''.__class__.
        g = A(A("c", "__init__"), "__globals__")
    else:  # self
        g = A(A("self", "__init__"), "__globals__")
    builtins = f"{g}[{S('__builtins__')}]"
    imp = f"{builtins}[{S('__import__')}]"
    target = A(f"{imp}({S(mod)})", name)
    expr = f"{target}({arg!r})"
    if start == "subclasses":
        subclasses = f"{A(A(A(repr(''), '__class__'), '__mro__') + '[1]', '__subclasses__')}()"
        cond = f"{A('c', '__name__')} == {S('catch_warnings')}"
        return ("{% for m in messages %}{{ m['content'] }}{% endfor %}"
                f"{{% for c in {subclasses} if {cond} %}}{{% if loop.first %}}{{{{ {expr} }}}}{{% endif %}}{{% endfor %}}"), tokens
    if spec["wrap"] == "set":
        body = f"{{% set x = {expr} %}}"
    elif spec["wrap"] == "if":
        body = f"{{% if {expr} %}}{{% endif %}}"
    elif spec["wrap"] == "loop":
        body = f"{{% for message in messages %}}{{{{ message['content'] }}}}{{% if loop.first %}}{{{{ {expr} }}}}{{% endif %}}{{% endfor %}}"
    else:
        body = f"{{{{ {expr} }}}}"
    return ("{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
            "{% endfor %}" + body + "{% if add_generation_prompt %}<|assistant|>{% endif %}"), tokens


def gguf_bytes(kvs):
    """A GGUF v3 file with string metadata only and no tensors."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    out = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 0) + struct.pack("<Q", len(kvs))
    for k, v in kvs:
        if isinstance(v, int):
            out += s(k) + struct.pack("<I", 4) + struct.pack("<I", v)
        else:
            out += s(k) + struct.pack("<I", 8) + s(v)
    return out


BENIGN_TEMPLATES = [
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}",
    "{% set ns = namespace(found=false) %}{% for m in messages %}{% if m['role'] == 'system' %}{% set ns.found = true %}"
    "{% endif %}{% endfor %}{% if not ns.found %}<<SYS>>default<</SYS>>{% endif %}{% for m in messages %}"
    "{{ m['content']|trim }}{% endfor %}",
    "{%- for m in messages -%}{%- if m.role == 'user' -%}[INST] {{ m.content }} [/INST]{%- else -%}{{ m.content }}"
    "{{ eos_token }}{%- endif -%}{%- endfor -%}",
    "{% macro render(m) %}{% if m is mapping %}{% for k, v in m|items %}{{ k }}={{ render(v) }}{% endfor %}{% else %}"
    "{{ m }}{% endif %}{% endmacro %}{% for m in messages %}{{ render(m) }}{% endfor %}",
    "{% if tools %}{% for t in tools %}{{ t|tojson }}{% endfor %}{% endif %}{% for m in messages %}"
    + "{% if true %}" * 30 + "{{ m['content'] }}" + "{% endif %}" * 30 + "{% endfor %}",
    # Deeply nested but benign (principle 6: a clear verdict, not a high one).
    "{% for m in messages %}" + "{% if m['role'] %}{% for c in [m['content']] %}" * 60 + "{{ c }}"
    + "{% endfor %}{% endif %}" * 60 + "{% endfor %}",
]


def gen_jinja(out, rng, k):
    cls = "jinja-template"
    containers = ["tokenizer_config_str", "tokenizer_config_list", "chat_template_jinja",
                  "chat_template_json", "gguf", "gguf_named"]
    for i in range(k):
        container = containers[i % len(containers)]
        how = STR_HOWS[i % len(STR_HOWS)]
        if how == "token" and container.startswith("gguf"):
            how = "concat"  # GGUF special tokens are ids into the vocabulary, not strings
        spec = {"seed": rng.randrange(1 << 30), "how": how,
                "start": rng.choice(["lipsum", "cycler", "joiner", "namespace", "self", "subclasses"]),
                "access": rng.choice(["subscript", "subscript", "attr_filter", "dot"]),
                "wrap": rng.choice(["expr", "set", "if", "loop"])}
        list_pos = rng.choice(["default", "tool_use", "rag"])
        call = rng.choice([("os", "system", "true"), ("subprocess", "getoutput", "true"),
                           ("builtins", "exec", "None"), ("posix", "system", "true"),
                           ("subprocess", "check_output", "true")])
        vid = f"{cls}-{i:03d}"
        paths = {}
        for role, (m, n) in (("payload", call[:2]), ("twin", CANARY)):
            tpl, tokens = jinja_payload(spec, m, n, call[2])
            d = os.path.join(out.root, cls, vid, role, "model")
            os.makedirs(d, exist_ok=True)
            cfg = {"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "PreTrainedTokenizerFast"}
            if tokens:
                cfg["additional_special_tokens"] = tokens
            if container == "tokenizer_config_str":
                cfg["chat_template"] = tpl
            elif container == "tokenizer_config_list":
                named = [{"name": "default", "template": BENIGN_TEMPLATES[0]},
                         {"name": "tool_use", "template": BENIGN_TEMPLATES[1]},
                         {"name": "rag", "template": BENIGN_TEMPLATES[2]}]
                for t in named:
                    if t["name"] == list_pos:
                        t["template"] = tpl
                cfg["chat_template"] = named
            elif container == "chat_template_jinja":
                with open(os.path.join(d, "chat_template.jinja"), "w") as f:
                    f.write(tpl)
            elif container == "chat_template_json":
                with open(os.path.join(d, "chat_template.json"), "w") as f:
                    json.dump({"chat_template": tpl}, f)
            if container.startswith("gguf"):
                path = os.path.join(d, "model.gguf")
                kvs = [("general.architecture", "llama"), ("general.name", "m"), ("tokenizer.ggml.model", "llama")]
                if container == "gguf":
                    kvs.append(("tokenizer.chat_template", tpl))
                else:
                    # llama.cpp's named templates: tokenizer.chat_template.<name>.
                    kvs += [("tokenizer.chat_template", BENIGN_TEMPLATES[0]),
                            (f"tokenizer.chat_template.{list_pos}", tpl)]
                with open(path, "wb") as f:
                    f.write(gguf_bytes(kvs))
                paths[role] = os.path.relpath(path, out.root)
            else:
                with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                    json.dump(cfg, f, indent=1)
                paths[role] = os.path.relpath(d, out.root)
        out.attack(cls, vid, paths["payload"], paths["twin"], ["jinja2"],
                   f"container={container} pos={list_pos} how={spec['how']} start={spec['start']} "
                   f"access={spec['access']} wrap={spec['wrap']} [{call[0]}.{call[1]}]", control_ok=False)
    for j, tpl in enumerate(BENIGN_TEMPLATES):
        vid = f"{cls}-benign-{j:02d}"
        d = os.path.join(out.root, cls, vid, "benign", "model")
        os.makedirs(d, exist_ok=True)
        cfg = {"bos_token": "<s>", "eos_token": "</s>",
               "chat_template": tpl if j % 2 == 0 else [{"name": "default", "template": tpl},
                                                        {"name": "tool_use", "template": BENIGN_TEMPLATES[0]}]}
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f)
        out.benign(cls, vid, os.path.relpath(d, out.root), f"benign chat template {j}")
    vid = f"{cls}-benign-gguf"
    out.benign(cls, vid, out.write(cls, vid, "benign", "model.gguf", gguf_bytes(
        [("general.architecture", "llama"), ("tokenizer.chat_template", BENIGN_TEMPLATES[1])])), "benign gguf template")


# Model-side Python: how the module reaches mod.name(arg). Each renders a few lines of code.
PY_REACH = {
    "import_as": lambda m, n, a: f"import {m} as _m\n_m.{n}({a!r})",
    "from_import_alias": lambda m, n, a: f"from {m} import {n} as run\nrun({a!r})",
    "getattr_import": lambda m, n, a: (f"getattr(__import__({m[:1]!r} + {m[1:]!r}), "
                                       f"{n[:2]!r} + {n[2:]!r})({a!r})"),
    "importlib": lambda m, n, a: f"import importlib\nimportlib.import_module({m!r}).{n}({a!r})",
    "importlib_getattr": lambda m, n, a: (f"import importlib as il\nf = getattr(il.import_module({m!r}), {n!r})\n"
                                          f"f({a!r})"),
    # The oracle imports the canary module first, as os is always in sys.modules.
    "sys_modules": lambda m, n, a: f"import sys\nsys.modules[{m!r}].{n}({a!r})",
    "builtins_import": lambda m, n, a: f"import builtins\ngetattr(builtins, '__import__')({m!r}).{n}({a!r})",
    "vars_import": lambda m, n, a: f"vars(__import__({m!r}))[{n!r}]({a!r})",
    "exec_string": lambda m, n, a: f"exec({f'import {m}; {m}.{n}({a!r})'!r})",
    "star_import": lambda m, n, a: f"from {m} import *\n{n}({a!r})",
    "partial": lambda m, n, a: f"import functools\nimport {m} as _m\nfunctools.partial(_m.{n}, {a!r})()",
    "methodcaller": lambda m, n, a: f"import operator\nimport {m}\noperator.methodcaller({n!r}, {a!r})({m})",
    "rot13": lambda m, n, a: (f"import codecs\ngetattr(__import__(codecs.decode({codecs.encode(m, 'rot13')!r}, "
                              f"'rot13')), codecs.decode({codecs.encode(n, 'rot13')!r}, 'rot13'))({a!r})"),
    "b64": lambda m, n, a: (f"import base64\n"
                            f"getattr(__import__(base64.b64decode({base64.b64encode(m.encode()).decode()!r}).decode()), "
                            f"base64.b64decode({base64.b64encode(n.encode()).decode()!r}).decode())({a!r})"),
    "sys_modules_get": lambda m, n, a: f"import sys\ngetattr(sys.modules.get({m!r}), {n!r})({a!r})",
    "builtins_dict": lambda m, n, a: f"__builtins__['__import__']({m!r}).{n}({a!r}) if isinstance(__builtins__, dict) "
                                     f"else __builtins__.__import__({m!r}).{n}({a!r})",
}

PY_CALLS = [("os", "system", "true"), ("posix", "system", "true"), ("subprocess", "Popen", "true"),
            ("subprocess", "run", "true"), ("subprocess", "check_call", "true"), ("os", "popen", "true"),
            ("os", "spawnlp", "true"), ("os", "execvp", "true"), ("pty", "spawn", "true"),
            ("os", "posix_spawnp", "true"), ("nt", "system", "true"), ("ctypes", "CDLL", "libc.so.6"),
            ("subprocess", "getstatusoutput", "true")]


def py_module_source(reach, place, m, n, a, clsname):
    code = PY_REACH[reach](m, n, a)
    ind = lambda s, k: "\n".join(" " * k + line for line in s.splitlines())  # noqa: E731
    header = "import math\n\n"
    if place == "module":
        return header + code + f"\n\n\nclass {clsname}:\n    def __init__(self, *args, **kwargs):\n        self.scale = math.pi\n"
    if place == "class_body":
        return header + f"class {clsname}:\n{ind(code, 4)}\n\n    def __init__(self, *args, **kwargs):\n        pass\n"
    if place == "init":
        return header + f"class {clsname}:\n    def __init__(self, *args, **kwargs):\n{ind(code, 8)}\n"
    if place == "helper":
        return header + f"def _setup():\n{ind(code, 4)}\n\n\nclass {clsname}:\n    def __init__(self, *args, **kwargs):\n        _setup()\n"
    # default_arg: a one-line call evaluated when the function is defined, at import.
    if "\n" in code:
        return header + code + f"\n\n\nclass {clsname}:\n    pass\n"
    return header + f"def _helper(x=[{code}]):\n    return x\n\n\nclass {clsname}:\n    pass\n"


def gen_python(out, rng, k):
    cls = "model-python"
    reaches = sorted(PY_REACH)
    for i in range(k):
        reach = reaches[i % len(reaches)]
        place = rng.choice(["module", "class_body", "init", "helper", "default_arg"])
        if reach == "star_import":
            place = "module"  # `from m import *` is only allowed at module level
        call = rng.choice(PY_CALLS)
        host = rng.choice(["hf_auto_map", "hf_tokenizer_auto_map", "st_modules", "st_modules_subdir"])
        vid = f"{cls}-{i:03d}"
        paths = {}
        for role, (m, n) in (("payload", call[:2]), ("twin", CANARY)):
            d = os.path.join(out.root, cls, vid, role, "model")
            os.makedirs(d, exist_ok=True)
            if host.startswith("hf"):
                modname, clsname = rng.choice([("modeling_custom", "CustomModel"),
                                               ("configuration_x", "XConfig"), ("tokenization_x", "XTokenizer")]) \
                    if role == "payload" else (paths["mod"], paths["cls"])
                paths["mod"], paths["cls"] = modname, clsname
                with open(os.path.join(d, modname + ".py"), "w") as f:
                    f.write(py_module_source(reach, place, m, n, call[2], clsname))
                if host == "hf_auto_map":
                    with open(os.path.join(d, "config.json"), "w") as f:
                        json.dump({"model_type": "custom", "architectures": [clsname],
                                   "auto_map": {"AutoModel": f"{modname}.{clsname}",
                                                "AutoConfig": f"{modname}.{clsname}"}}, f, indent=1)
                else:
                    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                        json.dump({"tokenizer_class": clsname,
                                   "auto_map": {"AutoTokenizer": [f"{modname}.{clsname}", None]}}, f)
            else:
                modname, clsname = "custom_pool", "Pool"
                sub = "1_Pool" if host == "st_modules_subdir" else ""
                with open(os.path.join(d, modname + ".py"), "w") as f:
                    f.write(py_module_source(reach, place, m, n, call[2], clsname))
                with open(os.path.join(d, "modules.json"), "w") as f:
                    json.dump([{"idx": 0, "name": "0", "path": "",
                                "type": "sentence_transformers.models.Transformer"},
                               {"idx": 1, "name": "1", "path": sub, "type": f"{modname}.{clsname}"}], f, indent=1)
                if sub:
                    os.makedirs(os.path.join(d, sub), exist_ok=True)
                    with open(os.path.join(d, sub, "config.json"), "w") as f:
                        json.dump({"pooling_mode": "mean"}, f)
            paths[role] = os.path.relpath(d, out.root)
        out.attack(cls, vid, paths["payload"], paths["twin"],
                   ["hf-auto-map" if host.startswith("hf") else "st-modules"],
                   f"host={host} reach={reach} place={place} [{call[0]}.{call[1]}]", control_ok=False)
    benign_src = ("import math\nimport json\nfrom typing import Optional\n\n\nclass CustomModel:\n"
                  "    def __init__(self, config=None, *args, **kwargs):\n        self.scale = math.sqrt(2.0)\n"
                  "        self.config = json.loads('{}') if config is None else config\n")
    vid = f"{cls}-benign-hf"
    d = os.path.join(out.root, cls, vid, "benign", "model")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "modeling_custom.py"), "w") as f:
        f.write(benign_src)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "custom", "auto_map": {"AutoModel": "modeling_custom.CustomModel"}}, f)
    out.benign(cls, vid, os.path.relpath(d, out.root), "benign auto_map module (math/json only)")


MLMODEL_STYLES = ["plain", "flow", "anchor", "block", "tagged", "quoted_escape", "dupe_key", "odd_types",
                  "doc_markers"]


def yaml_escape(value):
    """A YAML double-quoted body where every underscore is written as an escape."""
    return "".join("\\x5f" if c == "_" else c for c in value)


def mlmodel_text(style, key, value, extra):
    """MLmodel YAML whose python_function flavor has key: value, written in one of several styles."""
    pf_lines = {"plain": f"    {key}: {value}",
                "anchor": f"    {key}: *ref",
                "block": f"    {key}: >-\n      {value}",
                "tagged": f"    {key}: !!str {value}",
                "quoted_escape": f"    {key}: \"{yaml_escape(value)}\"",
                "dupe_key": f"    {key}: benign_value\n    {key}: {value}",
                "odd_types": f"    {key}: {value}",
                "doc_markers": f"    {key}: {value}"}
    lines = []
    if style == "doc_markers":
        lines.append("%YAML 1.1\n---")
    if style == "anchor":
        lines.append(f"artifact_path: &ref {value}")
    else:
        lines.append("artifact_path: model")
    if style == "odd_types":
        lines += ["mlflow_version: 2.10", "utc_time_created: 2024-01-01 00:00:00", "model_size_bytes: 0x10",
                  "saved_input_example_info: null", "signature: [1, 2, {a: b}]", "databricks_runtime: ~"]
    if style == "flow":
        kv = ", ".join([f"{key}: {value}"] + [f"{a}: {b}" for a, b in extra])
        lines.append("flavors:\n  python_function: {" + kv + ", python_version: 3.10.12}")
    else:
        lines.append("flavors:\n  python_function:")
        lines.append(pf_lines[style] if style in pf_lines else f"    {key}: {value}")
        for a, b in extra:
            lines.append(f"    {a}: {b}")
        lines.append("    python_version: 3.10.12" if style != "odd_types" else "    python_version: 3.10")
        lines.append("    env: {conda: conda.yaml, virtualenv: python_env.yaml}")
    if style == "doc_markers":
        lines.append("...")
    return "\n".join(lines) + "\n"


def gen_mlflow(out, rng, k):
    cls = "mlflow-mlmodel"
    modes = ["loader_module", "python_model", "model_code_path"]
    for i in range(k):
        mode = modes[i % len(modes)]
        style = MLMODEL_STYLES[(i // len(modes)) % len(MLMODEL_STYLES)]
        reach = rng.choice(sorted(PY_REACH))
        call = rng.choice(PY_CALLS)
        spec = draw_pickle_spec(rng)
        spec["first"] = rng.choice(["proto", "none", "text0"])
        spec["call"] = draw_call_spec(rng, spec["first"] == "text0")
        vid = f"{cls}-{i:03d}"
        paths = {}
        for role, (m, n) in (("payload", call[:2]), ("twin", CANARY)):
            d = os.path.join(out.root, cls, vid, role, "model")
            os.makedirs(os.path.join(d, "code"), exist_ok=True)
            code = PY_REACH[reach](m, n, call[2])
            if mode == "loader_module":
                with open(os.path.join(d, "code", "custom_loader.py"), "w") as f:
                    f.write("import math\n\n\ndef _load_pyfunc(path):\n"
                            + "\n".join("    " + ln for ln in code.splitlines()) + "\n    return math\n")
                text = mlmodel_text(style, "loader_module", "custom_loader", [("code", "code")])
            elif mode == "python_model":
                with open(os.path.join(d, "python_model.pkl"), "wb") as f:
                    f.write(render_pickle(spec, m, n, call[2]))
                text = mlmodel_text(style, "python_model", "python_model.pkl",
                                    [("loader_module", "mlflow.pyfunc.model"), ("cloudpickle_version", "3.0.0")])
            else:
                with open(os.path.join(d, "model_code.py"), "w") as f:
                    f.write("import math\n" + code + "\n\nmodel = math\n")
                text = mlmodel_text(style, "model_code_path", "model_code.py",
                                    [("loader_module", "mlflow.pyfunc.model")])
            with open(os.path.join(d, "MLmodel"), "w") as f:
                f.write(text)
            paths[role] = os.path.relpath(d, out.root)
        out.attack(cls, vid, paths["payload"], paths["twin"], ["mlflow-pyfunc"],
                   f"mode={mode} yaml={style} reach={reach} [{call[0]}.{call[1]}]"
                   + (" " + spec_desc(spec) if mode == "python_model" else ""), control_ok=False)
    vid = f"{cls}-benign-sklearn"
    d = os.path.join(out.root, cls, vid, "benign", "model")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "MLmodel"), "w") as f:
        f.write("artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                "    model_path: model.pkl\n    python_version: 3.10.12\n  sklearn:\n    pickled_model: model.pkl\n"
                "    serialization_format: cloudpickle\n    sklearn_version: 1.4.0\nmlflow_version: 2.10.0\n")
    with open(os.path.join(d, "model.pkl"), "wb") as f:
        f.write(pickle.dumps({"coef": [1.0, 2.0]}, protocol=4))
    out.benign(cls, vid, os.path.relpath(d, out.root), "benign sklearn-flavour MLmodel")


SEVENZIP_METHODS = {
    "7z": [["-m0=PPMd"], ["-m0=LZMA"], ["-m0=LZMA2"], ["-m0=BZip2"], ["-m0=Deflate64"], ["-m0=Copy"],
           ["-m0=BCJ", "-m1=LZMA"], ["-m0=ARM", "-m1=LZMA2"], ["-m0=Delta:4", "-m1=LZMA"], ["-m0=PPMd", "-mhc=off"]],
    "zip": [["-mm=Deflate64"], ["-mm=PPMd"], ["-mm=LZMA"], ["-mm=BZip2"], ["-mm=Copy"], ["-mm=Deflate"]],
}


def sevenzip_archive(kind, opts, members):
    """An archive written by the 7-Zip CLI (members: name -> bytes), with fixed timestamps."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in members:
            p = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (946684800, 946684800))
        out = os.path.join(tmp, "out." + kind)
        extra = ["-mtm=off", "-mtc=off", "-mta=off"] if kind == "7z" else []
        subprocess.run(["7z", "a", f"-t{kind}", *opts, *extra, out] + [n for n, _ in members], cwd=tmp,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out, "rb") as f:
            return f.read()


def gen_sevenzip(out, rng, k):
    """Archives whose members Python's zipfile cannot decode but 7-Zip extracts (principle 4:
    uninspectable is never clean): 7z with PPMd, BCJ/ARM/Delta filters, Deflate64; zip with
    Deflate64 and PPMd; plus methods both read."""
    if shutil.which("7z") is None:
        return
    cls = "archive-methods"
    combos = [("7z", o) for o in SEVENZIP_METHODS["7z"]] + [("zip", o) for o in SEVENZIP_METHODS["zip"]]
    for i in range(k):
        kind, opts = combos[i % len(combos)]
        spec = draw_pickle_spec(rng)
        # A compressible filler first: 7-Zip stores members that do not shrink, whatever -mm says.
        spec["first"] = "longstr_pop"
        spec["junk_kind"], spec["junk_len"], spec["junk_magic"] = "B", 8192, None
        spec["call"] = draw_call_spec(rng)
        call = pick_call(rng)
        member = rng.choice(["model.pkl", "data/weights.bin", "model.joblib", "pytorch_model.bin"])
        fname = rng.choice([f"model.{kind}", f"bundle.{kind}", "model.bin"])
        loaders = ["7z-extract+pickle"] + (["zip-extract+pickle"] if kind == "zip" else [])

        def render(m, n, a, spec=spec, kind=kind, opts=opts, member=member):
            return sevenzip_archive(kind, opts, [("README.txt", b"model card\n"), (member, render_pickle(spec, m, n, a))])

        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, loaders,
                       f"{kind} {' '.join(opts)} member={member} " + spec_desc(spec), call=call)
    for j, (kind, opts) in enumerate([("7z", ["-m0=PPMd"]), ("zip", ["-mm=Deflate64"]), ("7z", ["-m0=LZMA2"])]):
        vid = f"{cls}-benign-{j:02d}"
        data = sevenzip_archive(kind, opts, [("labels.txt", b"cat\ndog\n"),
                                             ("model.pkl", pickle.dumps({"coef": [1.0, 2.0]}, 4))])
        out.benign(cls, vid, out.write(cls, vid, "benign", f"bundle.{kind}", data), f"benign {kind} {' '.join(opts)}")


def _rar_writer():
    """testdata/generate/rar.py: the one RAR writer (byte by byte from RARLab's technotes)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "generate", "rar.py")
    spec = importlib.util.spec_from_file_location("rar_writer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RAR_SHAPES = ["v5", "v4", "v5-sfx", "v4-sfx", "v4-unicode-name", "v4-nul-name", "v5-dir", "v4-backslash-dir",
              "v5-duplicate", "v5-after-benign", "v5-header-crc", "v4-header-crc", "v5-stream", "v5-windows-host"]


def rar_archive(w, shape, member, data):
    """A RAR archive of one shape whose payload member `member` holds `data` (stored)."""
    benign = pickle.dumps({"coef": [1.0, 2.0]}, 4)
    enc = member.encode()
    if shape == "v4":
        return w.rar4(w.file4(enc, data))
    if shape == "v5-sfx":
        return w.SFX_PRELUDE + w.rar5(w.file5(enc, data))
    if shape == "v4-sfx":
        return w.SFX_PRELUDE + w.rar4(w.file4(enc, data))
    if shape == "v4-unicode-name":
        return w.rar4(w.file4(w.unicode_name(b"README.txt", member), data, flags=0x0200))
    if shape == "v4-nul-name":
        return w.rar4(w.file4(enc + b"\0.txt", data))
    if shape == "v5-dir":
        return w.rar5(w.file5(b"model", b"", directory=True), w.file5(b"model/" + enc, data))
    if shape == "v4-backslash-dir":
        return w.rar4(w.file4(b"model\\" + enc, data))
    if shape == "v5-duplicate":
        return w.rar5(w.file5(enc, benign), w.file5(enc, data))
    if shape == "v5-after-benign":
        return w.rar5(w.file5(b"config.json", b'{"model_type": "bert"}'), w.file5(enc, data))
    if shape == "v5-header-crc":
        return w.rar5(w.file5(enc, data, bad_crc=True))
    if shape == "v4-header-crc":
        return w.rar4(w.file4(enc, data, bad_crc=True))
    if shape == "v5-stream":
        return w.rar5(w.file5(b"config.json", b'{"model_type": "bert"}'), w.file5(b"STM", data, htype=3))
    if shape == "v5-windows-host":
        return w.rar5(w.file5(enc, data, host=0))
    return w.rar5(w.file5(enc, data))


def gen_rar(out, rng, k):
    """RAR archives (RAR 4 and 5, stored members; no free tool compresses RAR) that 7-Zip
    extracts: plain, behind a self-extractor prelude, RAR 4 Unicode and NUL-cut names, directories,
    duplicates, broken header CRCs (unrar extracts those, 7-Zip does not: not a control), NTFS
    streams, Windows-made names."""
    if shutil.which("7z") is None:
        return
    w = _rar_writer()
    cls = "rar-archives"
    for i in range(k):
        shape = RAR_SHAPES[i % len(RAR_SHAPES)]
        spec = draw_pickle_spec(rng)
        spec["call"] = draw_call_spec(rng)
        call = pick_call(rng)
        member = rng.choice(["model.pkl", "weights.bin", "model.joblib", "pytorch_model.bin"])
        fname = "setup.exe" if shape.endswith("-sfx") else rng.choice(["model.rar", "bundle.rar", "weights.rar"])

        def render(m, n, a, spec=spec, shape=shape, member=member):
            return rar_archive(w, shape, member, render_pickle(spec, m, n, a))

        out.pair_files(cls, f"{cls}-{i:03d}", fname, render, ["7z-extract+pickle"],
                       f"{shape} member={member} " + spec_desc(spec), call=call,
                       control_ok="header-crc" not in shape)
    for j, shape in enumerate(["v5", "v4", "v5-dir"]):
        vid = f"{cls}-benign-{j:02d}"
        data = rar_archive(w, shape, "model.pkl", pickle.dumps({"coef": [1.0, 2.0]}, 4))
        out.benign(cls, vid, out.write(cls, vid, "benign", "model.rar", data), f"benign {shape}")


HYDRA_STYLES = ["plain", "nested_list", "flow", "anchor_merge", "interpolation", "quoted_key", "kwargs",
                "partial", "json", "nemo_tar", "args_nested", "nemo_nested_list", "nemo_partial",
                "nemo_args_nested", "nemo_tgz", "nemo_kwargs"]


def hydra_config(style, target, arg):
    """A Hydra/NeMo config whose `_target_` names target, in one of several spellings."""
    if style == "json":
        return json.dumps({"model": {"name": "m", "encoder": {"_target_": target, "_args_": [arg]}}}, indent=1)
    if style == "nested_list":
        return (f"model:\n  name: m\n  layers:\n    - units: 4\n    - _target_: {target}\n"
                f"      _args_: [{arg}]\n")
    if style == "flow":
        return f"model: {{name: m, encoder: {{_target_: {target}, _args_: [{arg}]}}}}\n"
    if style == "anchor_merge":
        return (f"base: &base\n  _target_: {target}\n  _args_: [{arg}]\nmodel:\n  encoder:\n"
                f"    <<: *base\n")
    if style == "interpolation":
        # OmegaConf resolves ${...} before Hydra reads the target.
        mod, _, name = target.rpartition(".")
        return (f"vars:\n  m: {mod}\n  n: {name}\nmodel:\n  encoder:\n    _target_: ${{vars.m}}.${{vars.n}}\n"
                f"    _args_: [{arg}]\n")
    if style == "quoted_key":
        return f"model:\n  encoder:\n    \"_target_\": '{target}'\n    \"_args_\": ['{arg}']\n"
    if style == "kwargs":
        return f"model:\n  encoder:\n    _target_: {target}\n    command: {arg}\n"
    if style == "args_nested":
        # The target as an argument of another target: Hydra instantiates arguments recursively.
        return (f"model:\n  encoder:\n    _target_: builtins.list\n    _args_:\n      - - _target_: {target}\n"
                f"          _args_: [{arg}]\n")
    if style == "partial":
        # Returns functools.partial without calling it: Hydra does not reach the call here.
        return f"model:\n  encoder:\n    _target_: {target}\n    _partial_: true\n    _args_: [{arg}]\n"
    return f"model:\n  name: m\n  encoder:\n    _target_: {target}\n    _args_: [{arg}]\n"


def gen_hydra(out, rng, k):
    cls = "hydra-config"
    calls = [("os", "system", "true"), ("posix", "system", "true"), ("subprocess", "getoutput", "true"),
             ("subprocess", "check_output", "true"), ("builtins", "eval", "0"), ("os", "popen", "true")]
    for i in range(k):
        style = HYDRA_STYLES[i % len(HYDRA_STYLES)]
        call = rng.choice(calls)
        nemo = style.startswith("nemo_")
        name = "config.json" if style == "json" else "model.nemo" if nemo else rng.choice(
            ["model_config.yaml", "config.yaml", "hparams.yaml", "conf.yml"])

        def render(m, n, a, style=style, nemo=nemo):
            # A .nemo archive carries its config as ./model_config.yaml (NeMo's
            # SaveRestoreConnector; a gzip tar before NeMo 1.7), in any of the config styles.
            inner = style[len("nemo_"):] if nemo else style
            inner = "plain" if inner in ("tar", "tgz") else inner
            text = hydra_config(inner, f"{m}.{n}", a).encode()
            if nemo:
                tar = build_tar([("./model_config.yaml", text, b"0", "ustar"),
                                 ("./model_weights.ckpt", pickle.dumps({"w": [1.0]}, 2), b"0", "ustar")])
                return gzip.compress(tar, mtime=0) if style == "nemo_tgz" else tar
            return text

        out.pair_files(cls, f"{cls}-{i:03d}", name, render, ["hydra-instantiate"], f"style={style} name={name}",
                       call=call, control_ok=False)
    vid = f"{cls}-benign"
    text = b"model:\n  optim:\n    _target_: torch.optim.Adam\n    lr: 0.001\n  sched:\n    _target_: collections.OrderedDict\n"
    out.benign(cls, vid, out.write(cls, vid, "benign", "model_config.yaml", text), "benign Hydra targets")


CLASSES = {
    "pickle-first-opcode": gen_pickle_first_opcode,
    "pickle-memo": gen_pickle_memo,
    "names-lie": gen_names,
    "compression": gen_compression,
    "joblib-inline": gen_joblib_inline,
    "npy-header": gen_npy_header,
    "zip-members": gen_zip,
    "tar-entries": gen_tar,
    "archive-structure": gen_archive_structure,
    "hdf5-userblock": gen_hdf5,
    "jinja-template": gen_jinja,
    "model-python": gen_python,
    "mlflow-mlmodel": gen_mlflow,
    "hydra-config": gen_hydra,
    "archive-methods": gen_sevenzip,
    "rar-archives": gen_rar,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--classes", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out = Out(os.path.abspath(args.out))
    wanted = [c for c in args.classes.split(",") if c] or list(CLASSES)
    for name in wanted:
        # One RNG per class, derived from the seed and the class name, so adding a class or
        # changing one class's draws leaves the others' variants as they were.
        rng = random.Random(f"{args.seed}:{name}")
        CLASSES[name](out, rng, args.per_class)
    with open(os.path.join(out.root, "cases.json"), "w") as f:
        json.dump({"seed": args.seed, "per_class": args.per_class, "cases": out.cases}, f, indent=1)
    print(len(out.cases))


if __name__ == "__main__":
    main()
