"""Loader oracle for the ExecuTorch scanner (tests/formats/executorch.rs): the real ExecuTorch
runtime, as packaged by executorch-numpy-runtime (the C++ runtime with its portable kernels and
XNNPACK, no torch), loads each program given on the command line and runs its `forward` method on
zeros, in a forked child so that a program that crashes the native runtime is a result, not a
failed oracle. One JSON line per program: {"path", "outcome": "refused" | "method-fails" | "runs" |
"crashed", "error"}: "refused" when `Program::load` fails, "method-fails" when loading or running
the method fails (`Method::load` refusing the plan, a backend refusing its blob, a missing
kernel), "runs" when it returns outputs. The fixtures' payloads are inert, and the runtime never
unpickles anything: a pickle in a delegate blob is bytes handed to a native backend.

Usage: python tests/oracle/executorch_load.py PROGRAM...   (Python >= 3.12)
"""

import json
import os
import sys
import tempfile

import numpy as np
import executorch_numpy_runtime as et


def load(path):
    try:
        program = et.Runtime.get().load_program(path)
    except Exception as e:  # Program::load refuses the file
        return "refused", str(e)
    try:
        program.load_method("forward")([np.zeros((1, 4), dtype=np.float32)])
    except Exception as e:
        return "method-fails", str(e)
    return "runs", ""


def main():
    for path in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            # The runtime logs its reasons to fd 2: keep them (the last error lines) as the error,
            # and the oracle's output to the JSON lines.
            log = tempfile.TemporaryFile()
            os.dup2(log.fileno(), 2)
            outcome, error = load(path)
            log.seek(0)
            reasons = [
                line.split("] ", 1)[-1]
                for line in log.read().decode(errors="replace").splitlines()
                if line.startswith("E ")
            ]
            if reasons:
                error = " | ".join(reasons[-3:])
            os.write(w, json.dumps({"outcome": outcome, "error": error[:400]}).encode())
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
