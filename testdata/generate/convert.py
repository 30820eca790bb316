#!/usr/bin/env python3
"""Fixtures for `modelgate convert` (tests/convert.rs).

scikit-learn: trains small models with fixed seeds, saves each with pickle (protocols 2 and 5)
and joblib (plain and zlib-compressed), and records sklearn's predictions on fixed inputs in
testdata/convert/expected.json. Old-sklearn layouts (7-field tree nodes, leaf counts,
numpy.core names, big-endian records, multi_class='ovr') are written by hand with a pickler that
emits arbitrary GLOBAL names, from the same fitted trees, so their expected outputs are known.

PyTorch: torch is not installed; checkpoints are written by hand in the documented formats
(formats.md §1.2-1.4): zip (with/without byteorder, any prefix, big-endian) and legacy
magic-number streams, with views, shared storages, bf16/f8 raw bytes, parameters and wrappers.

Nothing here loads a pickle. Run: /work/venv/bin/python -P testdata/generate/convert.py
(-P: this folder has a pickle.py that would shadow the standard module)
"""
import io
import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import joblib
import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "convert")
for sub in ("benign", "malformed", "malicious"):
    os.makedirs(os.path.join(ROOT, sub), exist_ok=True)


def out(sub, name):
    return os.path.join(ROOT, sub, name)


# --------------------------------------------------------------------------------------------
# A pickler that writes arbitrary global names (for hand-made torch and old-sklearn pickles).

class G:
    """A global reference written as GLOBAL module\\nname\\n."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """REDUCE(func, args) followed by BUILD(state) when state is not None."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state


class New:
    """NEWOBJ(cls, args) followed by BUILD(state)."""

    def __init__(self, cls, args=(), state=None):
        self.cls, self.args, self.state = cls, args, state


class Pid:
    """A persistent id (BINPERSID)."""

    def __init__(self, value):
        self.value = value


class HandPickler(pickle._Pickler):
    def __init__(self, f, protocol=2, rename=None):
        super().__init__(f, protocol=protocol)
        self.rename = rename or {}

    def persistent_id(self, obj):
        if isinstance(obj, Pid):
            return obj.value
        return None

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        qual = name or getattr(obj, "__qualname__", None)
        if module and qual:
            self.write_global(module, qual)
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def write_global(self, module, name):
        for old, new in self.rename.items():
            if module == old or module.startswith(old + "."):
                module = new + module[len(old):]
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, G):
            self.write_global(obj.module, obj.name)
            return
        if isinstance(obj, Call):
            self.save(obj.func)
            self.save(tuple(obj.args))
            self.write(pickle.REDUCE)
            if obj.state is not None:
                self.save(obj.state)
                self.write(pickle.BUILD)
            return
        if isinstance(obj, New):
            self.save(obj.cls)
            self.save(tuple(obj.args))
            self.write(pickle.NEWOBJ)
            if obj.state is not None:
                self.save(obj.state)
                self.write(pickle.BUILD)
            return
        super().save(obj, save_persistent_id)


def hand_dumps(obj, protocol=2, rename=None):
    b = io.BytesIO()
    HandPickler(b, protocol, rename).dump(obj)
    return b.getvalue()


# --------------------------------------------------------------------------------------------
# scikit-learn

expected = {"sklearn": {}, "torch": {}}
rng = np.random.RandomState(0)
Xc, yc = make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0,
                             n_classes=3, random_state=0)
Xb, yb = make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0,
                             n_classes=2, random_state=1)
Xr, yr = make_regression(n_samples=80, n_features=4, noise=0.1, random_state=2)
# Inputs exactly representable in float32 (the ONNX graphs take float32).
Xc, Xb, Xr = (a.astype(np.float32).astype(np.float64) for a in (Xc, Xb, Xr))
X_test = rng.normal(size=(12, 4)).astype(np.float32).astype(np.float64)
ystr = np.array(["cat", "dog", "emu"])[yc]

