#!/usr/bin/env python3
"""Independent check of a modelgate ONNX conversion (tests/convert.rs).

usage: check_onnx.py EXPECTED.json JOBS.json
JOBS.json is a list of {"onnx", "name", "skl2onnx" (reference pickle, optional), "zipmap",
"expect_ml" (list of ai.onnx.ml op types, optional)}. One Python process checks them all.

1. onnx.checker.check_model(full_check=True);
2. onnxruntime outputs on the recorded inputs equal sklearn's (labels exactly, probabilities,
   scores and values within 1e-5 relative);
3. with --skl2onnx: the ai.onnx.ml operator types equal those of skl2onnx's graph for the same
   fitted model (zipmap off). The reference pickle is a fixture this project generated.
Prints a JSON list of results ({"onnx", "ok", "error"?, ...}); always exits 0 unless the jobs
file itself is unreadable.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


class Mismatch(Exception):
    pass


def fail(msg):
    raise Mismatch(msg)


def check(allexp, job):
    path, name = job["onnx"], job["name"]
    ref = job.get("skl2onnx")
    zipmap = job.get("zipmap", False)
    exp = allexp["sklearn"][name]
    X = np.array(allexp["sklearn_inputs"], dtype=np.float32)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, {"X": X}))}
    report = {"ok": True, "outputs": sorted(outs)}
    if "label" in exp:
        label = outs["output_label" if zipmap else "label"]
        want = np.array(exp["label"])
        if [str(x) for x in label.tolist()] != [str(x) for x in want.tolist()]:
            fail(f"labels differ: {label.tolist()} vs {want.tolist()}")
        if zipmap:
            probs = np.array([[d[k] for k in sorted(d)] for d in outs["output_probability"]])
        else:
            probs = outs["probabilities"]
        key = "probabilities" if "probabilities" in exp else "scores"
        want = np.array(exp[key])
        if probs.shape != want.shape or not np.allclose(probs, want, rtol=1e-5, atol=1e-6):
            fail(f"{key} differ: max abs diff {np.max(np.abs(probs - want)) if probs.shape == want.shape else probs.shape}")
    else:
        got = outs["variable"]
        want = np.array(exp["variable"])
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-5):
            fail(f"variable differs: {got.ravel()[:4]} vs {want.ravel()[:4]}")
    ours = [n.op_type for n in model.graph.node if n.domain == "ai.onnx.ml" and n.op_type != "ZipMap"]
    report["ml_ops"] = ours
    if ref:
        import joblib
        from skl2onnx import to_onnx

        est = joblib.load(ref)
        # skl2onnx options are keyed by estimator; zipmap applies to classifiers only.
        opts = {id(est): {"zipmap": False}} if hasattr(est, "classes_") or hasattr(est, "predict_proba") else None
        try:
            ref_model = to_onnx(est, X[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": 3})
        except Exception:
            ref_model = to_onnx(est, X[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        theirs = [n.op_type for n in ref_model.graph.node if n.domain == "ai.onnx.ml" and n.op_type != "ZipMap"]
        report["skl2onnx_ml_ops"] = theirs
        report["skl2onnx_ops"] = [n.op_type for n in ref_model.graph.node]
        if ours != theirs:
            fail(f"ai.onnx.ml ops differ from skl2onnx: {ours} vs {theirs}")
    if "expect_ml" in job and ours != job["expect_ml"]:
        fail(f"ai.onnx.ml ops {ours}, expected {job['expect_ml']}")
    return report


def main():
    with open(sys.argv[1]) as f:
        allexp = json.load(f)
    with open(sys.argv[2]) as f:
        jobs = json.load(f)
    results = []
    for job in jobs:
        try:
            r = check(allexp, job)
        except Exception as e:  # a mismatch or a checker/runtime error: both fail the test
            r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        r["onnx"] = job["onnx"]
        results.append(r)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
