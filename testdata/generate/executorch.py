#!/usr/bin/env python3
"""Writes the ExecuTorch (`.pte`) fixtures under testdata/executorch/.

The `executorch` package needs torch and is too large for the test environment, so the programs
are built from the documented layout: the flatbuffer with the `flatbuffers` package's Builder,
field by field after schema/program.fbs of pytorch/executorch (file identifier ET12, no generated
code), then laid out the way exir/_serialize/_program.py's serialize_pte_binary does: the 32-byte
`eh00` extended header inserted after the root offset and identifier (program_size,
segment_base_offset, segment_data_size), the program padded to the segment alignment (128), and
each segment aligned after it. There is no loader oracle: the fixtures follow the documentation and
runtime/executor/program.cpp, not a run of the runtime. Nothing here runs a model, and every payload
is inert (`os.system('true')`). Deterministic: re-running gives the same bytes.

Usage: python -P testdata/generate/executorch.py   (from the repository root)
Needs: pip install flatbuffers
"""

import shutil
import struct
from pathlib import Path

import flatbuffers

ROOT = Path(__file__).resolve().parent.parent

# A protocol-2 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."

SEGMENT_ALIGNMENT = 128
HEADER_LEN = 32  # eh00 header with segment_data_size, padded to the schema's largest alignment

# Union tags.
KT_INT, KT_TENSOR = 2, 5
IA_KERNEL, IA_DELEGATE = 1, 2
INLINE, SEGMENT = 0, 1
FLOAT = 6


def reset(area):
    for kind in ("benign", "malicious", "malformed"):
        d = ROOT / area / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    return ROOT / area


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


def vec_of_u64(b, xs, kind="u"):
    b.StartVector(8, len(xs), 8)
    for x in reversed(xs):
        (b.PrependUint64 if kind == "u" else b.PrependInt64)(x)
    return b.EndVector()


def byte_vec(b, data, align=16):
    b.StartVector(1, len(data), align)
    for x in reversed(data):
        b.PrependUint8(x)
    return b.EndVector()


def tensor(b, sizes, data_buffer_idx=0):
    s = vec_of_i32(b, sizes)
    dim_order = byte_vec(b, bytes(range(len(sizes))), align=1)
    b.StartObject(10)
    b.PrependInt8Slot(0, FLOAT, 0)
    b.PrependUOffsetTRelativeSlot(2, s, 0)
    b.PrependUOffsetTRelativeSlot(3, dim_order, 0)
    b.PrependUint32Slot(5, data_buffer_idx, 0)
    return b.EndObject()


def evalue(b, tag, table):
    b.StartObject(2)
    b.PrependUint8Slot(0, tag, 0)
    b.PrependUOffsetTRelativeSlot(1, table, 0)
    return b.EndObject()


def int_value(b, v):
    b.StartObject(1)
    b.PrependInt64Slot(0, v, 0)
    return evalue(b, KT_INT, b.EndObject())


def instruction(b, tag, index, args):
    a = vec_of_i32(b, args)
    b.StartObject(2)
    b.PrependInt32Slot(0, index, -1)
    b.PrependUOffsetTRelativeSlot(1, a, 0)
    call = b.EndObject()
    b.StartObject(2)
    b.PrependUint8Slot(0, tag, 0)
    b.PrependUOffsetTRelativeSlot(1, call, 0)
    return b.EndObject()