models = {
    "linreg": (LinearRegression(), Xr, yr),
    "ridge": (Ridge(alpha=0.5), Xr, yr),
    "logreg_bin": (LogisticRegression(), Xb, yb),
    "logreg_multi": (LogisticRegression(max_iter=500), Xc, yc),
    "logreg_str": (LogisticRegression(max_iter=500), Xc, ystr),
    "sgd_hinge": (SGDClassifier(loss="hinge", random_state=0), Xc, yc),
    "sgd_hinge_bin": (SGDClassifier(loss="hinge", random_state=0), Xb, yb),
    "sgd_log_bin": (SGDClassifier(loss="log_loss", random_state=0), Xb, yb),
    "sgd_log_multi": (SGDClassifier(loss="log_loss", random_state=0), Xc, yc),
    "dt_clf": (DecisionTreeClassifier(max_depth=3, random_state=0), Xc, yc),
    "dt_reg": (DecisionTreeRegressor(max_depth=3, random_state=0), Xr, yr),
    "rf_clf": (RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), Xc, yc),
    "rf_reg": (RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0), Xr, yr),
    "gb_clf_bin": (GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0), Xb, yb),
    "gb_clf_multi": (GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0), Xc, yc),
    "gb_reg": (GradientBoostingRegressor(n_estimators=4, max_depth=2, random_state=0), Xr, yr),
    "scaler": (StandardScaler(), Xr, None),
    "pipe_scaler_logreg": (Pipeline([("scale", StandardScaler()),
                                     ("clf", LogisticRegression(max_iter=500))]), Xc, yc),
    "pipe_scaler_rf_reg": (Pipeline([("scale", StandardScaler()),
                                     ("reg", RandomForestRegressor(n_estimators=2, max_depth=2,
                                                                   random_state=0))]), Xr, yr),
}


def record(name, est, kind=None):
    e = {}
    if hasattr(est, "predict_proba") and not (isinstance(est, SGDClassifier) and est.loss == "hinge"):
        e["label"] = est.predict(X_test).tolist()
        e["probabilities"] = est.predict_proba(X_test).tolist()
    elif hasattr(est, "decision_function") and hasattr(est, "classes_"):
        e["label"] = est.predict(X_test).tolist()
        d = est.decision_function(X_test)
        if d.ndim == 1:
            d = np.stack([-d, d], axis=1)
        e["scores"] = d.tolist()
    elif hasattr(est, "predict"):
        e["variable"] = est.predict(X_test).reshape(len(X_test), -1).tolist()
    else:
        e["variable"] = est.transform(X_test).tolist()
    expected["sklearn"][name] = e
    return e


for name, (est, X, y) in models.items():
    est.fit(X, y) if y is not None else est.fit(X)
    record(name, est)
    with open(out("benign", f"{name}.p5.pkl"), "wb") as f:
        pickle.dump(est, f, protocol=5)
    with open(out("benign", f"{name}.p2.pkl"), "wb") as f:
        pickle.dump(est, f, protocol=2)
    joblib.dump(est, out("benign", f"{name}.joblib"))
    joblib.dump(est, out("benign", f"{name}.joblib.z"), compress=3)

expected["sklearn_inputs"] = X_test.tolist()


# Old-sklearn layouts, hand-written from the fitted decision tree.
def arr(a):
    """A numpy array pickled by numpy itself (its __reduce__), inside a hand pickle."""
    return a


def tree_state(tree, old_nodes=False, big=False, counts=False):
    st = tree.__getstate__()
    nodes = st["nodes"]
    if old_nodes:
        names = [n for n in nodes.dtype.names if n != "missing_go_to_left"]
        dt = np.dtype({"names": names,
                       "formats": [nodes.dtype.fields[n][0] for n in names],
                       "offsets": [nodes.dtype.fields[n][1] for n in names],
                       "itemsize": 56})
        new = np.zeros(nodes.shape, dtype=dt)
        for n in names:
            new[n] = nodes[n]
        nodes = new
    if big:
        nodes = nodes.astype(nodes.dtype.newbyteorder(">"))
    values = st["values"]
    if counts:
        values = values * st["nodes"]["weighted_n_node_samples"][:, None, None]
    return {"max_depth": st["max_depth"], "node_count": st["node_count"],
            "nodes": nodes, "values": values}


