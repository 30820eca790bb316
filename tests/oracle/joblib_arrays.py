"""Loader-differential cases for joblib's inline array skip (issue 10, principle 2).

Writes, for each dtype variant, three joblib streams into OUT_DIR:
  NAME.twin.joblib     array wrapper + raw data (or nested pickle) + canary call after it
  NAME.payload.joblib  the same with the canary replaced by posix.system (never loaded here)
  NAME.control.joblib  the same without any call after the array (benign)
then loads every twin with the real `joblib.load` in a subprocess and prints one JSON line per
case: {"name", "reached", "provable"}. `reached` means the canary callable ran, so the payload
version is something joblib really executes and modelgate must flag it.

Streams are assembled by hand (protocol 2, no frames) so that dtypes can be built the way an
attacker would: constructor strings, BUILD states with odd elsize/flags, a second BUILD.
"""

import json
import os
import struct
import sys

import canary

CANARY = (b"mg_canary", b"reached")
PAYLOAD = (b"posix", b"system")


def s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def i(n):
    return b"J" + struct.pack("<i", n)


def glob(mod, name):
    return b"c" + mod + b"\n" + name + b"\n"


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def dtype(descr, state=None, state2=None):
    out = glob(b"numpy", b"dtype") + tup(s(descr), b"\x89", b"\x88") + b"R"
    for st in (state, state2):
        if st is not None:
            version, endian, elsize, align, flags = st
            out += (
                tup(i(version), s(endian), b"NNN", i(elsize), i(align), i(flags)) + b"b"
            )
    return out


def wrapper(dt, shape, aligned):
    state = (
        s("subclass")
        + glob(b"numpy", b"ndarray")
        + s("shape")
        + tup(*[i(n) for n in shape])
        + s("order")
        + s("C")
        + s("dtype")
        + dt
        + s("allow_mmap")
        + b"\x88"
    )
    if aligned:
        state += s("numpy_array_alignment_bytes") + i(16)
    return (
        glob(b"joblib.numpy_pickle", b"NumpyArrayWrapper")
        + b")\x81"
        + b"}("
        + state
        + b"ub"
    )


def call(target):
    return glob(*target) + tup(s("true")) + b"R"


def stream(dt, shape, data, target, aligned=False, object_data=None):
    """The array wrapper, its data, then (when target) a call of target; STOP."""
    body = b"\x80\x02" + wrapper(dt, shape, aligned)
    if object_data is not None:
        body += object_data
    else:
        if aligned:
            body += b"\x03" + b"\x00" * 3
        body += data
    body += b"0"  # POP the array
    body += call(target) if target else b"N"
    return body + b"."


# (name, dtype bytes, shape, raw byte count as numpy computes it, provable, hasobject)
CASES = [
    ("u5_state", dtype("U5", (3, "<", 20, 4, 8)), (3,), 60, True, False),
    ("u5_bare", dtype("U5"), (3,), 60, True, False),
    ("s3", dtype("S3", (3, "|", 3, 1, 0)), (4,), 12, True, False),
    ("v7", dtype("V7", (3, "|", 7, 1, 0)), (2,), 14, True, False),
    ("v8_elsize24", dtype("V8", (3, "|", 24, 1, 0)), (2,), 48, True, False),
    ("u3_elsize100", dtype("U3", (3, "<", 100, 4, 0)), (1,), 100, True, False),
    ("g_bare", dtype("g"), (3,), 48, True, False),
    ("f16_state", dtype("f16", (3, "<", -1, -1, 0)), (2,), 32, True, False),
    ("G_bare", dtype("G"), (2,), 64, True, False),
    ("c32", dtype("c32", (3, "<", -1, -1, 0)), (1,), 32, True, False),
    ("f8_elsize_ignored", dtype("f8", (3, "<", 64, 8, 0)), (3,), 24, True, False),
    ("be_i2", dtype("i2", (3, ">", -1, -1, 0)), (5,), 10, True, False),
    ("c_alias", dtype("c"), (3,), 3, True, False),
    ("b_int8", dtype("b"), (6,), 6, True, False),
    ("D_bare", dtype("D"), (2,), 32, True, False),
    ("shape2d", dtype("<U2"), (2, 3), 48, True, False),
    ("scalar_shape", dtype("<f4"), (), 4, True, False),
    ("o8_flags0", dtype("O8", (3, "|", -1, -1, 0)), (2,), 16, True, False),
    ("u5_aligned", dtype("U5", (3, "<", 20, 4, 8)), (3,), 60, True, False),
    # Object flag through the state: joblib unpickles the data.
    ("f8_flags1", dtype("f8", (3, "<", -1, -1, 1)), (2,), 0, True, True),
    ("v16_flags63", dtype("V16", (3, "|", 16, 1, 63)), (1,), 0, True, True),
    ("o8_bare", dtype("O8"), (2,), 0, True, True),
    # A second BUILD: numpy's __setstate__ replaces elsize and flags, the last state wins.
    ("rebuilt_flags", dtype("f8", (3, "<", -1, -1, 0), (3, "<", -1, -1, 1)), (2,), 0, True, True),
    ("rebuilt_unflag", dtype("O8", (3, "|", -1, -1, 63), (3, "|", -1, -1, 0)), (2,), 16, True, False),
    ("rebuilt_elsize", dtype("V8", (3, "|", 8, 1, 0), (3, "|", 40, 1, 0)), (1,), 40, True, False),
    # Not provable: a structured dtype built from a list spec, then raw data of its size.
    (
        "struct_ctor",
        glob(b"numpy", b"dtype") + tup(b"](" + tup(s("a"), s("<f8")) + tup(s("b"), s("<i4")) + b"e") + b"R",
        (3,),
        36,
        False,
        False,
    ),
    # Not provable: a legacy state layout.
    ("odd_state", dtype("V8", (2, "|", 8, 1, 1)), (1,), 0, False, True),
]



def main(out):
    os.makedirs(out, exist_ok=True)
    canary_dir = canary.install(out)
    for name, dt, shape, nbytes, provable, hasobject in CASES:
        aligned = name.endswith("_aligned")
        data = bytes((k * 7 + 1) % 251 for k in range(nbytes)) if not hasobject else b""

        def obj(target):
            # The nested pickle joblib reads for object arrays; the call after it is in the
            # outer stream.
            if not hasobject:
                return None
            inner = b"\x80\x02" + (call(target) if target else b"N") + b"0]."
            return inner

        for kind, target in (("twin", CANARY), ("payload", PAYLOAD), ("control", None)):
            with open(os.path.join(out, f"{name}.{kind}.joblib"), "wb") as f:
                f.write(stream(dt, shape, data, target, aligned, obj(target)))
        twin = os.path.join(out, f"{name}.twin.joblib")
        reached = canary.joblib_reaches(twin, canary_dir, os.path.join(out, f"{name}.reached"))
        print(json.dumps({"name": name, "reached": reached, "provable": provable}))


if __name__ == "__main__":
    main(sys.argv[1])
