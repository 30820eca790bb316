"""Loader oracle for the XGBoost and LightGBM scanners (tests/native_oracle.rs): the real
libraries (xgboost-cpu, lightgbm) load each model given on the command line and predict on a fixed
input, in a forked child so that a model that crashes or hangs the native code is a result, not a
failed oracle. One JSON line per model: {"path", "outcome": "predicts" | "refused" |
"predict-refused" | "crashed" | "hung", "error"}. A model is loaded the way applications load it
(`xgboost.Booster().load_model(path)`, `lightgbm.Booster(model_file=path)`); only numbers go in.

Usage: python tests/oracle/boosting_load.py xgboost|lightgbm MODEL...
"""

import json
import os
import signal
import sys

import numpy as np

xgb = lgb = None

# Seconds a child may take to load and predict before it counts as hung (the library is imported
# once, before forking; loading and predicting on these small models takes milliseconds).
TIMEOUT = 30


def run(kind, path):
    x = np.random.RandomState(0).rand(8, 4).astype(np.float32)
    if kind == "xgboost":
        try:
            b = xgb.Booster()
            b.load_model(path)
        except Exception as e:  # the loader refuses the model
            return "refused", str(e)
        try:
            b.predict(xgb.DMatrix(x))
        except Exception as e:
            return "predict-refused", str(e)
        return "predicts", ""
    try:
        b = lgb.Booster(model_file=path)
    except Exception as e:
        return "refused", str(e)
    try:
        b.predict(x[:, : b.num_feature()].astype(np.float64))
    except Exception as e:
        return "predict-refused", str(e)
    return "predicts", ""


def main():
    global xgb, lgb
    kind = sys.argv[1]
    if kind == "xgboost":
        import xgboost as xgb
    else:
        import lightgbm as lgb
    for path in sys.argv[2:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            signal.alarm(TIMEOUT)
            outcome, error = run(kind, path)
            os.write(w, json.dumps({"outcome": outcome, "error": error[:300]}).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if data:
            case = json.loads(data)
        elif os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            case = {"outcome": "hung", "error": f"no result after {TIMEOUT} s"}
        else:
            case = {"outcome": "crashed", "error": f"wait status {status}"}
        case["path"] = path
        print(json.dumps(case), flush=True)


if __name__ == "__main__":
    main()