def program(
    delegates=({"id": "XnnpackBackend", "location": SEGMENT, "index": 1},),
    inline_data=(),
    segments=(),
    constant_offsets=None,
    constant_segment_index=0,
    operators=(("aten::add", "out"),),
    named_data=(),
    jump=None,
    identifier=b"ET12",
    weight_idx=1,
    kernel_args=(2, 3, 2),
    input_sizes=(1, 4),
):
    """The flatbuffer of a one-method program: x (input) -> delegate 0 (x, w) -> y; y + 4 by an
    `aten::add.out` kernel call. `segments` are (offset, size) pairs relative to the segment
    base; the weight is tensor value 1, a constant with data_buffer_idx `weight_idx` (0: not a
    constant)."""
    b = flatbuffers.Builder(1024)
    name = b.CreateString("forward")
    # Values: 0 input, 1 constant weight, 2 output, 3 an Int.
    values = [
        evalue(b, KT_TENSOR, tensor(b, list(input_sizes))),
        evalue(b, KT_TENSOR, tensor(b, [4], data_buffer_idx=weight_idx)),
        evalue(b, KT_TENSOR, tensor(b, [1, 4])),
        int_value(b, 4),
    ]
    vvec = vec_of_offsets(b, values)
    ins = [instruction(b, IA_DELEGATE, 0, [0, 1, 2])]
    ins += [instruction(b, IA_KERNEL, i, list(kernel_args)) for i in range(len(operators))]
    if jump is not None:
        # JumpFalseCall {cond_value_index, destination_instruction}
        b.StartObject(2)
        b.PrependInt32Slot(0, 3, 0)
        b.PrependInt32Slot(1, jump, 0)
        jf = b.EndObject()
        b.StartObject(2)
        b.PrependUint8Slot(0, 4, 0)
        b.PrependUOffsetTRelativeSlot(1, jf, 0)
        ins.append(b.EndObject())
    ivec = vec_of_offsets(b, ins)
    c_in, c_out = vec_of_i32(b, [0]), vec_of_i32(b, [2])
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(0, c_in, 0)
    b.PrependUOffsetTRelativeSlot(1, c_out, 0)
    b.PrependUOffsetTRelativeSlot(2, ivec, 0)
    chain = b.EndObject()
    chains = vec_of_offsets(b, [chain])
    ops = []
    for op_name, overload in operators:
        n, o = b.CreateString(op_name), b.CreateString(overload)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, n, 0)
        b.PrependUOffsetTRelativeSlot(1, o, 0)
        ops.append(b.EndObject())
    ovec = vec_of_offsets(b, ops)
    dels = []
    for d in delegates:
        did = b.CreateString(d["id"])
        key = b.CreateString("method_name")
        val = byte_vec(b, b"forward", align=1)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, key, 0)
        b.PrependUOffsetTRelativeSlot(1, val, 0)
        spec = b.EndObject()
        specs = vec_of_offsets(b, [spec])
        processed = None
        if d.get("processed", True):
            b.StartObject(2)
            b.PrependUint8Slot(0, d["location"], 0)
            b.PrependUint32Slot(1, d["index"], 0)
            processed = b.EndObject()
        b.StartObject(3)
        b.PrependUOffsetTRelativeSlot(0, did, 0)
        if processed is not None:
            b.PrependUOffsetTRelativeSlot(1, processed, 0)
        b.PrependUOffsetTRelativeSlot(2, specs, 0)
        dels.append(b.EndObject())
    dvec = vec_of_offsets(b, dels)
    p_in, p_out = vec_of_i32(b, [0]), vec_of_i32(b, [2])
    ncbs = vec_of_u64(b, [0, 64], kind="i")
    b.StartObject(10)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUOffsetTRelativeSlot(2, vvec, 0)
    b.PrependUOffsetTRelativeSlot(3, p_in, 0)
    b.PrependUOffsetTRelativeSlot(4, p_out, 0)
    b.PrependUOffsetTRelativeSlot(5, chains, 0)
    b.PrependUOffsetTRelativeSlot(6, ovec, 0)
    b.PrependUOffsetTRelativeSlot(7, dvec, 0)
    b.PrependUOffsetTRelativeSlot(8, ncbs, 0)
    plan = b.EndObject()
    plans = vec_of_offsets(b, [plan])
    # Inline delegate data.
    inl = []
    for data in inline_data:
        v = byte_vec(b, data)
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, v, 0)
        inl.append(b.EndObject())
    inl_vec = vec_of_offsets(b, inl)
    segs = []
    for off, size in segments:
        b.StartObject(2)
        b.PrependUint64Slot(0, off, 0)
        b.PrependUint64Slot(1, size, 0)
        segs.append(b.EndObject())
    seg_vec = vec_of_offsets(b, segs)
    const_seg = None
    if constant_offsets is not None:
        offs = vec_of_u64(b, constant_offsets)
        b.StartObject(2)
        b.PrependUint32Slot(0, constant_segment_index, 0)
        b.PrependUOffsetTRelativeSlot(1, offs, 0)
        const_seg = b.EndObject()
    nd = []
    for key, index in named_data:
        k = b.CreateString(key)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, k, 0)
        b.PrependUint32Slot(1, index, 0)
        nd.append(b.EndObject())
    nd_vec = vec_of_offsets(b, nd) if nd else None
    b.StartObject(8)
    b.PrependUint32Slot(0, 0, 1)  # version 0, written explicitly
    b.PrependUOffsetTRelativeSlot(1, plans, 0)
    b.PrependUOffsetTRelativeSlot(3, inl_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, seg_vec, 0)
    if const_seg is not None:
        b.PrependUOffsetTRelativeSlot(5, const_seg, 0)
    if nd_vec is not None:
        b.PrependUOffsetTRelativeSlot(7, nd_vec, 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=identifier)
    return bytes(b.Output())