def hand_tree_clf(dt, **kw):
    t = dt.tree_
    tree = Call(G("sklearn.tree._tree", "Tree"),
                (t.n_features, np.array([t.n_classes[0]], dtype=np.intp), t.n_outputs),
                tree_state(t, **kw))
    state = {k: v for k, v in dt.__getstate__().items() if k != "tree_"}
    state["tree_"] = tree
    state["_sklearn_version"] = "1.0.2"
    return New(G("sklearn.tree._classes", "DecisionTreeClassifier"), (), state)


dt = models["dt_clf"][0]
old = {"numpy._core": "numpy.core"}
variants = {
    "legacy_dt_clf_v10": dict(old_nodes=True, counts=True),
    "legacy_dt_clf_big_endian": dict(big=True),
    "legacy_dt_clf_old_be_counts": dict(old_nodes=True, big=True, counts=True),
}
for name, kw in variants.items():
    with open(out("benign", f"{name}.pkl"), "wb") as f:
        f.write(hand_dumps(hand_tree_clf(dt, **kw), protocol=2, rename=old))
    expected["sklearn"][name] = expected["sklearn"]["dt_clf"]

# A pre-1.5 LogisticRegression with multi_class='ovr' (one-vs-rest), fitted as 3 binary models.
ovr_coef, ovr_b = [], []
for k in range(3):
    m = LogisticRegression().fit(Xc, (yc == k).astype(int))
    ovr_coef.append(m.coef_[0])
    ovr_b.append(m.intercept_[0])
ovr_coef, ovr_b = np.array(ovr_coef), np.array(ovr_b)
scores = X_test @ ovr_coef.T + ovr_b
p = 1 / (1 + np.exp(-scores))
p = p / p.sum(axis=1, keepdims=True)
lr_state = {"penalty": "l2", "C": 1.0, "solver": "liblinear", "multi_class": "ovr",
            "classes_": np.arange(3), "coef_": ovr_coef, "intercept_": ovr_b,
            "n_features_in_": 4, "_sklearn_version": "1.0.2"}
with open(out("benign", "legacy_logreg_ovr.pkl"), "wb") as f:
    f.write(hand_dumps(New(G("sklearn.linear_model._logistic", "LogisticRegression"), (),
                           lr_state), protocol=2, rename=old))
expected["sklearn"]["legacy_logreg_ovr"] = {"label": np.argmax(p, axis=1).tolist(),
                                             "probabilities": p.tolist()}

# Unsupported estimator and a non-allowlisted global inside an otherwise valid estimator.
from sklearn.svm import SVC  # noqa: E402

with open(out("malformed", "unsupported_svc.pkl"), "wb") as f:
    pickle.dump(SVC().fit(Xb, yb), f, protocol=5)
evil_state = dict(models["linreg"][0].__getstate__())
evil_state["extra"] = Call(G("os", "system"), ("true",))
with open(out("malicious", "linreg_os_system.pkl"), "wb") as f:
    f.write(hand_dumps(New(G("sklearn.linear_model._base", "LinearRegression"), (), evil_state),
                       protocol=2))

# --------------------------------------------------------------------------------------------
# PyTorch (hand-written)

ODICT = G("collections", "OrderedDict")


def odict(items):
    """OrderedDict as torch writes it: REDUCE(OrderedDict, ()) then SETITEMS."""
    return OrderedDict(items)


def rebuild_v2(key, cls, numel, offset, size, stride, legacy=False):
    pid = ("storage", G("torch", cls), key, "cpu", numel) + ((None,) if legacy else ())
    return Call(G("torch._utils", "_rebuild_tensor_v2"),
                (Pid(pid), offset, tuple(size), tuple(stride), False, OrderedDict()))


def rebuild_v3(key, dtype, nbytes, offset, size, stride):
    pid = ("storage", G("torch.storage", "UntypedStorage"), key, "cpu", nbytes)
    return Call(G("torch._utils", "_rebuild_tensor_v3"),
                (Pid(pid), offset, tuple(size), tuple(stride), False, OrderedDict(),
                 G("torch", dtype)))


def param(t):
    return Call(G("torch._utils", "_rebuild_parameter"), (t, True, OrderedDict()))


