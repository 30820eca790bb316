"""Loader oracle for the Flax/MessagePack scanner (tests/msgpack_oracle.rs): msgpack-numpy's
decoder (`msgpack.unpackb(..., object_hook=msgpack_numpy.decode)`, what `msgpack_numpy.patch()`
installs) unpickles the `data` of a map with `nd: True` and `kind: b"O"`. For each spelling of such
a map (key and value types, nesting, neighbours) this writes a payload twin (the pickle runs
`posix.system("true")`) and a canary twin (the pickle calls `mg_canary.reached`), and decodes the
canary twin with both `raw=False` and `raw=True`.

One JSON line per spelling: {"name", "payload", "reached"}. Test-only: never part of the product.

Usage: python msgpack_numpy_canary.py OUTDIR
"""
import json
import sys
import types
from pathlib import Path

import msgpack
import msgpack_numpy

reached = []
canary = types.ModuleType("mg_canary")
canary.reached = lambda *a: reached.append(a)
sys.modules["mg_canary"] = canary


def pickle_calling(module, name):
    return b"c" + module + b"\n" + name + b"\n(S'true'\ntR."


def spellings(data):
    b, s = (lambda k: k.encode()), (lambda k: k)
    base = {"nd": True, "type": "|O", "kind": b"O", "shape": [1], "data": data}
    yield "bytes-keys", {b(k): v for k, v in base.items()}
    yield "str-keys", dict(base)
    yield "str-kind", {b(k): (v.decode() if k == "kind" else v) for k, v in base.items()}
    yield "no-type-no-shape", {b"nd": True, b"kind": b"O", b"data": data}
    yield "nested", {"params": {"layer": [{b(k): v for k, v in base.items()}]}}
    yield "nd-is-one", {b(k): (1 if k == "nd" else v) for k, v in base.items()}
    yield "kind-v", {b(k): (b"V" if k == "kind" else v) for k, v in base.items()}
    yield "duplicate-kind-last-o", None


def pack(obj, name):
    if name == "duplicate-kind-last-o":
        # Two `kind` keys: the dict keeps the last one.
        return (b"\x85\xc4\x02nd\xc3\xc4\x04kind\xc4\x01V\xc4\x04type\xa2|O\xc4\x04kind\xc4\x01O"
                + b"\xc4\x04data" + msgpack.packb(obj, use_bin_type=True))
    return msgpack.packb(obj, use_bin_type=True)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    payload_pickle = pickle_calling(b"posix", b"system")
    canary_pickle = pickle_calling(b"mg_canary", b"reached")
    for (name, payload), (_, twin) in zip(spellings(payload_pickle), spellings(canary_pickle)):
        if name == "duplicate-kind-last-o":
            payload, twin = payload_pickle, canary_pickle
        path = out / f"{name}.msgpack"
        path.write_bytes(pack(payload, name))
        reached.clear()
        for raw in (False, True):
            try:
                msgpack.unpackb(pack(twin, name), object_hook=msgpack_numpy.decode, raw=raw,
                                strict_map_key=False)
            except Exception:
                pass
        print(json.dumps({"name": name, "payload": str(path), "reached": bool(reached)}), flush=True)


if __name__ == "__main__":
    main()
