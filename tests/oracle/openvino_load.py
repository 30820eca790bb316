"""Loader oracle for the OpenVINO IR scanner (tests/formats/openvino.rs): the real IR frontend
(`openvino.Core().read_model`) reads each `.xml` given on the command line with the `.bin` beside
it, in a forked child so that a model that crashes the native runtime is a result. One JSON line
per model: {"path", "outcome": "loads" | "refused" | "crashed", "error", "name"}. No extension is
registered and nothing is compiled or run.

Usage: python tests/oracle/openvino_load.py MODEL.xml...
"""

import json
import os
import sys


def load(path):
    import openvino as ov

    try:
        m = ov.Core().read_model(path)
    except Exception as e:  # the frontend refuses the model
        return {"outcome": "refused", "error": str(e)[:400], "name": None}
    return {"outcome": "loads", "error": "", "name": m.get_friendly_name()}


def main():
    for path in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.write(w, json.dumps(load(path)).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        case = json.loads(data) if data else {"outcome": "crashed", "error": f"status {status}", "name": None}
        case["path"] = path
        print(json.dumps(case), flush=True)


if __name__ == "__main__":
    main()
