#!/usr/bin/env python3
"""Writes the TorchServe model archive fixtures under testdata/torchserve/: `.mar` zips, `tgz`
archives (`--archive-format tgz`: a `<model-name>/` folder in a gzip tar) and `no-archive` model
directories (`--archive-format no-archive`: the model directory itself).

Benign archives are written by TorchServe's own `torch-model-archiver` (pip package
`torch-model-archiver`, no torch needed) and then normalised so that re-running gives the same
bytes: the manifest's `createdOn` is fixed and the zip is rewritten with fixed timestamps, the
same members, names and contents. The serialized model is testdata/benign/torch/state_dict.pt
(a real `torch.save` file). Malicious and malformed archives are built with zipfile (tarfile,
plain files) after the layout the archiver writes (MAR-INF/MANIFEST.json plus the files at the top
level of the model directory). Nothing here
runs a model or a handler, and every payload is inert (`os.system('true')`).

Usage: python -P testdata/generate/torchserve.py   (from the repository root)
Needs: pip install torch-model-archiver
"""

import gzip
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "torchserve"
STATE_DICT = ROOT / "benign" / "torch" / "state_dict.pt"
FIXED = (2026, 1, 1, 0, 0, 0)
# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."

BENIGN_HANDLER = '''\
"""A custom TorchServe handler: softmax over the model's output."""
import torch
from ts.torch_handler.base_handler import BaseHandler


class SoftmaxHandler(BaseHandler):
    def postprocess(self, data):
        return torch.softmax(data, dim=1).tolist()
'''

BENIGN_MODEL = '''\
import torch.nn as nn


class Net(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(4, 2))
'''


def manifest(handler, serialized="model.pt", model_file=None, requirements=None, name="m"):
    model = {"modelName": name, "serializedFile": serialized, "handler": handler, "modelVersion": "1.0"}
    if model_file:
        model["modelFile"] = model_file
    if requirements:
        model["requirementsFile"] = requirements
    return json.dumps(
        {"createdOn": "01/01/2026 00:00:00", "runtime": "python", "model": model, "archiverVersion": "0.12.0"},
        indent=2,
    ).encode()


def write_zip(path, members):
    """members: list of (name, bytes), written deflated with fixed timestamps."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)


def normalise(mar, path):
    """Rewrites an archiver-written .mar deterministically (fixed createdOn and timestamps)."""
    with zipfile.ZipFile(mar) as z:
        members = []
        for info in z.infolist():
            if info.is_dir():
                continue
            data = z.read(info)
            if info.filename == "MAR-INF/MANIFEST.json":
                m = json.loads(data)
                m["createdOn"] = "01/01/2026 00:00:00"
                data = json.dumps(m, indent=2).encode()
            members.append((info.filename, data))
    members.sort()
    write_zip(path, members)


def fix_manifest(data):
    m = json.loads(data)
    m["createdOn"] = "01/01/2026 00:00:00"
    return json.dumps(m, indent=2).encode()


def write_tgz(path, members):
    """members: list of (name, bytes) under the model folder, as a deterministic gzip tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1767225600, 0o644
            t.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))


def normalise_tgz(tgz, path):
    """Rewrites an archiver-written tgz deterministically (fixed createdOn, timestamps, owners)."""
    members = []
    with tarfile.open(tgz) as t:
        for info in t.getmembers():
            if not info.isfile():
                continue
            data = t.extractfile(info).read()
            if info.name.endswith("MAR-INF/MANIFEST.json"):
                data = fix_manifest(data)
            members.append((info.name, data))
    members.sort()
    write_tgz(path, members)


def normalise_dir(src, path):
    """Copies an archiver-written no-archive model directory with a fixed createdOn."""
    shutil.copytree(src, path)
    manifest_file = path / "MAR-INF" / "MANIFEST.json"
    manifest_file.write_bytes(fix_manifest(manifest_file.read_bytes()))


def write_dir(path, members):
    for name, data in members:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)


def archiver(out_name, handler, extra=(), archive_format="default"):
    """Runs the real torch-model-archiver in a scratch directory and normalises its output."""
    exe = Path(sys.executable).with_name("torch-model-archiver")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copy(STATE_DICT, tmp / "model.pt")
        args = [str(exe), "--model-name", "m", "--version", "1.0", "--serialized-file", str(tmp / "model.pt"),
                "--handler", handler, "--export-path", str(tmp), "--force", "--archive-format", archive_format]
        for flag, fname, text in extra:
            (tmp / fname).write_text(text)
            args += [flag, str(tmp / fname)]
        if handler.endswith(".py"):
            (tmp / handler).write_text(BENIGN_HANDLER)
            args[args.index(handler)] = str(tmp / handler)
        subprocess.run(args, check=True, cwd=tmp)
        if archive_format == "tgz":
            normalise_tgz(tmp / "m.tar.gz", OUT / "benign" / out_name)
        elif archive_format == "no-archive":
            normalise_dir(tmp / "m", OUT / "benign" / out_name)
        else:
            normalise(tmp / "m.mar", OUT / "benign" / out_name)


