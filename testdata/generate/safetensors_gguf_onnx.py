#!/usr/bin/env python3
"""Writes the safetensors, GGUF/GGML and ONNX fixtures under testdata/{safetensors,gguf,onnx}/.

Benign files come from the reference writers (`safetensors`, `gguf`, `onnx` packages, with
`numpy`); malicious and malformed files are hand-crafted bytes. Nothing here loads or runs a model,
and every payload is inert (`os.system('true')`). Deterministic: re-running gives the same bytes.

Usage: /work/venv/bin/python testdata/generate/safetensors_gguf_onnx.py   (from the repository root)
Needs: pip install numpy safetensors gguf onnx
"""

import io
import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save as st_save

import gguf

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "gguf" / "templates"

# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."


def reset(area):
    for kind in ("benign", "malicious", "malformed"):
        d = ROOT / area / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    return ROOT / area


def zip_bytes(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(info, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# safetensors


def st_raw(header_obj, data, pad=True, header_text=None):
    text = header_text if header_text is not None else json.dumps(header_obj, separators=(",", ":"))
    hb = text.encode("utf-8") if isinstance(text, str) else text
    if pad:
        hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + data


def safetensors_fixtures():
    base = reset("safetensors")
    b, m, f = base / "benign", base / "malicious", base / "malformed"
    rng = np.random.default_rng(0)
    tensors = {
        "embed.weight": rng.standard_normal((16, 8)).astype(np.float32),
        "layer.bias": np.zeros(8, dtype=np.float16),
        "layer.mask": np.array([True, False, True]),
        "counts": np.arange(5, dtype=np.int64),
        "scalar": np.array(3.0, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    valid = st_save(tensors, metadata={"format": "pt", "source": "modelgate fixture"})
    (b / "numpy-mixed-dtypes.safetensors").write_bytes(valid)
    (b / "no-tensors.safetensors").write_bytes(st_save({}))
    (b / "metadata-only.safetensors").write_bytes(st_save({}, metadata={"format": "pt"}))
    # Sub-byte dtypes written by hand (numpy has no F4/F6): F4 [4] = 2 bytes, F6_E2M3 [4] = 3 bytes.
    (b / "sub-byte-dtypes.safetensors").write_bytes(
        st_raw(
            {
                "fp4": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]},
                "fp6": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [2, 5]},
            },
            bytes(5),
        )
    )

    one = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    (m / "trailing-pickle.safetensors").write_bytes(st_raw(one, bytes(8)) + PICKLE)
    (m / "trailing-zip.safetensors").write_bytes(
        st_raw(one, bytes(8)) + zip_bytes("archive/data.pkl", b"\x80\x02" + PICKLE)
    )
    hidden = b"\x80\x02" + PICKLE
    gap = len(hidden) + (8 - len(hidden) % 8) % 8
    (m / "leading-gap-pickle.safetensors").write_bytes(
        st_raw(
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [gap, gap + 8]}},
            hidden.ljust(gap, b"\0") + bytes(8),
        )
    )
    # PROTO 2, LONG1 of 5 bytes ending in '{' (so bytes 0..8 read as a small header length and
    # byte 8 as '{'), POP, then the payload.
    (m / "pickle-disguised-as-header.safetensors").write_bytes(
        b"\x80\x02\x8a\x05\x00\x00\x00\x00{0" + PICKLE
    )
    dup = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    (m / "duplicate-tensor.safetensors").write_bytes(st_raw(None, bytes(16), header_text=dup))

    (f / "truncated.safetensors").write_bytes(b"\x10\x00\x00")
    (f / "header-larger-than-file.safetensors").write_bytes(
        struct.pack("<Q", 4096) + b'{"w":{"dtype":"F32"}}'
    )
    (f / "header-over-limit.safetensors").write_bytes(
        struct.pack("<Q", 200_000_000) + b'{"a":{}}' + bytes(8)
    )
    (f / "invalid-utf8.safetensors").write_bytes(st_raw(None, b"", header_text=b'{"\xff\xfe":1}'))
    (f / "tensor-not-an-object.safetensors").write_bytes(st_raw(None, b"", header_text='{"a":[1,2,3]}'))
    (f / "newline-padding.safetensors").write_bytes(
        st_raw(None, bytes(8), header_text=json.dumps(one, separators=(",", ":")) + "\n\n\n", pad=False)
    )
    (f / "unknown-dtype.safetensors").write_bytes(
        st_raw({"w": {"dtype": "PICKLE", "shape": [2], "data_offsets": [0, 8]}}, bytes(8))
    )
    (f / "size-mismatch.safetensors").write_bytes(
        st_raw({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8))
    )
    (f / "overlapping.safetensors").write_bytes(
        st_raw(
            {
                "a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]},
            },
            bytes(12),
        )
    )
    (f / "out-of-bounds.safetensors").write_bytes(
        st_raw({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, bytes(16))
    )
    (f / "metadata-not-strings.safetensors").write_bytes(
        st_raw({"__metadata__": {"format": {"nested": [1, 2]}}, **one}, bytes(8))
    )
    (f / "end-before-begin.safetensors").write_bytes(
        st_raw({"w": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}}, bytes(8))
    )


