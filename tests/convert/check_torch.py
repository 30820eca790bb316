#!/usr/bin/env python3
"""Independent check of a modelgate PyTorch/NumPy → safetensors conversion (tests/convert.rs).

usage: check_torch.py JOBS.json   (a list of [SOURCE, OUTPUT.safetensors] pairs)

The source is read with Python's own pickle machinery restricted to stub callables (find_class
never returns a real global; anything outside the torch rebuild set raises), storages are read
from the zip records or the legacy trailer, and every tensor is rebuilt with numpy as_strided
on the raw storage bytes. Every tensor in OUTPUT (read with the safetensors package; BF16/F8 as
raw bytes) must equal it; aliases in __metadata__ must name an equal tensor; format and the
source sha256 must be recorded. `.npy`/`.npz` sources are read with numpy.load
(allow_pickle=False) instead. Prints a JSON list of results.
"""
import hashlib
import io
import json
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
from safetensors import safe_open

STORAGE = {"DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2", "BFloat16Storage": "u2",
           "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
           "ByteStorage": "u1", "BoolStorage": "?"}
DTYPE = {"float8_e4m3fn": "u1", "float8_e5m2": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
         "float32": "f4", "float16": "f2", "bfloat16": "u2", "int64": "i8", "bool": "?"}


class Marker:
    def __init__(self, kind, name):
        self.kind, self.name = kind, name


class TensorDesc:
    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.np = DTYPE[dtype.name] if dtype is not None else STORAGE[storage[0].name]


def rebuild_v2(storage, offset, size, stride, *rest):
    return TensorDesc(storage, offset, size, stride)


def rebuild_v3(storage, offset, size, stride, rg, hooks, dtype, *rest):
    return TensorDesc(storage, offset, size, stride, dtype)


FUNCS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_v2,
    ("torch._utils", "_rebuild_tensor_v3"): rebuild_v3,
    ("torch._utils", "_rebuild_parameter"): lambda t, *a: t,
    ("torch._utils", "_rebuild_parameter_with_state"): lambda t, *a: t,
    ("torch._tensor", "_rebuild_from_type_v2"): lambda f, ty, args, st: f(*args),
}


class Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in FUNCS:
            return FUNCS[(module, name)]
        if module == "torch" and name in STORAGE:
            return Marker("storage", name)
        if module == "torch" and name in DTYPE:
            return Marker("dtype", name)
        if module == "torch" and name == "Tensor":
            return Marker("type", name)
        if (module, name) == ("torch.storage", "UntypedStorage"):
            return Marker("storage", "UntypedStorage")
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid):
        return (pid[1], pid[2], pid[4])


def flatten(obj, prefix, out):
    if isinstance(obj, TensorDesc):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)) and any(isinstance(x, (TensorDesc, dict)) for x in obj):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)


def tensors_of(root):
    if isinstance(root, dict):
        for w in ("state_dict", "model", "model_state_dict"):
            if isinstance(root.get(w), dict):
                root = root[w]
                break
    out = {}
    flatten(root, "", out)
    return out


def read_source(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] == b"PK\x03\x04":
        z = zipfile.ZipFile(io.BytesIO(raw))
        pkl = min((n for n in z.namelist() if n.endswith("data.pkl")), key=len)
        prefix = pkl[: -len("data.pkl")]
        order = "<"
        if prefix + "byteorder" in z.namelist() and z.read(prefix + "byteorder").strip() == b"big":
            order = ">"
        root = Restricted(io.BytesIO(z.read(pkl))).load()
        storages = {k: z.read(f"{prefix}data/{k}") for k in
                    {n[len(prefix) + 5:] for n in z.namelist() if n.startswith(prefix + "data/")}}
        return tensors_of(root), storages, order
    f = io.BytesIO(raw)
    magic = pickle.load(f)
    assert magic == 0x1950A86A20F9469CFC6C, "not a legacy checkpoint"
    pickle.load(f)
    sys_info = pickle.load(f)
    order = "<" if sys_info["little_endian"] else ">"
    root = Restricted(f).load()
    keys = Restricted(f).load()
    found = tensors_of(root)
    elem = {t.storage[1]: np.dtype(t.np).itemsize for t in found.values()}
    storages = {}
    for k in keys:
        (n,) = struct.unpack(order + "q", f.read(8))
        storages[k] = f.read(n * elem[k])
    return found, storages, order


def materialise(t, storages, order):
    dt = np.dtype(t.np).newbyteorder(order) if np.dtype(t.np).itemsize > 1 else np.dtype(t.np)
    base = np.frombuffer(storages[t.storage[1]], dtype=dt)
    view = np.lib.stride_tricks.as_strided(base[t.offset:], shape=t.size,
                                           strides=[s * dt.itemsize for s in t.stride])
    return np.array(view, order="C").astype(dt.newbyteorder("<"))


def read_output(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    with safe_open(path, "np") as sf:
        for name, info in header.items():
            if info["dtype"] in ("BF16", "F8_E4M3", "F8_E5M2"):
                b, e = info["data_offsets"]
                dt = "<u2" if info["dtype"] == "BF16" else "u1"
                out[name] = np.frombuffer(raw[8 + n + b: 8 + n + e], dtype=dt).reshape(info["shape"])
            else:
                out[name] = sf.get_tensor(name)
    return out, meta


class Mismatch(Exception):
    pass


def fail(msg):
    raise Mismatch(msg)


def check_numpy(src, dst):
    got, meta = read_output(dst)
    if meta.get("format") != "np":
        fail(f"format {meta.get('format')}")
    if src.endswith(".npz"):
        with np.load(src, allow_pickle=False) as z:
            want = {k: z[k] for k in z.files}
    else:
        import os
        want = {os.path.splitext(os.path.basename(src))[0]: np.load(src, allow_pickle=False)}
    for k, v in want.items():
        h = got.get(k)
        if h is None or h.shape != v.shape or not np.array_equal(h, v.astype(v.dtype.newbyteorder("<"))):
            fail(f"{k} differs")
    if set(got) != set(want):
        fail(f"tensor names {sorted(got)} vs {sorted(want)}")
    return {"ok": True, "tensors": len(want), "aliases": 0}


def check(src, dst):
    if src.endswith((".npy", ".npz")):
        return check_numpy(src, dst)
    found, storages, order = read_source(src)
    got, meta = read_output(dst)
    if meta.get("format") != "pt":
        fail(f"format {meta.get('format')}")
    sha = hashlib.sha256(open(src, "rb").read()).hexdigest()
    if meta.get("source_sha256") != sha:
        fail("source_sha256 mismatch")
    checked, aliases = 0, 0
    for name, t in found.items():
        want = materialise(t, storages, order)
        if name in got:
            have = got[name]
        elif name in meta and meta[name] in got:
            have = got[meta[name]]
            aliases += 1
        else:
            fail(f"{name} missing from output")
        if have.shape != want.shape or have.tobytes() != want.astype(have.dtype).tobytes():
            fail(f"{name} differs: {have} vs {want}")
        checked += 1
    extra = set(got) - set(found)
    if extra:
        fail(f"unexpected tensors {sorted(extra)}")
    return {"ok": True, "tensors": checked, "aliases": aliases}


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    results = []
    for src, dst in jobs:
        try:
            r = check(src, dst)
        except Exception as e:
            r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        r["source"] = src
        results.append(r)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
