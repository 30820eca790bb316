"""Loader oracle for the TFLite scanner (tests/tflite.rs): the real interpreter (ai-edge-litert,
the successor of tflite-runtime) loads each model given on the command line, in a forked child so
that a model that crashes the native runtime is a result, not a failed oracle. One JSON line per
model: {"path", "outcome": "allocates" | "loads" | "refused" | "crashed", "error"}. Nothing is
invoked: the interpreter is built and its tensors allocated, which is what `Interpreter(...)`
followed by `allocate_tensors()` does in every application.

Usage: python tests/oracle/tflite_load.py MODEL...
"""

import json
import os
import sys

from ai_edge_litert.interpreter import Interpreter


def load(path):
    try:
        it = Interpreter(model_path=path)
    except Exception as e:  # the interpreter refuses the model
        return "refused", str(e)
    try:
        it.allocate_tensors()
    except Exception as e:  # built, but a kernel refuses to prepare
        return "loads", str(e)
    return "allocates", ""


def main():
    for path in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            # The runtime logs to fd 2; keep the oracle's output to the JSON lines.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            outcome, error = load(path)
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
        else:
            case = {"outcome": "crashed", "error": f"wait status {status}"}
        case["path"] = path
        print(json.dumps(case), flush=True)


if __name__ == "__main__":
    main()