# ------------------------------------------------------------------------------------------------
# GGUF / GGML


def gguf_file(path, kvs=(), tensors=(), template=None, arch="llama", extra=None):
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("modelgate fixture")
    for k, v in kvs:
        if isinstance(v, str):
            w.add_string(k, v)
        elif isinstance(v, bool):
            w.add_bool(k, v)
        elif isinstance(v, int):
            w.add_uint32(k, v)
        elif isinstance(v, list):
            w.add_array(k, v)
    if template is not None:
        w.add_chat_template(template)
    for name, arr in tensors:
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if extra:
        with open(path, "ab") as fh:
            fh.write(extra)


class Raw:
    """Hand-written GGUF for malformed cases (little-endian unless told otherwise)."""

    def __init__(self, version=3, tensors=0, kvs=0, be=False):
        self.e = ">" if be else "<"
        self.v1 = version == 1
        self.b = b"GGUF" + struct.pack(self.e + "I", version)
        self.b += self.n(tensors) + self.n(kvs)

    def n(self, x):
        return struct.pack(self.e + ("I" if self.v1 else "Q"), x)

    def s(self, text):
        raw = text.encode() if isinstance(text, str) else text
        self.b += self.n(len(raw)) + raw
        return self

    def kv_str(self, k, v):
        self.s(k)
        self.b += struct.pack(self.e + "I", 8)
        return self.s(v)

    def kv_u32(self, k, v):
        self.s(k)
        self.b += struct.pack(self.e + "II", 4, v)
        return self

    def tensor(self, name, dims, typ, off):
        self.s(name)
        self.b += struct.pack(self.e + "I", len(dims))
        for d in dims:
            self.b += self.n(d)
        self.b += struct.pack(self.e + "IQ", typ, off)
        return self

    def pad(self, a=32):
        self.b += b"\0" * ((a - len(self.b) % a) % a)
        return self


