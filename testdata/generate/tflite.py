#!/usr/bin/env python3
"""Writes the TensorFlow Lite and ONNX Runtime (ORT format) fixtures under testdata/{tflite,ort}/.

TFLite models are built with the `flatbuffers` package's Builder, field by field after
tensorflow/compiler/mlir/lite/schema/schema.fbs (no generated code, no TensorFlow). The benign ORT
model is converted from a small ONNX graph by onnxruntime's own converter
(`python -m onnxruntime.tools.convert_onnx_models_to_ort`); ORT files the converter refuses to
write (custom domains) are built with the Builder after onnxruntime/core/flatbuffers/schema/ort.fbs.
Nothing here runs a model, and every payload is inert (`os.system('true')`). Deterministic:
re-running gives the same bytes.

Usage: python -P testdata/generate/tflite.py   (from the repository root; -P keeps the
       generators directory, which holds a pickle.py, off sys.path)
Needs: pip install flatbuffers onnx onnxruntime numpy
"""

import io
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import flatbuffers
from flatbuffers import flexbuffers
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent

# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."

ADD, CUSTOM, PLACEHOLDER, CUMSUM = 0, 32, 127, 128


def reset(area):
    for kind in ("benign", "malicious", "malformed"):
        d = ROOT / area / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    return ROOT / area


# --------------------------------------------------------------------------------------------
# TFLite


def vec_of_offsets(b, offs):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def vec_of_i32(b, xs):
    b.StartVector(4, len(xs), 4)
    for x in reversed(xs):
        b.PrependInt32(x)
    return b.EndVector()


def byte_vec(b, data):
    b.StartVector(1, len(data), 16)  # force_align: 16, as the converter writes buffers
    for x in reversed(data):
        b.PrependUint8(x)
    return b.EndVector()


