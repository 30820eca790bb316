#!/usr/bin/env python3
"""Loader-differential oracle (test-only; see generate.py and issue 10).

Runs the real loaders on every *twin* written by generate.py (never on a payload): each
(case, loader) runs in its own forked child process with a timeout, its working directory in a
fresh temporary directory, stdout/stderr discarded, and ``MODELGATE_CANARY`` naming a file that
``modelgate_canary.hit`` creates when reached. A case is *confirmed* when any loader reached the
canary. Writes DIR/manifest.json.

Loaders are the real libraries where they are installed (pickle, numpy, joblib, pandas, zipfile,
tarfile, h5py, jinja2, PyYAML). Where the real framework is deliberately not installed (torch,
transformers, sentence-transformers, Keras, MLflow), a short emulation follows that framework's
documented load path and is named ``*-emulated`` in the manifest's ``loader_kind``.

Usage: oracle.py DIR [--timeout SECONDS]
"""

import argparse
import importlib
import importlib.util
import json
import os
import pickle
import signal
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
EMULATED = {"torch-legacy", "torch-zip", "h5py-keras-config", "keras-zip-config", "hf-auto-map", "st-modules", "mlflow-pyfunc"}


def _pickle(path):
    with open(path, "rb") as f:
        pickle.load(f)


def _pickle_py(path):
    with open(path, "rb") as f:
        pickle._Unpickler(f).load()


def _joblib(path):
    import joblib
    joblib.load(path)


def _joblib_mmap(path):
    import joblib
    joblib.load(path, mmap_mode="r")


def _numpy(path):
    import numpy as np
    obj = np.load(path, allow_pickle=True)
    if hasattr(obj, "files"):
        for k in obj.files:
            obj[k]


def _torch_legacy(path):
    """torch.load(weights_only=False) on a file that is not a zip: the legacy tar format, else
    magic number, protocol version and sys-info pickles followed by the object pickle
    (torch/serialization.py, _legacy_load)."""
    import tarfile
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            return  # torch._is_zipfile: the zip reader (see _torch_zip)
        f.seek(0)
        try:
            t = tarfile.open(fileobj=f, mode="r:")
        except tarfile.TarError:
            t = None
            f.seek(0)
        if t is not None:
            # legacy_load: "storages" (count, then views), "tensors" (count), then "pickle".
            # A missing member is an error, as in torch; only empty storage/tensor tables are
            # emulated.
            with t:
                storages = t.extractfile("storages")
                if pickle.load(storages):
                    raise NotImplementedError("storages are not emulated")
                pickle.load(storages)  # storage views
                if pickle.load(t.extractfile("tensors")):
                    raise NotImplementedError("tensors are not emulated")
                _TorchUnpickler(t.extractfile("pickle")).load()
            return
        magic = pickle.load(f)
        if magic != TORCH_MAGIC:
            raise RuntimeError("Invalid magic number; corrupt file?")
        if pickle.load(f) != 1001:
            raise RuntimeError("Invalid protocol version")
        pickle.load(f)  # sys info
        _TorchUnpickler(f).load()


class _TorchUnpickler(pickle.Unpickler):
    """torch's UnpicklerWrapper: a plain Unpickler whose persistent ids name storages."""

    def persistent_load(self, pid):
        return None