def gguf_fixtures():
    base = reset("gguf")
    b, m, f = base / "benign", base / "malicious", base / "malformed"
    rng = np.random.default_rng(1)
    w = [
        ("token_embd.weight", rng.standard_normal((8, 32)).astype(np.float32)),
        ("output_norm.weight", np.ones(32, dtype=np.float16)),
    ]
    for tpl in ("llama-3.1-tools", "qwen2.5-tools", "mistral-v3-tools", "gemma-it"):
        src = (TEMPLATES / "benign" / f"{tpl}.jinja").read_text()
        gguf_file(b / f"tiny-{tpl}.gguf", kvs=[("llama.context_length", 128)], tensors=w, template=src)
    gguf_file(
        b / "vocab-only.gguf",
        kvs=[
            ("tokenizer.ggml.model", "gpt2"),
            ("tokenizer.ggml.tokens", ["<s>", "</s>", "{{", "{%", "hello"]),
            ("tokenizer.ggml.scores", [0.0, 0.0, -1.0, -1.0, -2.0]),
            ("general.description", "Braces such as {{ and {% appear in text."),
        ],
    )
    # GGUF v1 (32-bit counts) and a big-endian v3 file, written by hand.
    r = Raw(version=1, tensors=1, kvs=1).kv_str("general.architecture", "llama")
    r.tensor("w", [4], 0, 0).pad()
    (b / "v1-minimal.gguf").write_bytes(r.b + bytes(16) + bytes(16))
    r = Raw(version=3, tensors=0, kvs=1, be=True).kv_str(
        "tokenizer.chat_template", (TEMPLATES / "benign" / "chatml.jinja").read_text()
    )
    (b / "big-endian-chatml.gguf").write_bytes(r.b)
    # Legacy GGML: unversioned ggml magic then hyper-parameters; GGJT v3.
    (b / "legacy-ggml.bin").write_bytes(b"lmgg" + struct.pack("<7i", 32000, 64, 256, 4, 2, 16, 1))
    (b / "legacy-ggjt-v3.bin").write_bytes(b"tjgg" + struct.pack("<I7i", 3, 32000, 64, 256, 4, 2, 16, 1))

    mal = TEMPLATES / "malicious"
    for name in (
        "01-mro-subclasses",
        "02-llama-drama",
        "03-cycler-globals",
        "13-join-filter",
        "15-format-percent-c",
        "22-dict-kwarg",
        "30-in-benign-chatml",
    ):
        gguf_file(m / f"ssti-{name}.gguf", tensors=w[:1], template=(mal / f"{name}.jinja").read_text())
    gguf_file(
        m / "ssti-named-template.gguf",
        kvs=[
            ("tokenizer.chat_template.tool_use", (mal / "09-attr-hex-escape.jinja").read_text()),
            ("tokenizer.chat_templates", ["tool_use"]),
        ],
        template=(TEMPLATES / "benign" / "chatml.jinja").read_text(),
    )
    gguf_file(
        m / "ssti-in-description.gguf",
        kvs=[("general.description", "{{ lipsum.__globals__['os'].popen('true').read() }}")],
    )
    # Duplicate chat_template: a harmless first copy and a malicious second one.
    r = Raw(tensors=0, kvs=2)
    r.kv_str("tokenizer.chat_template", "{{ messages[0]['content'] }}")
    r.kv_str("tokenizer.chat_template", (mal / "03-cycler-globals.jinja").read_text())
    (m / "duplicate-template.gguf").write_bytes(r.b)
    gguf_file(m / "appended-zip.gguf", tensors=w, extra=zip_bytes("data.pkl", b"\x80\x02" + PICKLE))
    gguf_file(m / "appended-pickle.gguf", tensors=w, extra=b"\x80\x02" + PICKLE)

    (f / "truncated-header.gguf").write_bytes(b"GGUF\x03\x00\x00")
    (f / "unknown-version.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    (f / "huge-kv-count.gguf").write_bytes(Raw(kvs=2**62).b)
    (f / "huge-tensor-count.gguf").write_bytes(Raw(tensors=2**40).b)
    r = Raw(kvs=1)
    r.s("general.name")
    r.b += struct.pack("<IQ", 8, 2**63) + b"abc"
    (f / "string-past-eof.gguf").write_bytes(r.b)
    r = Raw(kvs=1)
    r.s("tokenizer.ggml.tokens")
    r.b += struct.pack("<IIQ", 9, 8, 2**50)
    (f / "array-length-absurd.gguf").write_bytes(r.b)
    r = Raw(kvs=1)
    r.s("x")
    r.b += struct.pack("<I", 77) + bytes(8)
    (f / "unknown-value-type.gguf").write_bytes(r.b)
    # Arrays nested ten deep: value type ARRAY, then (element type ARRAY, length 1) x 10, then an
    # empty u8 array.
    r = Raw(kvs=1).s("nested")
    r.b += struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 10 + struct.pack("<IQ", 0, 0)
    (f / "arrays-nested-too-deep.gguf").write_bytes(r.b)
    r = Raw(tensors=2).tensor("a", [64], 0, 0).tensor("b", [64], 0, 100).pad()
    (f / "misaligned-overlapping.gguf").write_bytes(r.b + bytes(128))
    r = Raw(tensors=1).tensor("big", [1 << 30], 0, 0).pad()
    (f / "tensor-out-of-bounds.gguf").write_bytes(r.b + bytes(64))
    r = Raw(tensors=1).tensor("odd", [4], 9999, 0).pad()
    (f / "unknown-tensor-type.gguf").write_bytes(r.b + bytes(64))
    r = Raw(tensors=1).tensor("q", [33], 2, 0).pad()
    (f / "block-size-mismatch.gguf").write_bytes(r.b + bytes(64))
    r = Raw(kvs=1).kv_u32("general.alignment", 48)
    (f / "bad-alignment.gguf").write_bytes(r.b)
    r = Raw(tensors=2).tensor("dup", [8], 0, 0).tensor("dup", [8], 0, 32).pad()
    (f / "duplicate-tensor-name.gguf").write_bytes(r.b + bytes(64))
    (f / "ggjt-unknown-version.bin").write_bytes(b"tjgg" + struct.pack("<I", 42))
    (f / "ggml-truncated.bin").write_bytes(b"lmgg")


# ------------------------------------------------------------------------------------------------
# ONNX


def onnx_model(nodes, inits=(), inputs=None, outputs=None, opsets=(("", 17),), functions=()):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    g = helper.make_graph(list(nodes), "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(
        g,
        opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
        producer_name="modelgate-fixture",
        functions=list(functions),
    )
    m.ir_version = 8
    return m


def ext_tensor(name, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend([1, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key = k
            e.value = str(v)
    return t


def save(m, path):
    path.write_bytes(m.SerializeToString())


def onnx_fixtures():
    base = reset("onnx")
    b, m, f = base / "benign", base / "malicious", base / "malformed"
    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    mlp = onnx_model(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        inits=[w],
    )
    onnx.checker.check_model(mlp)
    save(mlp, b / "mlp.onnx")
    save(mlp, b / "mlp-unusual-extension.bin")
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])]
    )
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])]
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    iff = onnx_model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)], inits=[cond]
    )
    save(iff, b / "if-subgraph.onnx")
    ms = onnx_model(
        [helper.make_node("FusedMatMul", ["x", "w"], ["y"], domain="com.microsoft")],
        inits=[w],
        opsets=(("", 17), ("com.microsoft", 1)),
    )
    save(ms, b / "com-microsoft-op.onnx")
    # Model-local function in a custom domain: not a custom-op library.
    fn = helper.make_function(
        "local.fn", "Double", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
        opset_imports=[helper.make_opsetid("", 17)],
    )
    save(
        onnx_model(
            [helper.make_node("Double", ["x"], ["y"], domain="local.fn")],
            opsets=(("", 17), ("local.fn", 1)),
            functions=[fn],
        ),
        b / "local-function.onnx",
    )
    ext_dir = b / "external-data"
    ext_dir.mkdir()
    (ext_dir / "weights.bin").write_bytes(np.ones(16, dtype=np.float32).tobytes())
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "weights.bin", 0, 64)]),
        ext_dir / "model.onnx",
    )

    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "../../../../../../etc/passwd")]),
        m / "external-traversal.onnx",
    )
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "/etc/passwd", 0, 64)]),
        m / "external-absolute.onnx",
    )
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "C:\\Windows\\win.ini")]),
        m / "external-windows-absolute.onnx",
    )
    sub = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])],
        initializer=[ext_tensor("s", "weights/../../../home/user/.ssh/id_rsa")],
    )
    save(
        onnx_model([helper.make_node("If", ["cond"], ["y"], then_branch=sub, else_branch=else_g)], inits=[cond]),
        m / "external-traversal-in-subgraph.onnx",
    )
    const = helper.make_node("Constant", [], ["c"], value=ext_tensor("c", "..\\..\\secrets.txt"))
    save(
        onnx_model([const, helper.make_node("Add", ["x", "c"], ["y"])]),
        m / "external-traversal-in-constant.onnx",
    )
    save(
        onnx_model(
            [helper.make_node("Exec", ["x"], ["y"], domain="evil.ops")],
            opsets=(("", 17), ("evil.ops", 1)),
        ),
        m / "custom-domain.onnx",
    )
    link_dir = m / "external-symlink"
    link_dir.mkdir()
    # The link target sits outside the fixture folders (testdata/onnx/outside-secret.txt).
    (base / "outside-secret.txt").write_bytes(b"not model data\n" * 8)
    os.symlink("../../outside-secret.txt", link_dir / "weights.bin")
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "weights.bin", 0, 4)]),
        link_dir / "model.onnx",
    )

    good = mlp.SerializeToString()
    (f / "truncated.onnx").write_bytes(good[: len(good) // 2])
    # A TensorProto.raw_data whose length prefix claims 1 GB.
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.append(4)
    t.raw_data = b"\0" * 16
    bad = onnx_model([helper.make_node("Relu", ["x"], ["y"])], inits=[t]).SerializeToString()
    needle = b"\x4a\x10" + b"\0" * 16  # field 9 (raw_data), length 16
    assert needle in bad
    (f / "raw-data-larger-than-file.onnx").write_bytes(bad.replace(needle, b"\x4a\x80\x80\x80\x80\x04" + b"\0" * 16))
    ob = f / "external-out-of-range"
    ob.mkdir()
    (ob / "weights.bin").write_bytes(bytes(16))
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "weights.bin", 8, 4096)]),
        ob / "model.onnx",
    )
    save(
        onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], inits=[ext_tensor("w", "missing.bin")]),
        f / "external-missing-file.onnx",
    )


if __name__ == "__main__":
    safetensors_fixtures()
    gguf_fixtures()
    onnx_fixtures()
    print("fixtures written under", ROOT)
