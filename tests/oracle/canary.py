"""The file-marker canary shared by the oracle scripts that run `joblib.load`.

`install(out)` writes a module `mg_canary` whose `reached(*args)` creates the file named by
`MG_CANARY_FILE`; `joblib_reaches(path, canary_dir, marker)` loads `path` with the real
`joblib.load` in a fresh interpreter that can import that module, and tells whether the call was
reached (the marker file exists). A load that fails after the call still counts: the call ran.
"""

import os
import subprocess
import sys

CANARY_MODULE = """
import os
def reached(*args):
    open(os.environ["MG_CANARY_FILE"], "w").write("reached")
    return None
"""

JOBLIB_LOADER = r"""
import sys, joblib
sys.path.insert(0, sys.argv[2])
try:
    joblib.load(sys.argv[1])
except Exception as e:
    print("error", type(e).__name__, e, file=sys.stderr)
"""


def install(out):
    """Writes `mg_canary.py` under `out/canary`; returns that directory."""
    canary_dir = os.path.join(out, "canary")
    os.makedirs(canary_dir, exist_ok=True)
    with open(os.path.join(canary_dir, "mg_canary.py"), "w") as f:
        f.write(CANARY_MODULE)
    return canary_dir


def joblib_reaches(path, canary_dir, marker):
    """Runs `joblib.load(path)` in a subprocess (60 s at most); True when the canary ran."""
    env = dict(os.environ, MG_CANARY_FILE=marker)
    subprocess.run(
        [sys.executable, "-c", JOBLIB_LOADER, path, canary_dir],
        env=env,
        capture_output=True,
        timeout=60,
    )
    return os.path.exists(marker)