def tflite_model(
    opcodes,
    operators,
    buffers=None,
    metadata=(),
    version=3,
    identifier=b"TFL3",
    n_tensors=3,
    tensor_buffers=None,
):
    """opcodes: list of dicts (deprecated, builtin, custom, version); operators: list of dicts
    (opcode_index, inputs, outputs, large_offset, large_size); buffers: list of dicts (data,
    offset, size); metadata: list of (name, buffer index)."""
    if buffers is None:
        buffers = [{}, {"data": struct.pack("<4f", 1, 2, 3, 4)}]
    if tensor_buffers is None:
        tensor_buffers = [0, 1 if len(buffers) > 1 else 0] + [0] * (n_tensors - 2)
    b = flatbuffers.Builder(1024)
    desc = b.CreateString("modelgate fixture")
    sg_name = b.CreateString("main")
    # Tensors.
    tensors = []
    for i in range(n_tensors):
        name = b.CreateString(f"t{i}")
        shape = vec_of_i32(b, [1, 4])
        b.StartObject(10)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, 0, 0)  # FLOAT32
        b.PrependUint32Slot(2, tensor_buffers[i], 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        tensors.append(b.EndObject())
    tvec = vec_of_offsets(b, tensors)
    # Operators.
    ops = []
    for op in operators:
        copts = b.CreateByteVector(op["custom_options"]) if "custom_options" in op else None
        ins = vec_of_i32(b, op.get("inputs", [0, 1]))
        outs = vec_of_i32(b, op.get("outputs", [2]))
        b.StartObject(13)
        b.PrependUint32Slot(0, op["opcode_index"], 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        if copts is not None:
            b.PrependUOffsetTRelativeSlot(5, copts, 0)
        if "large_offset" in op:
            b.PrependUint64Slot(9, op["large_offset"], 0)
            b.PrependUint64Slot(10, op["large_size"], 0)
        ops.append(b.EndObject())
    ovec = vec_of_offsets(b, ops)
    sg_in = vec_of_i32(b, [0])
    sg_out = vec_of_i32(b, [n_tensors - 1])
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tvec, 0)
    b.PrependUOffsetTRelativeSlot(1, sg_in, 0)
    b.PrependUOffsetTRelativeSlot(2, sg_out, 0)
    b.PrependUOffsetTRelativeSlot(3, ovec, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()
    sgvec = vec_of_offsets(b, [subgraph])
    # Operator codes.
    codes = []
    for c in opcodes:
        custom = b.CreateString(c["custom"]) if c.get("custom") is not None else None
        b.StartObject(4)
        b.PrependInt8Slot(0, c.get("deprecated", 0), 0)
        if custom is not None:
            b.PrependUOffsetTRelativeSlot(1, custom, 0)
        b.PrependInt32Slot(2, c.get("version", 1), 1)
        b.PrependInt32Slot(3, c.get("builtin", 0), 0)
        codes.append(b.EndObject())
    cvec = vec_of_offsets(b, codes)
    # Buffers.
    bufs = []
    for buf in buffers:
        data = byte_vec(b, buf["data"]) if "data" in buf else None
        b.StartObject(3)
        if data is not None:
            b.PrependUOffsetTRelativeSlot(0, data, 0)
        if "offset" in buf:
            b.PrependUint64Slot(1, buf["offset"], 0)
            b.PrependUint64Slot(2, buf["size"], 0)
        bufs.append(b.EndObject())
    bvec = vec_of_offsets(b, bufs)
    # Metadata.
    metas = []
    for name, idx in metadata:
        n = b.CreateString(name)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, n, 0)
        b.PrependUint32Slot(1, idx, 0)
        metas.append(b.EndObject())
    mvec = vec_of_offsets(b, metas) if metas else None
    b.StartObject(8)
    b.PrependUint32Slot(0, version, 0)
    b.PrependUOffsetTRelativeSlot(1, cvec, 0)
    b.PrependUOffsetTRelativeSlot(2, sgvec, 0)
    b.PrependUOffsetTRelativeSlot(3, desc, 0)
    b.PrependUOffsetTRelativeSlot(4, bvec, 0)
    if mvec is not None:
        b.PrependUOffsetTRelativeSlot(6, mvec, 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=identifier)
    return bytes(b.Output())


def add_model(**kw):
    return tflite_model([{"builtin": ADD}], [{"opcode_index": 0}], **kw)


def node_def(op, name="node"):
    """A serialized tensorflow.NodeDef with `name` (field 1) and `op` (field 2)."""
    return bytes([0x0A, len(name)]) + name.encode() + bytes([0x12, len(op)]) + op.encode()


def flex_options(runs, node_def_op=None):
    """Flex custom options as the converter writes them (CreateFlexOpCustomOptions): a flexbuffer
    vector of two strings, the op name and the serialized NodeDef."""
    fbb = flexbuffers.Builder()
    with fbb.Vector():
        fbb.String(runs)
        fbb.String(node_def(node_def_op or runs).decode())
    return bytes(fbb.Finish())


def custom_model(code, deprecated=CUSTOM, builtin=CUSTOM, options=None, raw_options=None, **kw):
    op = {"opcode_index": 0}
    if options is not None:
        op["custom_options"] = flexbuffers.Dumps(options)
    if raw_options is not None:
        op["custom_options"] = raw_options
    return tflite_model(
        [{"deprecated": deprecated, "builtin": builtin, "custom": code}],
        [op],
        **kw,
    )


# The options TFLite_Detection_PostProcess reads (kernels/detection_postprocess.cc); without
# them the stock interpreter crashes while building the model (ai-edge-litert 2.3.0).
DETECTION_OPTIONS = {
    "max_detections": 10,
    "max_classes_per_detection": 1,
    "detections_per_class": 10,
    "use_regular_nms": False,
    "nms_score_threshold": 0.5,
    "nms_iou_threshold": 0.5,
    "num_classes": 2,
    "y_scale": 10.0,
    "x_scale": 10.0,
    "h_scale": 5.0,
    "w_scale": 5.0,
}


def with_min_runtime(**kw):
    """The add model with the metadata the converter writes (min_runtime_version in buffer 2)."""
    return add_model(
        buffers=[{}, {"data": struct.pack("<4f", 1, 2, 3, 4)}, {"data": b"1.5.0\0\0\0\0\0\0\0\0\0\0\0"}],
        metadata=[("min_runtime_version", 2)],
        **kw,
    )


def external_buffers_model(ranges, large=None, custom=None):
    """Schema 3c: buffers (and optionally one operator's custom options) stored after the
    flatbuffer. `ranges(fb_len)` returns [(offset, size)] for buffers 1.. and the data to append;
    built twice so that the flatbuffer's length is known (placeholders keep every field present)."""

    def build(bufs, large_range):
        op = {"opcode_index": 0}
        if large_range is not None:
            op["large_offset"], op["large_size"] = large_range
        code = {"builtin": ADD} if custom is None else {"deprecated": CUSTOM, "builtin": CUSTOM, "custom": custom}
        return tflite_model(
            [code],
            [op],
            buffers=[{}] + [{"offset": o, "size": s} for o, s in bufs],
            n_tensors=3,
            tensor_buffers=[0, 1, 0],
        )

    placeholder = build([(1, 1)] * len(ranges(0)[0]), (2, 1) if large else None)
    fb_len = len(placeholder)
    bufs, tail = ranges(fb_len)
    large_range = large(fb_len) if large else None
    fb = build(bufs, large_range)
    assert len(fb) == fb_len, "placeholder build must have the final length"
    return fb + tail


def pad16(n):
    return (n + 15) // 16 * 16


def append_zip(model, members):
    """What TFLite Support's MetadataPopulator does: open the model with zipfile in append mode,
    which writes a zip after the flatbuffer (offsets from the start of the file)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(model)
        with zipfile.ZipFile(p, "a") as z:
            for name, data in members:
                z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
        return p.read_bytes()


def gen_tflite():
    root = reset("tflite")
    ben, mal, bad = root / "benign", root / "malicious", root / "malformed"

    # Benign.
    (ben / "add.tflite").write_bytes(with_min_runtime())
    (ben / "detection-postprocess.tflite").write_bytes(
        custom_model("TFLite_Detection_PostProcess", options=DETECTION_OPTIONS)
    )
    (ben / "flex-rfft.tflite").write_bytes(custom_model("FlexRFFT", raw_options=flex_options("RFFT")))
    # CUMSUM (128) needs the extended builtin_code; deprecated_builtin_code holds the placeholder.
    (ben / "extended-builtin-code.tflite").write_bytes(
        tflite_model([{"deprecated": PLACEHOLDER, "builtin": CUMSUM}], [{"opcode_index": 0}])
    )
    (ben / "with-associated-files.tflite").write_bytes(
        append_zip(with_min_runtime(), [("labels.txt", b"cat\ndog\n")])
    )

    def in_bounds(fb_len):
        a = pad16(fb_len)
        return [(a, 16), (a + 16, 16)], b"\0" * (a - fb_len) + bytes(range(32))

    (ben / "buffers-after-flatbuffer.tflite").write_bytes(external_buffers_model(in_bounds))

    # Malicious.
    (mal / "flex-readfile.tflite").write_bytes(
        custom_model("FlexReadFile", raw_options=flex_options("ReadFile"))
    )
    (mal / "flex-writefile.tflite").write_bytes(
        custom_model("FlexWriteFile", raw_options=flex_options("WriteFile"))
    )
    # The delegate runs the op named in the options, whatever the custom code says.
    (mal / "flex-options-run-another-op.tflite").write_bytes(
        custom_model("FlexAddV2", raw_options=flex_options("WriteFile", node_def_op="NoOp"))
    )
    # No options: the delegate refuses the node, but the code still names a file op.
    (mal / "flex-writefile-no-options.tflite").write_bytes(custom_model("FlexWriteFile"))
    (mal / "flex-pyfunc.tflite").write_bytes(
        custom_model("FlexEagerPyFunc", raw_options=flex_options("EagerPyFunc"))
    )
    # The op is CUSTOM only through the extended field: readers of deprecated_builtin_code alone
    # see ADD.
    (mal / "flex-via-extended-code.tflite").write_bytes(
        custom_model("FlexWriteFile", deprecated=ADD, builtin=CUSTOM, raw_options=flex_options("WriteFile"))
    )
    (mal / "custom-op.tflite").write_bytes(custom_model("EvilDecode"))
    (mal / "appended-zip-pickle.tflite").write_bytes(
        append_zip(with_min_runtime(), [("labels.txt", b"cat\n"), ("labels.pkl", PICKLE)])
    )

    # The bad range is buffer 1, the one the constant tensor reads.
    def past_end(fb_len):
        a = pad16(fb_len)
        return [(a + 16, 1 << 20), (a, 16)], b"\0" * (a - fb_len) + bytes(32)

    (mal / "buffer-out-of-bounds.tflite").write_bytes(external_buffers_model(past_end))

    def wraps(fb_len):
        a = pad16(fb_len)
        return [((1 << 64) - 8, 16), (a, 16)], b"\0" * (a - fb_len) + bytes(16)

    (mal / "buffer-offset-wraps.tflite").write_bytes(external_buffers_model(wraps))

    def overlap(fb_len):
        a = pad16(fb_len)
        return [(a, 32), (a + 16, 32)], b"\0" * (a - fb_len) + bytes(48)

    (mal / "overlapping-buffers.tflite").write_bytes(external_buffers_model(overlap))
    # Large custom options are read for custom ops only.
    (mal / "large-custom-options-out-of-bounds.tflite").write_bytes(
        external_buffers_model(
            in_bounds, large=lambda fb_len: (pad16(fb_len) + 16, 4096), custom="TFLite_Detection_PostProcess"
        )
    )
    (mal / "large-custom-options-wrap.tflite").write_bytes(
        external_buffers_model(
            in_bounds, large=lambda fb_len: ((1 << 64) - 4, 16), custom="TFLite_Detection_PostProcess"
        )
    )

    # Malformed.
    good = with_min_runtime()
    (bad / "truncated.tflite").write_bytes(good[: len(good) // 2])
    (bad / "wrong-version.tflite").write_bytes(with_min_runtime(version=2))
    (bad / "wrong-identifier.tflite").write_bytes(with_min_runtime(identifier=b"TFL2"))
    (bad / "opcode-index-out-of-range.tflite").write_bytes(
        tflite_model([{"builtin": ADD}], [{"opcode_index": 5}])
    )
    (bad / "tensor-buffer-out-of-range.tflite").write_bytes(
        add_model(tensor_buffers=[0, 9, 0])
    )
    # A stock custom op without the options its kernel parses: the interpreter segfaults.
    (bad / "stock-op-without-options.tflite").write_bytes(
        custom_model("TFLite_Detection_PostProcess")
    )
    # The constant tensor's shape [1, 4] of float32 needs 16 bytes; its buffer holds 8.
    (bad / "constant-smaller-than-shape.tflite").write_bytes(
        add_model(buffers=[{}, {"data": bytes(8)}])
    )
    # The root table's soffset points its vtable far past the end of the file.
    bv = bytearray(good)
    root = struct.unpack_from("<I", bv, 0)[0]
    struct.pack_into("<i", bv, root, -0x10000)
    (bad / "bad-vtable-offset.tflite").write_bytes(bytes(bv))
    # An odd vtable size.
    bv = bytearray(good)
    soff = struct.unpack_from("<i", bv, root)[0]
    struct.pack_into("<H", bv, root - soff, 7)
    (bad / "odd-vtable-size.tflite").write_bytes(bytes(bv))


# --------------------------------------------------------------------------------------------
# ORT


def ort_session(nodes_fn, ort_version="5"):
    """An InferenceSession whose graph's nodes are built by nodes_fn(builder) -> [node offsets]."""
    b = flatbuffers.Builder(1024)
    nodes = nodes_fn(b)
    nvec = vec_of_offsets(b, nodes)
    empty = vec_of_offsets(b, [])  # node_args, inputs, outputs: ORT requires the vectors
    b.StartObject(9)
    b.PrependUOffsetTRelativeSlot(1, empty, 0)
    b.PrependUOffsetTRelativeSlot(2, nvec, 0)
    b.PrependUOffsetTRelativeSlot(5, empty, 0)
    b.PrependUOffsetTRelativeSlot(6, empty, 0)
    b.PrependUint32Slot(3, len(nodes), 0)  # max_node_index: ORT checks it covers the nodes
    graph = b.EndObject()
    opsets = []
    for dom, ver in (("", 17), ("evil.ops", 1)):
        d = b.CreateString(dom)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, d, 0)
        b.PrependInt64Slot(1, ver, 0)
        opsets.append(b.EndObject())
    ovec = vec_of_offsets(b, opsets)
    producer = b.CreateString("modelgate fixture")
    b.StartObject(10)
    b.PrependInt64Slot(0, 8, 0)
    b.PrependUOffsetTRelativeSlot(1, ovec, 0)
    b.PrependUOffsetTRelativeSlot(2, producer, 0)
    b.PrependUOffsetTRelativeSlot(7, graph, 0)
    model = b.EndObject()
    ver = b.CreateString(ort_version)
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(0, ver, 0)
    b.PrependUOffsetTRelativeSlot(1, model, 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=b"ORTM")
    return bytes(b.Output())