def aligned(n, a):
    return (n + a - 1) // a * a


def pte(flatbuffer, segment_blobs, header=None):
    """serialize_pte_binary's layout: the extended header inserted at byte 8 (root offset moved
    by its length), the program padded to the segment alignment, the segments after it. Returns
    the file and the segment table ((offset, size) relative to the segment base) to put in the
    program; the caller builds the flatbuffer twice (the table is part of it)."""
    program_size = len(flatbuffer) + HEADER_LEN
    base = aligned(program_size, SEGMENT_ALIGNMENT) if segment_blobs else 0
    data = b""
    for blob in segment_blobs:
        data += b"\0" * (aligned(len(data), SEGMENT_ALIGNMENT) - len(data)) + blob
    h = header or {}
    eh = (
        b"eh00"
        + struct.pack("<I", h.get("length", 32))
        + struct.pack("<Q", h.get("program_size", program_size))
        + struct.pack("<Q", h.get("segment_base_offset", base))
        + struct.pack("<Q", h.get("segment_data_size", len(data)))
    )
    root = struct.unpack("<I", flatbuffer[:4])[0] + HEADER_LEN
    prog = struct.pack("<I", root) + flatbuffer[4:8] + eh + flatbuffer[8:]
    assert len(prog) == program_size
    if not segment_blobs:
        return prog
    return prog + b"\0" * (base - program_size) + data


def segment_table(blobs):
    table, end = [], 0
    for blob in blobs:
        off = aligned(end, SEGMENT_ALIGNMENT)
        table.append((off, len(blob)))
        end = off + len(blob)
    return table


def xnnpack_blob(payload=b""):
    """An XNNPACK-like delegate blob: the 30-byte XH00 header (XNNHeader.h: flatbuffer offset and
    size as u32, constant data offset u32 and size u64), a stub XN01 flatbuffer head (the real
    runtime's XNNPACK compiler refuses it: the oracle test sees the program load and the backend
    reject the blob), then constant bytes."""
    fb = struct.pack("<I", 8) + b"XN01" + b"\0" * 24
    consts = struct.pack("<4f", 0.5, 1.5, 2.5, 3.5) + payload
    header = (
        b"\0\0\0\0XH00"
        + struct.pack("<H", 30)
        + struct.pack("<II", 32, len(fb))
        + struct.pack("<IQ", 32 + len(fb), len(consts))
    )
    return header + b"\0\0" + fb + consts


WEIGHTS = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


def standard(blobs=None, named_data=(), delegates=None, operators=(("aten::add", "out"),), **kw):
    """The serializer's order: the constant segment first (segment 0, offsets [0, 0]: the
    placeholder, then the weight at 0), then the delegate blob (segment 1)."""
    if blobs is None:
        blobs = [WEIGHTS, xnnpack_blob()]
    table = segment_table(blobs)
    fb = program(
        delegates=delegates or ({"id": "XnnpackBackend", "location": SEGMENT, "index": 1},),
        segments=table,
        constant_offsets=[0, 0],
        constant_segment_index=0,
        named_data=named_data,
        operators=operators,
        **kw,
    )
    return pte(fb, blobs), fb, table


def with_segments(table, blobs, header=None, **kw):
    """A program whose segment table is `table` (constants in segment 0), laid out with `blobs`."""
    fb = program(segments=table, constant_offsets=[0, 0], constant_segment_index=0, **kw)
    return pte(fb, blobs, header=header)


