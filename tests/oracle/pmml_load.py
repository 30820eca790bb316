"""Loader oracle for the PMML scanner (tests/formats/pmml.rs): the real PMML4S evaluator (through
pypmml, on the JVM) loads each document given on the command line, each in its own child process
with a time limit (PMML4S hangs on some documents: a reference to an undeclared entity never
returns). One JSON line per document: {"path", "outcome": "loads" | "refused" | "hung", "error",
"description", "inputs"}. The header's description and the input field names are where the canary
twins put entity references: a canary value showing up there means the evaluator's XML parser
expanded the entity. Nothing is scored.

Usage: python tests/oracle/pmml_load.py DOCUMENT...
"""

import json
import os
import signal
import subprocess
import sys

LIMIT_SECONDS = 20


def load_one(path):
    from pypmml import Model

    case = {"path": path, "outcome": "loads", "error": "", "description": None, "inputs": []}
    try:
        m = Model.fromFile(path)
        case["description"] = m.header.description if m.header else None
        case["inputs"] = list(m.inputNames)
    except Exception as e:  # the evaluator refuses the document
        case["outcome"] = "refused"
        case["error"] = str(e)[:300]
    print(json.dumps(case), flush=True)


def main():
    if sys.argv[1:2] == ["--one"]:
        load_one(sys.argv[2])
        return
    for path in sys.argv[1:]:
        # Its own session, so that the JVM pypmml starts is ended with it on a hang.
        child = subprocess.Popen(
            [sys.executable, __file__, "--one", path],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = child.communicate(timeout=LIMIT_SECONDS)
            out = out.strip()
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            case = {"path": path, "outcome": "hung", "error": f"no answer in {LIMIT_SECONDS} s", "description": None, "inputs": []}
            print(json.dumps(case), flush=True)
            continue
        line = out.splitlines()[-1] if out else ""
        if not line.startswith("{"):
            line = json.dumps({"path": path, "outcome": "refused", "error": "the evaluator exited without an answer", "description": None, "inputs": []})
        print(line, flush=True)


if __name__ == "__main__":
    main()