def ort_node(b, domain, op, attrs=(), index=0):
    d = b.CreateString(domain)
    o = b.CreateString(op)
    n = b.CreateString(f"{op}_0")
    avec = vec_of_offsets(b, list(attrs)) if attrs else None
    args = vec_of_offsets(b, [])  # ORT requires the argument vectors, even empty
    b.StartObject(13)
    b.PrependUOffsetTRelativeSlot(8, args, 0)
    b.PrependUOffsetTRelativeSlot(9, args, 0)
    b.PrependUOffsetTRelativeSlot(11, args, 0)  # input_arg_counts
    b.PrependUOffsetTRelativeSlot(12, args, 0)  # implicit_inputs
    b.PrependUOffsetTRelativeSlot(0, n, 0)
    b.PrependUOffsetTRelativeSlot(2, d, 0)
    b.PrependInt32Slot(3, 1, 0)
    b.PrependUint32Slot(4, index, 0)
    b.PrependUOffsetTRelativeSlot(5, o, 0)
    if avec is not None:
        b.PrependUOffsetTRelativeSlot(10, avec, 0)
    return b.EndObject()


def ort_graph_attr(b, name, nodes):
    nvec = vec_of_offsets(b, nodes)
    empty = vec_of_offsets(b, [])
    b.StartObject(9)
    b.PrependUOffsetTRelativeSlot(1, empty, 0)
    b.PrependUOffsetTRelativeSlot(2, nvec, 0)
    b.PrependUint32Slot(3, len(nodes), 0)
    b.PrependUOffsetTRelativeSlot(5, empty, 0)
    b.PrependUOffsetTRelativeSlot(6, empty, 0)
    g = b.EndObject()
    nm = b.CreateString(name)
    b.StartObject(13)
    b.PrependUOffsetTRelativeSlot(0, nm, 0)
    b.PrependInt32Slot(2, 5, 0)  # GRAPH
    b.PrependUOffsetTRelativeSlot(7, g, 0)
    return b.EndObject()