def write_zip(path, prefix, pkl, storages, byteorder="little"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", pkl)
        if byteorder is not None:
            z.writestr(f"{prefix}/byteorder", byteorder)
        for k, b in storages.items():
            z.writestr(f"{prefix}/data/{k}", b)
        z.writestr(f"{prefix}/version", "3\n")


f32 = np.arange(6, dtype="<f4") * 1.5 - 2.0          # w (2,3)
f16 = np.array([0.5, -1.25, 3.0, 65504.0], dtype="<f2")
bf16 = np.array([0x3F80, 0xC000, 0x4049, 0x0001], dtype="<u2")   # raw bf16 bits
f8 = np.array([0x38, 0xB8, 0x7E, 0x01, 0x40], dtype="u1")          # raw e4m3 bytes
i64 = np.array([1, -2, 2**40], dtype="<i8")
b8 = np.array([1, 0, 1], dtype="u1")
u16 = np.array([1, 65535], dtype="<u2")


def basic_state(legacy=False):
    return odict([
        ("w", param(rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (3, 1), legacy))),
        ("w_row1", rebuild_v2("0", "FloatStorage", 6, 3, (3,), (1,), legacy)),
        ("w_t", rebuild_v2("0", "FloatStorage", 6, 0, (3, 2), (1, 3), legacy)),
        ("w_tied", rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (3, 1), legacy)),
        ("half", rebuild_v2("1", "HalfStorage", 4, 0, (2, 2), (2, 1), legacy)),
        ("bf", rebuild_v2("2", "BFloat16Storage", 4, 0, (4,), (1,), legacy)),
        ("ids", rebuild_v2("3", "LongStorage", 3, 0, (3,), (1,), legacy)),
        ("mask", rebuild_v2("4", "BoolStorage", 3, 0, (3,), (1,), legacy)),
        ("scalar", rebuild_v2("1", "HalfStorage", 4, 2, (), (), legacy)),
    ])


storages = {"0": f32.tobytes(), "1": f16.tobytes(), "2": bf16.tobytes(),
            "3": i64.tobytes(), "4": b8.tobytes()}

# 1. zip with byteorder, a {"state_dict": …, "epoch": …} wrapper, v3 dtypes.
sd = basic_state()
sd["f8"] = rebuild_v3("5", "float8_e4m3fn", 5, 0, (5,), (1,))
sd["u16"] = rebuild_v3("6", "uint16", 4, 0, (2,), (1,))
st = dict(storages, **{"5": f8.tobytes(), "6": u16.tobytes()})
ckpt = {"state_dict": sd, "epoch": 3, "lr": 0.01}
write_zip(out("benign", "torch_zip_basic.pt"), "torch_zip_basic", hand_dumps(ckpt), st)

# 2. zip without byteorder, another prefix, {"model": …}, nested keys, _rebuild_from_type_v2 and
#    _rebuild_parameter_with_state.
inner = rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (3, 1))
typed = Call(G("torch._tensor", "_rebuild_from_type_v2"),
             (G("torch._utils", "_rebuild_tensor_v2"), G("torch", "Tensor"),
              inner.args, {}))
with_state = Call(G("torch._utils", "_rebuild_parameter_with_state"),
                  (rebuild_v2("1", "HalfStorage", 4, 0, (4,), (1,)), True, OrderedDict(), {}))
model = {"model": {"encoder": odict([("weight", typed), ("bias", with_state)]),
                   "head": {"ids": rebuild_v2("3", "LongStorage", 3, 0, (3,), (1,))}},
         "optimizer_name": "adam"}
write_zip(out("benign", "torch_zip_archive_prefix.pth"), "archive", hand_dumps(model),
          {k: storages[k] for k in ("0", "1", "3")}, byteorder=None)

# 3. big-endian zip.
be = {"0": f32.astype(">f4").tobytes(), "1": f16.astype(">f2").tobytes(),
      "2": bf16.astype(">u2").tobytes(), "3": i64.astype(">i8").tobytes(), "4": b8.tobytes()}
write_zip(out("benign", "torch_zip_big_endian.pt"), "be", hand_dumps(basic_state()), be,
          byteorder="big")


