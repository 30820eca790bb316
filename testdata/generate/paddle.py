#!/usr/bin/env python3
"""Writes the PaddlePaddle fixtures under testdata/paddle/.

Paddle itself is too large to install for fixtures, so the files are written from the documented
layouts: `.pdmodel` is a `ProgramDesc` protobuf (paddle/fluid/framework/framework.proto; encoded
here by hand with the field numbers: blocks=1; block idx=1, parent_idx=2, vars=3, ops=4; op
inputs=1, outputs=2, type=3, attrs=4; attr name=1, type=2, i=3, s=5, block_idx=12), `.pdiparams`
is what `save_combine` writes per tensor (u32 version 0, u64 LoD levels, u32 tensor version 0,
i32 TensorDesc size, TensorDesc{data_type=1, dims=2}, raw data; little-endian), and
`.pdparams`/`.pdopt` are what `paddle.save` pickles for a state dict (a dict of numpy arrays with
the `StructuredToParameterName@@` name table, protocol 4; numpy 2.x).

* benign/: a linear inference program and its parameters, a program with a conditional
  sub-block, a state dict and an optimizer state, and a static-graph state dict as
  `paddle.save` pickles it (python/paddle/framework/io.py, `_pickle_save`: each LoDTensor
  reduces to `eval('data', {'data': ndarray})`), at protocols 4 and 2.
* malicious/: programs with `py_func`, a `save` op writing to a home directory, a
  `listen_and_serv` parameter server; a `.pdparams` pickle that runs a command; and `eval-*`,
  `exec-*` pickles that differ from the LoDTensor shape in one respect each (another
  expression, globals that are not a plain `{'data': …}` dict, a third argument, bytes, the
  callable reused from the memo or duplicated for another call, passed as an argument, called
  by OBJ or INST, BUILD on it, imported through STACK_GLOBAL from computed strings, `exec`),
  assembled opcode by opcode. Those that run code run `true`.
* malformed/: a program naming a block that does not exist, bytes that are not a program, a
  parameters file cut short, one with bytes after the last tensor, one with an unknown dtype.

Usage: python -P testdata/generate/paddle.py (from the repository root). Needs numpy.
"""

import os
import pickle
import struct
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "paddle"


def varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return key + varint(len(data)) + data


def attr(name, s=None, i=None, block=None, strings=None):
    b = field(1, 2, name)
    if s is not None:
        b += field(2, 0, 2) + field(5, 2, s)
    elif strings is not None:
        b += field(2, 0, 5) + b"".join(field(8, 2, x) for x in strings)
    elif block is not None:
        b += field(2, 0, 8) + field(12, 0, block)
    else:
        b += field(2, 0, 0) + field(3, 0, i or 0)
    return b


def op(ty, inputs=(), outputs=(), attrs=()):
    b = b""
    for p, args in inputs:
        b += field(1, 2, field(1, 2, p) + b"".join(field(2, 2, a) for a in args))
    for p, args in outputs:
        b += field(2, 2, field(1, 2, p) + b"".join(field(2, 2, a) for a in args))
    b += field(3, 2, ty)
    for a in attrs:
        b += field(4, 2, a)
    return b


def var(name, persistable=False):
    # VarDesc{name=1, type=2 (VarType{type=1: LOD_TENSOR (7)}), persistable=3}
    return field(1, 2, name) + field(2, 2, field(1, 0, 7)) + field(3, 0, int(persistable))


def block(idx, parent, ops, vars_=()):
    b = field(1, 0, idx) + field(2, 0, parent)
    for v in vars_:
        b += field(3, 2, v)
    for o in ops:
        b += field(4, 2, o)
    return b


def program(*blocks):
    return b"".join(field(1, 2, b) for b in blocks) + field(4, 2, field(1, 0, 2006000))


def linear(extra=()):
    ops = [
        op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr("col", i=0)]),
        op("matmul_v2", [("X", ["x"]), ("Y", ["linear_0.w_0"])], [("Out", ["h"])]),
        op("elementwise_add", [("X", ["h"]), ("Y", ["linear_0.b_0"])], [("Out", ["y"])], [attr("axis", i=-1)]),
        op("relu", [("X", ["y"])], [("Out", ["z"])]),
        *extra,
        op("fetch", [("X", ["z"])], [("Out", ["fetch"])], [attr("col", i=0)]),
    ]
    vars_ = [var("feed"), var("fetch"), var("x"), var("linear_0.w_0", True), var("linear_0.b_0", True)]
    return program(block(0, -1, ops, vars_))


def tensor(arr, dtype_code):
    desc = field(1, 0, dtype_code) + b"".join(field(2, 0, d) for d in arr.shape)
    return struct.pack("<IQI", 0, 0, 0) + struct.pack("<i", len(desc)) + desc + arr.tobytes()


def params():
    rng = np.random.RandomState(0)
    return tensor(rng.rand(4, 2).astype("<f4"), 5) + tensor(np.zeros(2, "<f4"), 5)


class Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def state_dict():
    rng = np.random.RandomState(1)
    return {"linear.weight": rng.rand(4, 2).astype(np.float32),
            "linear.bias": np.zeros(2, np.float32),
            "StructuredToParameterName@@": {"linear.weight": "linear_0.w_0", "linear.bias": "linear_0.b_0"}}


class LoDTensor:
    """A static-graph tensor, reduced the way paddle's `reduce_LoDTensor` reduces it."""

    def __init__(self, arr):
        self.arr = arr

    def __reduce__(self):
        return (eval, ("data", {"data": self.arr}))


def static_state_dict():
    rng = np.random.RandomState(2)
    return {"linear_0.w_0": LoDTensor(rng.rand(4, 2).astype(np.float32)),
            "linear_0.b_0": LoDTensor(np.zeros(2, np.float32))}


