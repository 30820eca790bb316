#!/usr/bin/env python3
"""Writes the native (non-pickle) model fixtures: testdata/{xgboost,lightgbm,catboost,flax,mxnet}/
{benign,malicious,malformed}.

Who writes what:
* XGBoost JSON and UBJSON models, the pickled (and joblib-dumped) `XGBClassifier` and the pickled
  `Booster`: xgboost-cpu 3.2.0 itself (`save_model`, `pickle.dumps`, joblib 1.6.0). The legacy binary (`binf`, refused by XGBoost 3) is
  built from the struct layout of XGBoost 2.1's `src/learner.cc`, `src/gbm/gbtree_model.h` and
  `include/xgboost/tree_model.h`.
* LightGBM text models and the pickled `Booster`/`LGBMClassifier` (and the joblib-dumped
  classifier): lightgbm 4.7.0.
* CatBoost `.cbm` models: catboost 1.2.10 (`save_model(format="cbm")`).
* Flax checkpoints: built with msgpack 1.2.4 exactly as `flax.serialization.to_bytes` writes
  them (`_ndarray_to_bytes`, ext types 1/2/3; flax and jax are too large for the test venv).
* MXNet symbol graphs and `.params` NDArray lists: built from the layouts MXNet 1.9 writes
  (`nnvm` graph JSON, `src/ndarray/ndarray.cc` `NDArray::Save`); MXNet has no wheel for current
  Python.

Malicious and malformed variants are edited copies of the benign files (or built from the same
layouts). Nothing here loads a model; every pickle payload is inert (`os.system('true')`).
Training is single-threaded with fixed seeds, so re-running gives the same models (CatBoost
stores a GUID and a timestamp in its info map, so its bytes change; the scan results do not).

Usage: /path/to/venv/bin/python -P testdata/generate/native_models.py   (from the repo root)
Needs: pip install xgboost-cpu==3.2.0 lightgbm==4.7.0 catboost==1.2.10 msgpack==1.2.4
       numpy scikit-learn
"""

import json
import pickle
import re
import shutil
import struct
import sys
from pathlib import Path

import joblib
import msgpack
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."


def reset(area):
    d = ROOT / area
    if d.exists():
        shutil.rmtree(d)
    for k in ("benign", "malicious", "malformed"):
        (d / k).mkdir(parents=True)
    return d


def data():
    rng = np.random.RandomState(0)
    x = rng.rand(64, 4).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 1.0).astype(np.int32)
    return x, y


# ----------------------------------------------------------------------------------------------
# XGBoost
# ----------------------------------------------------------------------------------------------


def legacy_binary(left=(1, -1, -1), parent1=0, num_nodes=None, feature=0, num_trees=1):
    """A tagged legacy binary gbtree model with one 3-node tree (XGBoost 2.1 layout)."""
    n = 3
    b = bytearray(b"binf")
    # LearnerModelParamLegacy: base_score, num_feature, num_class, contain_extra_attrs,
    # contain_eval_metrics, major_version, minor_version, num_target, boost_from_average, 25 reserved.
    b += struct.pack("<fIiiiIIIi", 0.5, 4, 0, 0, 0, 1, 7, 1, 1) + b"\0" * 100
    for name in (b"binary:logistic", b"gbtree"):
        b += struct.pack("<Q", len(name)) + name
    # GBTreeModelParam: num_trees, num_parallel_tree, 38 reserved.
    b += struct.pack("<ii", num_trees, 1) + b"\0" * 152
    # TreeParam: deprecated_num_roots, num_nodes, num_deleted, deprecated_max_depth, num_feature,
    # size_leaf_vector, 31 reserved.
    b += struct.pack("<iiiiIi", 1, n if num_nodes is None else num_nodes, 0, 0, 4, 1) + b"\0" * 124
    parents = (0xFFFFFFFF, parent1 | 0x80000000, parent1)
    rights = (2, -1, -1)
    for i in range(n):
        b += struct.pack("<IiiIf", parents[i], left[i], rights[i], feature if i == 0 else 0, 0.5)
    for i in range(n):
        b += struct.pack("<fffi", 1.0, 2.0, 0.1, 0)
    b += struct.pack("<i", 0)  # tree_info
    return bytes(b)


