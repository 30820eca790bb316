"""skops loader oracle (tests/loader_oracle.rs): payload/canary twins of skops files.

For each way a schema.json node can make skops import and call a name, writes two files into
the output directory: `<case>.payload.skops` naming `posix.system`, and `<case>.canary.skops`
naming `mg_canary.hit`, a recording function (or `mg_canary.Hit`, a class whose constructor
records). The canary twin is then loaded the way callers load files they were sent:
`skops.io.load(f, trusted=skops.io.get_untrusted_types(file=f))`, and the loaded object is used
(`transform`, as a fitted FunctionTransformer is). One JSON line per case:
{"name", "payload", "canary", "reached", "error"}. Where the canary was reached, modelgate must
flag the payload twin.

Usage: python tests/oracle/skops_load.py OUT_DIR   (needs skops, scikit-learn, numpy)
"""

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

try:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
except ImportError as e:  # a venv from before skops was pinned: the Rust side decides (CI fails)
    print(f"SKIP: {e}")
    sys.exit(0)

OUT = Path(sys.argv[1])
MARK = OUT / "canary-reached"
CANARY = f'''
from pathlib import Path
MARK = Path({str(MARK)!r})
def hit(*args, **kwargs):
    MARK.write_text("hit")
    return 0
class Hit:
    def __new__(cls, *args, **kwargs):
        MARK.write_text("hit")
        return object.__new__(cls)
'''
X = np.random.RandomState(0).rand(8, 3)


def dumped(obj):
    z = zipfile.ZipFile(io.BytesIO(sio.dumps(obj)))
    return json.loads(z.read("schema.json")), {n: z.read(n) for n in z.namelist() if n != "schema.json"}


def save(path, schema, members):
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
        z.writestr("schema.json", json.dumps(schema))


def find(node, pred):
    if isinstance(node, dict):
        if pred(node):
            return node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            r = find(v, pred)
            if r is not None:
                return r
    return None


def jnode(v):
    return {"__class__": type(v).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(v), "is_json": True}


def tnode(*items):
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def empty_list():
    return {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []}


def as_attribute(node):
    """A fitted StandardScaler whose `copy` attribute is node (built while loading)."""
    s, m = dumped(StandardScaler().fit(X))
    s["content"]["content"]["copy"] = node
    return s, m


def function_transformer(func_node):
    s, m = dumped(FunctionTransformer(np.log1p).fit(X))
    s["content"]["content"]["func"] = func_node
    return s, m


def cases(module, func, cls):
    """(name, schema, members) naming module.func (a callable) or module.cls (a class)."""
    yield "function-node", *function_transformer(
        {"__class__": func, "__module__": module, "__loader__": "FunctionNode"})
    partial = {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
               "content": {"func": {"__class__": func, "__module__": module, "__loader__": "FunctionNode"},
                           "args": tnode(), "kwds": {"__class__": "dict", "__module__": "builtins",
                                                     "__loader__": "DictNode", "content": {},
                                                     "key_types": empty_list()},
                           "namespace": jnode(None)}}
    yield "partial-node", *function_transformer(partial)
    yield "constructor-from-reduce", *as_attribute(
        {"__class__": func, "__module__": module, "__loader__": "ConstructorFromReduceNode",
         "content": tnode(jnode("true"))})
    yield "object-node", *as_attribute({"__class__": cls, "__module__": module, "__loader__": "ObjectNode"})
    yield "dict-node", *as_attribute({"__class__": func, "__module__": module, "__loader__": "DictNode",
                                      "content": {}, "key_types": empty_list()})
    yield "list-node", *as_attribute({"__class__": func, "__module__": module, "__loader__": "ListNode",
                                      "content": []})
    yield "random-state-node", *as_attribute(
        {"__class__": func, "__module__": module, "__loader__": "RandomStateNode", "content": jnode(None)})
    yield "loss-node", *as_attribute(
        {"__class__": func, "__module__": module, "__loader__": "LossNode",
         "__reduce__": {"args": tnode()}, "content": {"__class__": "dict", "__module__": "builtins",
                                                      "__loader__": "DictNode", "content": {},
                                                      "key_types": empty_list()}})
    s, m = dumped(StandardScaler().fit(X))
    arr = find(s, lambda n: n.get("__loader__") == "NdArrayNode")
    arr["__module__"], arr["__class__"] = module, func
    yield "ndarray-class-call", s, m
    yield "operator-methodcaller", *as_attribute(
        {"__class__": "methodcaller", "__module__": "operator", "__loader__": "OperatorFuncNode",
         "attrs": tnode(jnode(func), jnode("true"))})


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mg_canary.py").write_text(CANARY)
    sys.path.insert(0, str(OUT))
    payloads = {n: (s, m) for n, s, m in cases("posix", "system", "system")}
    for name, schema, members in cases("mg_canary", "hit", "Hit"):
        payload, canary = OUT / f"{name}.payload.skops", OUT / f"{name}.canary.skops"
        save(payload, *payloads[name])
        save(canary, schema, members)
        MARK.unlink(missing_ok=True)
        error = None
        try:
            obj = sio.load(canary, trusted=sio.get_untrusted_types(file=canary))
            if hasattr(obj, "transform"):
                obj.transform(X)
        except Exception as e:  # the loader refusing is an outcome, not a test failure
            error = f"{type(e).__name__}: {e}"[:200]
        print(json.dumps({"name": name, "payload": str(payload), "canary": str(canary),
                          "reached": MARK.exists(), "error": error}))


if __name__ == "__main__":
    main()