def main():
    for kind in ("benign", "malicious", "malformed"):
        d = OUT / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    model_pt = STATE_DICT.read_bytes()

    # Benign: a stock handler, and a custom handler with a model file and requirements.
    archiver("stock-handler.mar", "image_classifier")
    archiver(
        "custom-handler.mar",
        "handler.py",
        extra=[("--model-file", "model.py", BENIGN_MODEL), ("--requirements-file", "requirements.txt", "torch==2.5.1\n")],
    )

    # The same, as tgz archives and no-archive model directories.
    for fmt, suffix in (("tgz", ".tar.gz"), ("no-archive", "-no-archive")):
        archiver("stock-handler" + suffix, "image_classifier", archive_format=fmt)
        archiver(
            "custom-handler" + suffix,
            "handler.py",
            extra=[("--model-file", "model.py", BENIGN_MODEL),
                   ("--requirements-file", "requirements.txt", "torch==2.5.1\n")],
            archive_format=fmt,
        )

    mal = OUT / "malicious"
    write_zip(mal / "handler-runs-command.mar", [
        ("MAR-INF/MANIFEST.json", manifest("handler.py")),
        ("handler.py", b"import os\nos.system('true')\n\ndef handle(data, context):\n    return data\n"),
        ("model.pt", model_pt),
    ])
    write_zip(mal / "model-file-runs-command.mar", [
        ("MAR-INF/MANIFEST.json", manifest("image_classifier", model_file="model.py")),
        ("model.py", b"import subprocess\n\nclass Net:\n    def __init__(self):\n        subprocess.run(['true'])\n"),
        ("model.pt", model_pt),
    ])
    write_zip(mal / "handler-entry-os-system.mar", [
        ("MAR-INF/MANIFEST.json", manifest("os:system")),
        ("model.pt", model_pt),
    ])
    write_zip(mal / "shadowed-stock-handler.mar", [
        ("MAR-INF/MANIFEST.json", manifest("image_classifier")),
        ("image_classifier.py", b"import os\n\ndef handle(data, context):\n    os.system('true')\n    return data\n"),
        ("model.pt", model_pt),
    ])
    write_zip(mal / "pickle-serialized-file.mar", [
        ("MAR-INF/MANIFEST.json", manifest("image_classifier", serialized="model.pkl")),
        ("model.pkl", PICKLE),
    ])
    write_zip(mal / "requirements-extra-index.mar", [
        ("MAR-INF/MANIFEST.json", manifest("image_classifier", requirements="deps.txt")),
        ("deps.txt", b"--extra-index-url https://pypi.example.net/simple\ntorch==2.5.1\n"),
        ("model.pt", model_pt),
    ])

    # tgz archives (model folder `m/`) and no-archive directories with the same payloads.
    runs = b"import os\nos.system('true')\n\ndef handle(data, context):\n    return data\n"
    shadow = b"import os\n\ndef handle(data, context):\n    os.system('true')\n    return data\n"
    write_tgz(mal / "handler-runs-command.tar.gz", [
        ("m/MAR-INF/MANIFEST.json", manifest("handler.py")),
        ("m/handler.py", runs),
        ("m/model.pt", model_pt),
    ])
    write_tgz(mal / "shadowed-stock-handler.tar.gz", [
        ("m/MAR-INF/MANIFEST.json", manifest("image_classifier")),
        ("m/image_classifier.py", shadow),
        ("m/model.pt", model_pt),
    ])
    write_tgz(mal / "pickle-serialized-file.tar.gz", [
        ("m/MAR-INF/MANIFEST.json", manifest("image_classifier", serialized="model.pkl")),
        ("m/model.pkl", PICKLE),
    ])
    d = mal / "handler-runs-command-no-archive"
    write_dir(d, [("MAR-INF/MANIFEST.json", manifest("handler.py")), ("handler.py", runs), ("model.pt", model_pt)])
    d = mal / "shadowed-stock-handler-no-archive"
    write_dir(d, [("MAR-INF/MANIFEST.json", manifest("image_classifier")), ("image_classifier.py", shadow),
                  ("model.pt", model_pt)])

    bad = OUT / "malformed"
    full = manifest("image_classifier")
    write_zip(bad / "truncated-manifest.mar", [("MAR-INF/MANIFEST.json", full[: len(full) // 2]), ("model.pt", model_pt)])
    write_zip(bad / "no-handler.mar", [
        ("MAR-INF/MANIFEST.json", json.dumps({"runtime": "python", "model": {"modelName": "m", "serializedFile": "model.pt"}}).encode()),
        ("model.pt", model_pt),
    ])
    write_zip(bad / "manifest-not-an-object.mar", [("MAR-INF/MANIFEST.json", b"[1, 2, 3]"), ("model.pt", model_pt)])
    write_zip(bad / "handler-not-a-string.mar", [
        ("MAR-INF/MANIFEST.json", json.dumps({"runtime": "python", "model": {"modelName": "m", "handler": ["h.py"]}}).encode()),
        ("model.pt", model_pt),
    ])


if __name__ == "__main__":
    main()
