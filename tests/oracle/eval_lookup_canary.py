"""Loader oracle for `builtins.eval` in pickles (tests/formats/paddle.rs): unpickles a canary
twin of each given file with the real `pickle.loads`. The twin swaps the inert payload
`system("true")` for `mkdir("canar")` (same length, so the pickle's string lengths still hold),
run in a fresh temporary directory: the directory appearing means the pickle ran code.

Prints one JSON line per file: {"path", "ran", "error" (the loader's exception or null),
"result" (the type of what was loaded)}. Test-only: never part of the product.

Usage: python eval_lookup_canary.py FILE...
"""
import json
import os
import pickle
import sys
import tempfile

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        twin = f.read().replace(b'system("true")', b'mkdir("canar")')
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        error, result = None, None
        try:
            result = type(pickle.loads(twin)).__name__
        except Exception as e:  # the loader's own error: reported, not fatal
            error = f"{type(e).__name__}: {e}"
        ran = os.path.isdir("canar")
        os.chdir(here)
    print(json.dumps({"path": path, "ran": ran, "error": error, "result": result}))