def onnx_mlp():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Add", ["h", "b"], ["y0"]),
            helper.make_node("Relu", ["y0"], ["y"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [w, bias],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelgate")
    m.ir_version = 8
    return m


def convert_to_ort(model, name):
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / f"{name}.onnx"
        onnx.save(model, src)
        subprocess.run(
            [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(src)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return (Path(d) / f"{name}.ort").read_bytes()


def gen_ort():
    root = reset("ort")
    ben, mal, bad = root / "benign", root / "malicious", root / "malformed"
    mlp = convert_to_ort(onnx_mlp(), "mlp")
    (ben / "mlp.ort").write_bytes(mlp)
    (mal / "custom-domain.ort").write_bytes(
        ort_session(lambda b: [ort_node(b, "", "Relu"), ort_node(b, "evil.ops", "Exec", index=1)])
    )
    (mal / "custom-domain-in-subgraph.ort").write_bytes(
        ort_session(
            lambda b: [
                ort_node(
                    b, "", "If", [ort_graph_attr(b, "then_branch", [ort_node(b, "evil.ops", "Exec")])]
                )
            ]
        )
    )
    (bad / "truncated.ort").write_bytes(mlp[: len(mlp) // 2])
    bv = bytearray(mlp)
    bv[4:8] = b"ORTX"
    (bad / "wrong-identifier.ort").write_bytes(bytes(bv))


if __name__ == "__main__":
    gen_tflite()
    gen_ort()