def xgboost():
    import xgboost as xgb

    d = reset("xgboost")
    x, y = data()
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1, random_state=0, tree_method="exact")
    clf.fit(x, y)
    booster = clf.get_booster()
    booster.save_model(str(d / "benign" / "model.json"))
    booster.save_model(str(d / "benign" / "model.ubj"))
    (d / "benign" / "classifier.pkl").write_bytes(pickle.dumps(clf, protocol=4))
    joblib.dump(clf, d / "benign" / "classifier.joblib")
    (d / "benign" / "booster.pkl").write_bytes(pickle.dumps(booster, protocol=4))
    (d / "benign" / "legacy.bst").write_bytes(legacy_binary())

    model = json.loads((d / "benign" / "model.json").read_text())
    tree0 = model["learner"]["gradient_booster"]["model"]["trees"][0]

    def variant(name, edit):
        m = json.loads(json.dumps(model))
        edit(m["learner"]["gradient_booster"]["model"]["trees"][0], m)
        (d / "malicious" / name).write_text(json.dumps(m))

    def child(t, _m):
        t["left_children"][0] = 99

    def cycle(t, _m):
        internal = [i for i, l in enumerate(t["left_children"]) if l != -1]
        last = internal[-1]
        t["left_children"][last] = 0

    def feature(t, _m):
        t["split_indices"][0] = 4096

    variant("child-out-of-bounds.json", child)
    variant("child-loop.json", cycle)
    variant("split-feature-out-of-bounds.json", feature)
    assert len(tree0["left_children"]) >= 3
    ub = (d / "benign" / "model.ubj").read_bytes()
    # A UBJSON string length (the objective's name) that runs past the end of the file.
    objective = ub.index(b"binary:logistic") - 8
    bad = ub[:objective] + struct.pack(">q", 1 << 40) + ub[objective + 8 :]
    (d / "malicious" / "ubj-string-past-end.ubj").write_bytes(bad)
    # A typed array whose count asks the loader for 2^60 int32s.
    first = ub.index(b"[$l#L")
    bad = ub[: first + 5] + struct.pack(">q", 1 << 60) + ub[first + 13 :]
    (d / "malicious" / "ubj-typed-array-huge.ubj").write_bytes(bad)
    # Node 1's parent, patched in the typed int32 array XGBoost wrote.
    at = ub.index(b"\x07parents[$l#L") + len(b"\x07parents[$l#L") + 8
    bad = ub[: at + 4] + struct.pack(">i", 1000) + ub[at + 8 :]
    (d / "malicious" / "parent-out-of-bounds.ubj").write_bytes(bad)
    # The same patch inside a pickled Booster's memory snapshot (`__setstate__` hands it to the
    # native loader).
    pk = (d / "benign" / "booster.pkl").read_bytes()
    at = pk.index(b"\x07parents[$l#L") + len(b"\x07parents[$l#L") + 8
    bad = pk[: at + 4] + struct.pack(">i", 1000) + pk[at + 8 :]
    (d / "malicious" / "booster-parent-out-of-bounds.pkl").write_bytes(bad)
    (d / "malicious" / "legacy-huge-num-nodes.bst").write_bytes(legacy_binary(num_nodes=1 << 30))
    (d / "malicious" / "legacy-child-out-of-bounds.bst").write_bytes(legacy_binary(left=(7, -1, -1)))
    # A pickle that runs a command, named like an XGBoost model (sniffed by content).
    (d / "malicious" / "pickle-named-model.bst").write_bytes(PICKLE)

    js = (d / "benign" / "model.json").read_bytes()
    (d / "malformed" / "truncated.json").write_bytes(js[: len(js) // 2])
    (d / "malformed" / "truncated.ubj").write_bytes(ub[: len(ub) // 2])
    m = json.loads(js)
    m["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = "7"
    (d / "malformed" / "tree-count-mismatch.json").write_text(json.dumps(m))
    m = json.loads(js)
    del m["learner"]["gradient_booster"]["model"]["trees"][0]["parents"]
    (d / "malformed" / "missing-parents.json").write_text(json.dumps(m))
    (d / "malformed" / "bad-marker.ubj").write_bytes(b"{L\0\0\0\0\0\0\0\x07learner{L\0\0\0\0\0\0\0\x01aX}}")
    (d / "malformed" / "legacy-truncated.bst").write_bytes(legacy_binary()[:200])


# ----------------------------------------------------------------------------------------------
# LightGBM
# ----------------------------------------------------------------------------------------------


def lightgbm():
    import lightgbm as lgb

    d = reset("lightgbm")
    x, y = data()
    params = {"objective": "binary", "num_leaves": 4, "num_threads": 1, "seed": 0, "verbose": -1,
              "min_data_in_leaf": 5, "deterministic": True}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=3)
    booster.save_model(str(d / "benign" / "model.txt"))
    (d / "benign" / "booster.pkl").write_bytes(pickle.dumps(booster, protocol=4))
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, n_jobs=1, random_state=0, verbose=-1,
                             min_child_samples=5, deterministic=True)
    clf.fit(x, y)
    (d / "benign" / "classifier.pkl").write_bytes(pickle.dumps(clf, protocol=4))
    joblib.dump(clf, d / "benign" / "classifier.joblib")
    # A categorical model: categorical splits with cat_boundaries/cat_threshold.
    xc = np.column_stack([np.arange(64) % 5, x[:, 1]]).astype(np.float64)
    cat = lgb.train({**params, "min_data_per_group": 1, "cat_smooth": 1, "min_data_in_leaf": 2},
                    lgb.Dataset(xc, label=(np.arange(64) % 5 > 2).astype(int), categorical_feature=[0]),
                    num_boost_round=2)
    cat.save_model(str(d / "benign" / "categorical.txt"))

    text = (d / "benign" / "model.txt").read_text()
    lines = text.split("\n")

    def resize(t):
        """Recomputes `tree_sizes` (each tree's bytes from its `Tree=` line to the next) so an
        edited tree is still found where LightGBM looks for it."""
        starts = [m.start() for m in re.finditer(r"^Tree=", t, re.M)]
        bounds = starts + [t.index("end of trees")]
        sizes = " ".join(str(b - a) for a, b in zip(bounds, bounds[1:]))
        return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + sizes, t, count=1, flags=re.M)

    assert resize(text) == text

    def edit(name, fn, kind="malicious"):
        (d / kind / name).write_text(resize(fn(text)) if kind == "malicious" else fn(text))

    def tree0(fn):
        def go(t):
            start = t.index("Tree=0\n")
            end = t.index("\n\n", start)
            return t[:start] + fn(t[start:end]) + t[end:]

        return go

    def set_line(key, value):
        def go(block):
            out = []
            for line in block.split("\n"):
                if line.startswith(key + "="):
                    line = f"{key}={value}"
                out.append(line)
            return "\n".join(out)

        return go

    def first_value(block, key):
        for line in block.split("\n"):
            if line.startswith(key + "="):
                return line[len(key) + 1 :].split(" ")
        raise KeyError(key)

    def left_bad(block):
        v = first_value(block, "left_child")
        v[0] = "99"
        return set_line("left_child", " ".join(v))(block)

    def left_loop(block):
        v = first_value(block, "left_child")
        last = max(i for i, c in enumerate(v) if int(c) >= 0) if any(int(c) >= 0 for c in v) else 0
        v[last] = "0"
        return set_line("left_child", " ".join(v))(block)

    def feature_bad(block):
        v = first_value(block, "split_feature")
        v[0] = "4096"
        return set_line("split_feature", " ".join(v))(block)

    edit("child-out-of-bounds.txt", tree0(left_bad))
    edit("child-loop.txt", tree0(left_loop))
    edit("split-feature-out-of-bounds.txt", tree0(feature_bad))
    edit("num-leaves-huge.txt", tree0(set_line("num_leaves", "1000000000")))
    sizes = [ln for ln in lines if ln.startswith("tree_sizes=")][0]
    (d / "malicious" / "tree-sizes-past-end.txt").write_text(
        text.replace(sizes, "tree_sizes=" + " ".join(["100000000"] * 3))
    )
    # A tree block that ends the file without a line end: the parser scans past the buffer.
    end = text.index("Tree=1")
    (d / "malicious" / "tree-line-unterminated.txt").write_text(
        text[:end].replace(sizes + "\n", "") + "Tree=1\nnum_leaves=4\nnum_cat=0\nsplit_feature=0 1 2"
    )

    edit("missing-num-class.txt", lambda t: t.replace("num_class=1\n", ""), kind="malformed")
    (d / "malformed" / "truncated.txt").write_text(text[: text.index("Tree=0") + 40])
    edit("two-equals.txt", lambda t: t.replace("label_index=0", "label_index=0=1"), kind="malformed")


# ----------------------------------------------------------------------------------------------
# CatBoost
# ----------------------------------------------------------------------------------------------


def catboost():
    import catboost as cb

    d = reset("catboost")
    x, y = data()
    m = cb.CatBoostClassifier(iterations=3, depth=2, random_seed=0, thread_count=1, verbose=False,
                              allow_writing_files=False)
    m.fit(x, y)
    m.save_model(str(d / "benign" / "model.cbm"), format="cbm")
    # Categorical features: CTR tables are serialized as a model part after the core.
    rng = np.random.RandomState(0)
    xc = [[f"c{rng.randint(10)}", float(rng.rand())] for _ in range(200)]
    yc = [int(r[0] in ("c1", "c2", "c3")) for r in xc]
    mc = cb.CatBoostClassifier(iterations=5, depth=2, random_seed=0, thread_count=1, verbose=False,
                               allow_writing_files=False, cat_features=[0], one_hot_max_size=1)
    mc.fit(xc, yc)
    mc.save_model(str(d / "benign" / "categorical.cbm"), format="cbm")
    (d / "benign" / "classifier.pkl").write_bytes(pickle.dumps(m, protocol=4))

    body = (d / "benign" / "model.cbm").read_bytes()
    core_len = struct.unpack("<I", body[4:8])[0]
    (d / "malicious" / "core-size-past-end.cbm").write_bytes(b"CBM1" + struct.pack("<I", 0x7FFFFFF0) + body[8:])
    (d / "malicious" / "core-size-64bit.cbm").write_bytes(
        b"CBM1" + struct.pack("<IQ", 0xFFFFFFFF, 1 << 60) + body[8:]
    )
    (d / "malformed" / "truncated-header.cbm").write_bytes(b"CBM1\x10")
    (d / "malformed" / "truncated-core.cbm").write_bytes(body[: 8 + core_len // 2])
    garbage = bytearray(body)
    garbage[8:12] = struct.pack("<I", core_len + 1000)  # root offset past the core
    (d / "malformed" / "bad-root-offset.cbm").write_bytes(bytes(garbage))
    (d / "malicious" / "trailing-zip.cbm").write_bytes(body + b"PK\x05\x06" + b"\0" * 18)


# ----------------------------------------------------------------------------------------------
# Flax (msgpack)
# ----------------------------------------------------------------------------------------------


def nd(arr):
    """flax.serialization._ndarray_to_bytes + ext type 1."""
    payload = msgpack.packb((arr.shape, arr.dtype.name, arr.tobytes("C")), use_bin_type=True)
    return msgpack.ExtType(1, payload)


def flax():
    d = reset("flax")
    rng = np.random.RandomState(0)
    state = {
        "params": {
            "Dense_0": {"bias": nd(np.zeros(2, np.float32)), "kernel": nd(rng.rand(4, 2).astype(np.float32))},
            "Embed_0": {"embedding": nd(rng.rand(8, 3).astype(np.float16))},
        },
        "step": msgpack.ExtType(3, msgpack.packb(((), "int32", np.int32(7).tobytes()), use_bin_type=True)),
        "opt_state": {"0": {"count": nd(np.array(3, np.int32)), "mu": {}},
                      "scale": msgpack.ExtType(2, msgpack.packb((1.0, -0.5)))},
    }
    (d / "benign" / "flax_model.msgpack").write_bytes(msgpack.packb(state, use_bin_type=True))
    # Written under a name without extension, the way flax.training.checkpoints names them.
    (d / "benign" / "checkpoint_3").write_bytes(msgpack.packb({"params": state["params"]}, use_bin_type=True))

    # msgpack-numpy's object array: decoded with pickle.loads by msgpack_numpy.decode.
    evil = {b"nd": True, b"type": "|O", b"kind": b"O", b"shape": (1,), b"data": PICKLE}
    (d / "malicious" / "msgpack-numpy-object-array.msgpack").write_bytes(
        msgpack.packb({"params": {"w": evil}}, use_bin_type=True)
    )
    (d / "malicious" / "unknown-ext-type.msgpack").write_bytes(
        msgpack.packb({"params": {"w": msgpack.ExtType(42, PICKLE)}}, use_bin_type=True)
    )

    good = (d / "benign" / "flax_model.msgpack").read_bytes()
    (d / "malformed" / "truncated.msgpack").write_bytes(good[: len(good) // 2])
    bad_shape = msgpack.ExtType(1, msgpack.packb(((4, 4), "float32", b"\0" * 10), use_bin_type=True))
    (d / "malformed" / "array-size-mismatch.msgpack").write_bytes(
        msgpack.packb({"params": {"w": bad_shape}}, use_bin_type=True)
    )
    bad_dtype = msgpack.ExtType(1, msgpack.packb(((1,), "object", b"\0" * 8), use_bin_type=True))
    (d / "malformed" / "object-dtype.msgpack").write_bytes(
        msgpack.packb({"params": {"w": bad_dtype}}, use_bin_type=True)
    )
    (d / "malformed" / "length-past-end.msgpack").write_bytes(b"\x81\xa6params\xc6\x7f\xff\xff\xff\x00")


# ----------------------------------------------------------------------------------------------
# MXNet
# ----------------------------------------------------------------------------------------------


def symbol(extra_nodes=()):
    """An MXNet 1.9 `HybridBlock.export` graph: data -> FullyConnected -> softmax."""
    nodes = [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "dense0_weight", "attrs": {"__dtype__": "0", "__shape__": "(2, 4)"}, "inputs": []},
        {"op": "null", "name": "dense0_bias", "attrs": {"__dtype__": "0", "__shape__": "(2,)"}, "inputs": []},
        {"op": "FullyConnected", "name": "dense0_fwd", "attrs": {"flatten": "True", "no_bias": "False",
                                                                 "num_hidden": "2"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "softmax", "name": "softmax0", "attrs": {"axis": "-1"}, "inputs": [[3, 0, 0]]},
    ]
    nodes.extend(extra_nodes)
    return {
        "nodes": nodes,
        "arg_nodes": [0, 1, 2],
        "node_row_ptr": list(range(len(nodes) + 1)),
        "heads": [[len(nodes) - 1, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]},
    }


def params(arrays, names, magic=0xF993FAC9):
    """`NDArray::Save` list: 0x112, reserved, arrays (v2: magic, stype, shape, ctx, dtype, data), names."""
    b = bytearray(struct.pack("<QQQ", 0x112, 0, len(arrays)))
    for shape, dtype, data in arrays:
        b += struct.pack("<Iii", magic, 0, len(shape))
        b += b"".join(struct.pack("<q", s) for s in shape)
        b += struct.pack("<iii", 1, 0, dtype) + data
    b += struct.pack("<Q", len(names))
    for n in names:
        b += struct.pack("<Q", len(n)) + n.encode()
    return bytes(b)


def mxnet():
    d = reset("mxnet")
    (d / "benign" / "net-symbol.json").write_text(json.dumps(symbol(), indent=2))
    w = np.arange(8, dtype=np.float32).reshape(2, 4)
    good = params([((2, 4), 0, w.tobytes()), ((2,), 0, np.zeros(2, np.float32).tobytes())],
                  ["arg:dense0_weight", "arg:dense0_bias"])
    (d / "benign" / "net-0000.params").write_bytes(good)

    custom = {"op": "Custom", "name": "custom0", "attrs": {"op_type": "my_softmax"}, "inputs": [[4, 0, 0]]}
    (d / "malicious" / "custom-op-symbol.json").write_text(json.dumps(symbol([custom]), indent=2))
    native = {"op": "_Native", "name": "native0", "attrs": {"info": "140737488355328", "need_top_grad": "True"},
              "inputs": [[4, 0, 0]]}
    (d / "malicious" / "native-callback-symbol.json").write_text(json.dumps(symbol([native]), indent=2))
    (d / "malicious" / "huge-shape.params").write_bytes(
        params([((1 << 40, 1 << 20), 0, b"")], ["arg:w"])
    )
    huge_count = bytearray(good)
    huge_count[16:24] = struct.pack("<Q", 1 << 62)
    (d / "malicious" / "huge-array-count.params").write_bytes(bytes(huge_count))

    (d / "malformed" / "truncated.params").write_bytes(good[: len(good) - 20])
    (d / "malformed" / "unknown-dtype.params").write_bytes(params([((2,), 99, b"\0" * 8)], ["arg:w"]))
    (d / "malformed" / "bad-symbol.json").write_text('{"nodes": [{"op": "null", "name": "data", "inputs": [')


def main():
    which = sys.argv[1:] or ["xgboost", "lightgbm", "catboost", "flax", "mxnet"]
    for w in which:
        globals()[w]()
        print("wrote", ROOT / w)


if __name__ == "__main__":
    main()