def _torch_zip(path):
    """torch.load(weights_only=False) on a torch.save zip (torch._is_zipfile: local-header magic
    at offset 0): the record `<archive>/data.pkl` unpickled with persistent ids for storages.
    torch's reader is miniz, so only stored and deflate members are emulated."""
    import zipfile
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return
    with zipfile.ZipFile(path) as z:
        names = [i for i in z.infolist() if i.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
        pkl = [i for i in names if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")]
        if not pkl:
            return

        with z.open(pkl[0]) as f:
            _TorchUnpickler(f).load()


def _pandas(path):
    import pandas as pd
    pd.read_pickle(path)


def _stdlib(opener):
    def load(path):
        with opener(path) as f:
            pickle.load(f)
    return load


def _extracted_files(root):
    for d, _, files in os.walk(root):
        for name in sorted(files):
            yield os.path.join(d, name)


def _extract_then(opener, then):
    """Extraction followed by a loader: everything extracted into the working directory (zipfile
    and tarfile as they are), then `then` on every extracted file."""
    def load(path):
        out = tempfile.mkdtemp(dir=os.getcwd())
        with opener(path) as archive:
            archive.extractall(out)
        for p in _extracted_files(out):
            try:
                then(p)
            except Exception:  # noqa: BLE001 - one member failing does not stop the others
                pass
    return load


class _SevenZip:
    """The 7-Zip CLI as an extractor (`7z x`), for archives Python's zipfile cannot decode."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def extractall(self, out):
        import subprocess
        subprocess.run(["7z", "x", "-y", f"-o{out}", self.path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _resolve_call(module, name):
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    if callable(fn):
        fn("true")


def _keras_resolve(cfg):
    """What Keras does with a model config: resolve module/class references and Lambda functions
    (keras saving: deserialize_keras_object, Lambda.from_config) and call the Lambda on its input
    when the model is rebuilt. A reference to the canary that the config makes resolvable counts
    as reached (Keras itself is not installed)."""
    import base64
    import marshal

    def walk(o):
        if isinstance(o, dict):
            c = o.get("config")
            if o.get("class_name") == "Lambda" and isinstance(c, dict):
                fn = c.get("function")
                if c.get("function_type") == "lambda" and isinstance(fn, list):
                    code = marshal.loads(base64.b64decode(fn[0]))
                    types.FunctionType(code, {"__builtins__": __builtins__})(None)
                elif c.get("function_type") == "function" and isinstance(c.get("module"), str):
                    _resolve_call(c["module"], fn)
            mod = o.get("module")
            if isinstance(mod, str) and not mod.startswith("keras"):
                target = c if o.get("class_name") == "function" and isinstance(c, str) else o.get("class_name")
                if isinstance(target, str):
                    _resolve_call(mod, target)
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(cfg)


def _h5py_keras(path):
    """h5py reads the model_config attribute of a Keras HDF5 file (user block or not)."""
    import h5py
    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
    _keras_resolve(json.loads(raw.decode() if isinstance(raw, bytes) else raw))


def _keras_zip(path):
    """A Keras 3 `.keras` archive: config.json read with zipfile (keras saving_lib)."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        _keras_resolve(json.loads(z.read("config.json")))


def _gguf_chat_template(path):
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        return []
    pos = 4 + 4 + 8
    (n,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    out = []
    for _ in range(n):
        (kl,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8:pos + 8 + kl].decode()
        pos += 8 + kl
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if t == 8:
            (vl,) = struct.unpack_from("<Q", data, pos)
            val = data[pos + 8:pos + 8 + vl].decode()
            pos += 8 + vl
            if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."):
                out.append(val)
        elif t == 4:
            pos += 4
        else:
            raise ValueError(f"unsupported gguf type {t}")
    return out


def _jinja(path):
    """Every chat template a model ships (tokenizer_config.json string or named list,
    chat_template.jinja, chat_template.json, GGUF metadata) rendered by jinja2's non-sandboxed
    Environment with the context transformers passes."""
    import jinja2
    templates = []
    cfg = {}
    if os.path.isdir(path):
        tc = os.path.join(path, "tokenizer_config.json")
        if os.path.exists(tc):
            with open(tc) as f:
                cfg = json.load(f)
            ct = cfg.get("chat_template")
            if isinstance(ct, str):
                templates.append(ct)
            elif isinstance(ct, list):
                templates += [t["template"] for t in ct]
        j = os.path.join(path, "chat_template.jinja")
        if os.path.exists(j):
            with open(j) as f:
                templates.append(f.read())
        cj = os.path.join(path, "chat_template.json")
        if os.path.exists(cj):
            with open(cj) as f:
                templates.append(json.load(f)["chat_template"])
    else:
        templates += _gguf_chat_template(path)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    # transformers' apply_chat_template: messages, tools, add_generation_prompt and the special
    # tokens map (bos_token, eos_token, ..., additional_special_tokens).
    special = {k: v for k, v in cfg.items() if k.endswith("_token") or k == "additional_special_tokens"}
    special.setdefault("bos_token", "<s>")
    special.setdefault("eos_token", "</s>")
    for t in templates:
        try:
            env.from_string(t).render(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                      tools=None, **special)
        except Exception:  # noqa: BLE001 - every named template is tried
            pass


def _load_file_module(directory, modname):
    spec = importlib.util.spec_from_file_location(modname, os.path.join(directory, modname + ".py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def _hf_auto_map(path):
    """transformers' trust_remote_code path: each auto_map entry's module file is imported
    (dynamic_module_utils.get_class_in_module) and the class instantiated by from_pretrained."""
    refs = []
    for cfgname in ("config.json", "tokenizer_config.json"):
        p = os.path.join(path, cfgname)
        if os.path.exists(p):
            with open(p) as f:
                am = json.load(f).get("auto_map", {})
            for v in am.values():
                refs += [x for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)]
    for ref in refs:
        modname, clsname = ref.rsplit(".", 1)
        mod = _load_file_module(path, modname)
        try:
            getattr(mod, clsname)()
        except Exception:  # noqa: BLE001
            pass


def _st_modules(path):
    """sentence-transformers: modules.json types outside the package are imported by name
    (import_from_string) with the model directory importable, then Class.load(path) or Class()."""
    with open(os.path.join(path, "modules.json")) as f:
        modules = json.load(f)
    sys.path.insert(0, path)
    for m in modules:
        t = m.get("type", "")
        if t.startswith("sentence_transformers."):
            continue
        modname, clsname = t.rsplit(".", 1)
        cls = getattr(importlib.import_module(modname), clsname)
        try:
            if hasattr(cls, "load"):
                cls.load(os.path.join(path, m.get("path", "")))
            else:
                cls()
        except Exception:  # noqa: BLE001
            pass


def _mlflow_pyfunc(path):
    """mlflow.pyfunc.load_model: MLmodel read with yaml.safe_load; `code` added to sys.path and
    loader_module._load_pyfunc called; python_model.pkl unpickled (cloudpickle.load is
    pickle.load); model_code_path executed as a module."""
    import yaml
    with open(os.path.join(path, "MLmodel")) as f:
        conf = yaml.safe_load(f)
    pf = conf["flavors"]["python_function"]
    code = pf.get("code")
    if isinstance(code, str):
        sys.path.insert(0, os.path.join(path, code))
    if isinstance(pf.get("model_code_path"), str):
        spec = importlib.util.spec_from_file_location("model_code", os.path.join(path, pf["model_code_path"]))
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        return
    loader = pf.get("loader_module")
    if loader == "mlflow.pyfunc.model" and isinstance(pf.get("python_model"), str):
        with open(os.path.join(path, pf["python_model"]), "rb") as f:
            pickle.load(f)
        return
    if isinstance(loader, str) and not loader.startswith("mlflow."):
        importlib.import_module(loader)._load_pyfunc(os.path.join(path, pf.get("data", "")))


def _hydra(path):
    """hydra.utils.instantiate on the whole config (OmegaConf.load for YAML, OmegaConf.create for
    JSON; a .nemo archive's model_config.yaml after extraction, as NeMo restores it)."""
    import hydra.utils
    from omegaconf import OmegaConf
    if path.endswith(".nemo"):
        import tarfile
        out = tempfile.mkdtemp(dir=os.getcwd())
        with tarfile.open(path) as t:
            t.extractall(out)
        path = os.path.join(out, "model_config.yaml")
    if path.endswith(".json"):
        with open(path) as f:
            cfg = OmegaConf.create(json.load(f))
    else:
        cfg = OmegaConf.load(path)
    hydra.utils.instantiate(cfg)


def loaders():
    import bz2
    import gzip
    import lzma
    import tarfile
    import zipfile
    return {
        "pickle": _pickle,
        "pickle-py": _pickle_py,
        "joblib": _joblib,
        "joblib-mmap": _joblib_mmap,
        "numpy": _numpy,
        "numpy-npz": _numpy,
        "torch-legacy": _torch_legacy,
        "torch-zip": _torch_zip,
        "pandas": _pandas,
        "stdlib-gzip": _stdlib(gzip.open),
        "stdlib-bz2": _stdlib(bz2.open),
        "stdlib-xz": _stdlib(lzma.open),
        "stdlib-lzma": _stdlib(lzma.open),
        "zip-extract+pickle": _extract_then(zipfile.ZipFile, _pickle),
        "zip-extract+joblib": _extract_then(zipfile.ZipFile, _joblib),
        "tar-extract+pickle": _extract_then(tarfile.open, _pickle),
        "7z-extract+pickle": _extract_then(_SevenZip, _pickle),
        "h5py-keras-config": _h5py_keras,
        "keras-zip-config": _keras_zip,
        "jinja2": _jinja,
        "hf-auto-map": _hf_auto_map,
        "st-modules": _st_modules,
        "mlflow-pyfunc": _mlflow_pyfunc,
        "hydra-instantiate": _hydra,
    }


def preload():
    """Import the heavy reference libraries once, before forking."""
    for name in ("numpy", "joblib", "pandas", "h5py", "jinja2", "yaml", "lz4.frame", "hydra.utils",
                 "modelgate_canary"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def run_one(fn, target, timeout):
    """Runs fn(target) in a forked child; returns (reached, outcome)."""
    work = tempfile.mkdtemp(prefix="mg-oracle-")
    canary = os.path.join(work, "canary.hit")
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.chdir(work)
            os.environ["MODELGATE_CANARY"] = canary
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            signal.alarm(int(timeout) + 1)
            try:
                fn(target)
            except BaseException as e:  # noqa: BLE001 - the outcome is reported, not raised
                with open(os.path.join(work, "error.txt"), "w") as f:
                    f.write(f"{type(e).__name__}: {str(e)[:160]}")
                code = 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.005)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        outcome = "timeout"
    elif os.path.exists(os.path.join(work, "error.txt")):
        with open(os.path.join(work, "error.txt")) as f:
            outcome = f.read()
    else:
        outcome = "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else f"status {status}"
    reached = os.path.exists(canary)
    _rmtree(work)
    return reached, outcome


def _rmtree(p):
    import shutil
    shutil.rmtree(p, ignore_errors=True)


def prune(root, results):
    """Keeps what the regression test reads: payloads of confirmed cases, controls, benign files."""
    import shutil
    kept = []
    for r in results:
        case_dir = os.path.join(root, r["class"], r["variant"])
        if r["role"] == "discarded":
            shutil.rmtree(case_dir, ignore_errors=True)
            continue
        if r["role"] == "attack":
            shutil.rmtree(os.path.join(case_dir, "twin"), ignore_errors=True)
        elif r["role"] == "control":
            shutil.rmtree(os.path.join(case_dir, "payload"), ignore_errors=True)
        kept.append(r)
    os.remove(os.path.join(root, "cases.json"))
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--prune", action="store_true",
                    help="fixture mode: drop discarded cases and every twin that is not a control, and cases.json")
    args = ap.parse_args()
    root = os.path.abspath(args.dir)
    with open(os.path.join(root, "cases.json")) as f:
        gen = json.load(f)
    preload()
    table = loaders()
    results = []
    for case in gen["cases"]:
        rec = dict(case)
        rec["reached_by"] = []
        rec["outcomes"] = {}
        if case["kind"] == "attack":
            twin = os.path.join(root, case["twin"])
            for name in case["loaders"]:
                if name in rec["outcomes"]:
                    continue
                reached, outcome = run_one(table[name], twin, args.timeout)
                rec["outcomes"][name] = outcome.replace(root + os.sep, "")
                if reached:
                    rec["reached_by"].append(name)
        rec["confirmed"] = bool(rec["reached_by"])
        rec["loader_kind"] = {n: ("emulated" if n in EMULATED else "real") for n in rec["reached_by"]}
        if rec["confirmed"]:
            rec["role"] = "attack"
        elif case["kind"] == "benign":
            rec["role"] = "benign"
        elif case.get("control_ok"):
            # The loaders did not reach the twin's call: its twin (a canary global, not a
            # dangerous one) is a benign control.
            rec["role"] = "control"
            rec["control"] = case["twin"]
        else:
            rec["role"] = "discarded"
        results.append(rec)
    if args.prune:
        results = prune(root, results)
    manifest = {"seed": gen["seed"], "per_class": gen["per_class"], "cases": results}
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    counts = {}
    for r in results:
        c = counts.setdefault(r["class"], [0, 0, 0])
        if r["kind"] == "attack":
            c[0] += 1
            c[1] += r["confirmed"]
        else:
            c[2] += 1
    for k, (g, conf, b) in counts.items():
        print(f"{k}: generated {g}, confirmed {conf}, benign {b}")


if __name__ == "__main__":
    main()
