"""Loader oracle for the ORT-format scanner (tests/tflite.rs): ONNX Runtime creates an inference
session from each `.ort` file given on the command line, in a forked child so that a file that
crashes the native runtime is a result, not a failed oracle. One JSON line per file:
{"path", "outcome": "loads" | "refused" | "crashed", "error"}. Nothing is run: creating the
session is what every application does first.

Usage: python tests/oracle/ort_load.py MODEL...
"""

import json
import os
import sys

import onnxruntime as ort


def load(path):
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # the runtime refuses the file
        return "refused", str(e)
    return "loads", ""


def main():
    for path in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            devnull = os.open(os.devnull, os.O_WRONLY)
            # The runtime logs to fd 1 and 2; keep the oracle's output to the JSON lines.
            out = os.dup(1)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            outcome, error = load(path)
            os.write(w, json.dumps({"outcome": outcome, "error": error[:300]}).encode())
            os.close(out)
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if data:
            case = json.loads(data)
        else:
            case = {"outcome": "crashed", "error": f"wait status {status}"}
        case["path"] = path
        print(json.dumps(case), flush=True)


if __name__ == "__main__":
    main()