# 4./5. legacy magic-number format.
def write_legacy(path, state, stor, little=True, keys=None):
    b = io.BytesIO()
    b.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
    b.write(pickle.dumps(1001, protocol=2))
    b.write(pickle.dumps({"protocol_version": 1001, "little_endian": little,
                          "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
    b.write(hand_dumps(state))
    keys = sorted(stor) if keys is None else keys
    b.write(pickle.dumps(keys, protocol=2))
    for k in keys:
        data, elem = stor[k]
        b.write(struct.pack("<q" if little else ">q", len(data) // elem))
        b.write(data)
    with open(path, "wb") as f:
        f.write(b.getvalue())
    return b.getvalue()


leg = {"0": (f32.tobytes(), 4), "1": (f16.tobytes(), 2), "2": (bf16.tobytes(), 2),
       "3": (i64.tobytes(), 8), "4": (b8.tobytes(), 1)}
write_legacy(out("benign", "torch_legacy.pt"), basic_state(legacy=True), leg)
leg_be = {"0": (be["0"], 4), "1": (be["1"], 2), "2": (be["2"], 2), "3": (be["3"], 8),
          "4": (be["4"], 1)}
write_legacy(out("benign", "torch_legacy_big_endian.pt"), basic_state(legacy=True), leg_be,
             little=False)

# Malformed torch checkpoints: each must fail with a clear error and leave no output.
one = odict([("w", rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (3, 1)))])
write_zip(out("malformed", "torch_truncated_storage.pt"), "t", hand_dumps(one),
          {"0": f32.tobytes()[:16]})
write_zip(out("malformed", "torch_wrong_numel.pt"), "t",
          hand_dumps(odict([("w", rebuild_v2("0", "FloatStorage", 8, 0, (2, 3), (3, 1)))])),
          {"0": f32.tobytes()})
write_zip(out("malformed", "torch_offset_out_of_range.pt"), "t",
          hand_dumps(odict([("w", rebuild_v2("0", "FloatStorage", 6, 4, (2, 3), (3, 1)))])),
          {"0": f32.tobytes()})
write_zip(out("malformed", "torch_stride_out_of_range.pt"), "t",
          hand_dumps(odict([("w", rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (4, 1)))])),
          {"0": f32.tobytes()})
write_zip(out("malformed", "torch_complex.pt"), "t",
          hand_dumps(odict([("c", rebuild_v2("0", "ComplexDoubleStorage", 1, 0, (1,), (1,)))])),
          {"0": b"\0" * 16})
q = Call(G("torch._utils", "_rebuild_qtensor"), (Pid(("storage", G("torch", "QInt8Storage"), "0",
                                                       "cpu", 4)), 0, (4,), (1,), None, False,
                                                  OrderedDict()))
write_zip(out("malformed", "torch_qtensor.pt"), "t", hand_dumps(odict([("q", q)])),
          {"0": b"\0" * 4})
full = write_legacy(out("malformed", "torch_legacy_truncated.pt"),
                    odict([("w", rebuild_v2("9", "FloatStorage", 6, 0, (2, 3), (3, 1), True))]),
                    {"9": (f32.tobytes(), 4)})
with open(out("malformed", "torch_legacy_truncated.pt"), "wb") as f:
    f.write(full[:-10])
# A torch zip whose pickle calls os.system next to a real tensor (refused before conversion).
evil = odict([("w", rebuild_v2("0", "FloatStorage", 6, 0, (2, 3), (3, 1))),
              ("x", Call(G("os", "system"), ("true",)))])
write_zip(out("malicious", "torch_zip_os_system.pt"), "t", hand_dumps(evil), {"0": f32.tobytes()})

# NumPy inputs.
np.save(out("benign", "array_c.npy"), np.arange(12, dtype="<f4").reshape(3, 4))
np.save(out("benign", "array_fortran.npy"), np.asfortranarray(np.arange(6, dtype="<i8").reshape(2, 3)))
np.save(out("benign", "array_big_endian.npy"), np.arange(5, dtype=">f8"))
np.savez(out("benign", "arrays.npz"), a=np.ones((2, 2), "<f2"), b=np.array([True, False]))
np.savez_compressed(out("benign", "arrays_compressed.npz"), x=np.arange(10, dtype="<u2"),
                    y=np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save(out("malicious", "object_array.npy"), np.array([{"a": 1}, None], dtype=object),
        allow_pickle=True)

with open(os.path.join(ROOT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("wrote", sum(len(fs) for _, _, fs in os.walk(ROOT)), "files")