# Opcodes for the hand-assembled eval variants (protocol 4).
EVAL = b"cbuiltins\neval\n"
RUN = '__import__("os").system("true")'


def s(text):
    b = text.encode()
    return b"\x8c" + bytes([len(b)]) + b


def globals_dict(*keys):
    return b"}" + b"".join(s(k) + b"K\x01s" for k in keys)


def call2(callee, expr, g):
    return callee + expr + g + b"\x86R"


def eval_variants():
    p = b"\x80\x04"
    data = s("data")
    lookup = call2(EVAL, data, globals_dict("data"))
    return {
        "eval-other-expression.pdparams": p + call2(EVAL, s(RUN), globals_dict("data")) + b".",
        "eval-call-of-data.pdparams": p + call2(EVAL, s("data()"), globals_dict("data")) + b".",
        "eval-globals-not-a-dict.pdparams":
            p + call2(EVAL, data, b"ccollections\nOrderedDict\n)R") + b".",
        "eval-three-arguments.pdparams":
            p + EVAL + data + globals_dict("data") + globals_dict("data") + b"\x87R.",
        "eval-extra-globals.pdparams":
            p + call2(EVAL, data, globals_dict("data", "__builtins__")) + b".",
        "eval-bytes-expression.pdparams":
            p + call2(EVAL, b"C\x04data", globals_dict("data")) + b".",
        # The lookup, then the memoized callable fetched again for a command.
        "eval-reused-from-memo.pdparams": p + EVAL + b"q\x00" + data + globals_dict("data")
        + b"\x86R0" + call2(b"h\x00", s(RUN), b"}") + b".",
        # DUP: one copy makes the lookup, the other runs a command.
        "eval-duplicated.pdparams": p + EVAL + b"2" + data + globals_dict("data") + b"\x86R0"
        + s(RUN) + b"}\x86R.",
        # list(map(eval, [command])) after a lookup.
        "eval-as-argument.pdparams": p + EVAL + b"q\x00" + data + globals_dict("data")
        + b"\x86R0cbuiltins\nlist\ncbuiltins\nmap\nh\x00]" + s(RUN) + b"a\x86R\x85R.",
        "eval-by-obj.pdparams": p + b"(" + EVAL + data + globals_dict("data") + b"o.",
        "eval-by-inst.pdparams": p + b"(" + data + globals_dict("data") + b"ibuiltins\neval\n.",
        "eval-build.pdparams": p + EVAL + b"}b" + data + globals_dict("data") + b"\x86R.",
        # STACK_GLOBAL whose module is computed by a call.
        "eval-stack-global-computed.pdparams": p + b"cbuiltins\nstr\n" + s("builtins")
        + b"\x85R" + s("eval") + b"\x93" + data + globals_dict("data") + b"\x86R.",
        "exec-name-lookup.pdparams": p + call2(b"cbuiltins\nexec\n", data, globals_dict("data")) + b".",
    }


def write(kind, name, data):
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    write("benign", "inference.pdmodel", linear())
    write("benign", "inference.pdiparams", params())
    sub = block(1, 0, [op("scale", [("X", ["x"])], [("Out", ["x2"])], [attr("scale", i=2)])])
    cond = op("conditional_block", [("Cond", ["c"]), ("Input", ["x"])], [("Out", ["x2"])],
              [attr("sub_block", block=1), attr("is_scalar_condition", i=1)])
    main_block = block(0, -1, [op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr("col", i=0)]), cond,
                               op("fetch", [("X", ["x2"])], [("Out", ["fetch"])], [attr("col", i=0)])])
    write("benign", "conditional-block.pdmodel", program(main_block, sub))
    write("benign", "model.pdparams", pickle.dumps(state_dict(), protocol=4))
    opt = {"linear_0.w_0_moment1_0": np.zeros((4, 2), np.float32),
           "linear_0.w_0_beta1_pow_acc_0": np.array([0.9], np.float32),
           "LR_Scheduler": {"last_epoch": 0, "last_lr": 0.001}}
    write("benign", "model.pdopt", pickle.dumps(opt, protocol=4))
    write("benign", "static-graph.pdparams", pickle.dumps(static_state_dict(), protocol=4))
    write("benign", "static-graph-protocol2.pdparams", pickle.dumps(static_state_dict(), protocol=2))

    write("malicious", "py-func.pdmodel", linear([op("py_func", [("X", ["z"])], [("Out", ["z"])],
                                                       [attr("forward_callable_id", i=0), attr("backward_callable_id", i=-1)])]))
    write("malicious", "save-op.pdmodel", linear([op("save", [("X", ["z"])], [],
                                                      [attr("file_path", s="/root/.bashrc"), attr("overwrite", i=1)])]))
    write("malicious", "listen-and-serv.pdmodel", linear([op("listen_and_serv", [("X", ["z"])], [],
                                                              [attr("endpoint", s="0.0.0.0:6174")])]))
    payload = state_dict()
    payload["linear.bias"] = Call(os.system, "true")
    write("malicious", "payload.pdparams", pickle.dumps(payload, protocol=4))
    for name, data in eval_variants().items():
        write("malicious", name, data)

    bad = op("conditional_block", [("Cond", ["c"])], [("Out", ["x"])], [attr("sub_block", block=7)])
    write("malformed", "missing-sub-block.pdmodel", program(block(0, -1, [bad])))
    write("malformed", "not-a-program.pdmodel", b"this is not a protobuf\n" * 4)
    whole = params()
    write("malformed", "truncated.pdiparams", whole[:-5])
    write("malformed", "trailing-bytes.pdiparams", whole + b"\x00" * 7)
    write("malformed", "unknown-dtype.pdiparams", tensor(np.zeros(2, "<f4"), 99))


if __name__ == "__main__":
    main()