def gen():
    root = reset("executorch")
    ben, mal, bad = root / "benign", root / "malicious", root / "malformed"

    good, good_fb, good_table = standard()
    (ben / "xnnpack-delegate.pte").write_bytes(good)
    # Inline delegate data and no constants: the serializer still writes the constant segment's
    # placeholder offset and its empty segment, and no extended header (no segment data).
    fb = program(
        delegates=({"id": "XnnpackBackend", "location": INLINE, "index": 0},),
        inline_data=(xnnpack_blob(),),
        segments=[(0, 0)],
        constant_offsets=[0],
        operators=(("aten::add", "out"), ("dim_order_ops::_to_dim_order_copy", "out")),
        weight_idx=0,
    )
    (ben / "inline-delegate.pte").write_bytes(fb)
    # A custom kernel outside the stock libraries (listed at info level).
    custom, _, _ = standard(operators=(("aten::add", "out"), ("llama::sdpa_with_kv_cache", "out")))
    (ben / "custom-kernel.pte").write_bytes(custom)

    # Malicious.
    unknown, _, _ = standard(
        delegates=({"id": "TotallyLegitBackend", "location": SEGMENT, "index": 1},)
    )
    (mal / "unknown-backend.pte").write_bytes(unknown)
    blob_pickle, _, _ = standard(blobs=[WEIGHTS, PICKLE])
    (mal / "delegate-blob-pickle.pte").write_bytes(blob_pickle)
    (mal / "appended-pickle.pte").write_bytes(good + PICKLE)
    # A shared library (an ELF header stub) in named data, loaded by the AOTInductor CUDA backend.
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HH", 3, 62) + b"\0" * 44
    aoti, _, _ = standard(
        blobs=[WEIGHTS, b"aoti_cuda_blob", elf],
        delegates=({"id": "CudaBackend", "location": SEGMENT, "index": 1},),
        named_data=(("aoti_cuda_blob.so", 2),),
    )
    (mal / "cuda-backend-shared-library.pte").write_bytes(aoti)
    # The segment base points into the flatbuffer: the delegate's segment (0, 64) is bytes 8..72
    # of the program; the weights' segment is placed so that it still lies at the file's end.
    fb = program(segments=[(0, 16), (0, 64)], constant_offsets=[0, 0])
    real_base = aligned(len(fb) + HEADER_LEN, SEGMENT_ALIGNMENT)
    (mal / "segment-overlaps-program.pte").write_bytes(
        with_segments(
            [(real_base - 8, 16), (0, 64)],
            [WEIGHTS],
            header={"segment_base_offset": 8, "segment_data_size": real_base + 8},
        )
    )
    # A segment whose offset wraps around 2^64 behind the segment base.
    (mal / "segment-offset-wraps.pte").write_bytes(
        with_segments([good_table[0], ((1 << 64) - 64, 84)], [WEIGHTS, xnnpack_blob()])
    )
    # The delegate's segment starts inside the constants' segment.
    (mal / "overlapping-segments.pte").write_bytes(
        with_segments([good_table[0], (8, 84)], [WEIGHTS, xnnpack_blob()])
    )

    # Malformed.
    # What Method::init refuses or dereferences unchecked.
    for name, kw in [
        ("kernel-arg-out-of-range.pte", {"kernel_args": (2, 9, 2)}),
        ("negative-tensor-size.pte", {"input_sizes": (-1, 4)}),
        (
            "delegate-without-processed-data.pte",
            {"delegates": ({"id": "XnnpackBackend", "location": SEGMENT, "index": 1, "processed": False},)},
        ),
        (
            "unknown-data-location.pte",
            {"delegates": ({"id": "XnnpackBackend", "location": 7, "index": 1},)},
        ),
        (
            "delegate-index-out-of-range.pte",
            {"delegates": ({"id": "XnnpackBackend", "location": INLINE, "index": 3},)},
        ),
        ("jump-out-of-range.pte", {"jump": 99}),
    ]:
        data, _, _ = standard(**kw)
        (bad / name).write_bytes(data)
    (bad / "truncated.pte").write_bytes(good[: len(good_fb) // 2])
    # A segment past the end of the file.
    (bad / "segment-past-eof.pte").write_bytes(
        with_segments([good_table[0], (good_table[1][0], 1 << 20)], [WEIGHTS, xnnpack_blob()])
    )
    # The extended header declares more segment data than the file holds.
    (bad / "header-sizes-past-eof.pte").write_bytes(
        pte(good_fb, [WEIGHTS, xnnpack_blob()], header={"segment_data_size": 1 << 32})
    )
    # A header length under the 24 bytes the runtime requires.
    (bad / "header-too-short.pte").write_bytes(
        pte(good_fb, [WEIGHTS, xnnpack_blob()], header={"length": 16})
    )
    # Bytes 4..8 say another schema version.
    bv = bytearray(good)
    bv[4:8] = b"ET11"
    (bad / "wrong-identifier.pte").write_bytes(bytes(bv))
    # The root offset points past the end of the program.
    bv = bytearray(good)
    bv[0:4] = struct.pack("<I", len(good) + 64)
    (bad / "root-past-eof.pte").write_bytes(bytes(bv))


if __name__ == "__main__":
    gen()
