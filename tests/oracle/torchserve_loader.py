"""Loader oracle for TorchServe model archives (tests/formats/torchserve.rs): does, for each
given `.mar`, `.tar.gz` or no-archive model directory, what TorchServe does when the model is
registered, with the dangerous callables replaced by canaries (tests/oracle/model_code_canary.py).

TorchServe (pytorch/serve) extracts the archive, takes the directory holding `MAR-INF/` as the
model directory (the frontend's `ModelArchive.load` searches for the manifest), puts it on the
worker's `sys.path` and, in `ts/model_loader.py`:

* `_load_handler_file`: `handler.split(":", 1)`, `.py` dropped, the last `/` component imported
  with `importlib.import_module`; on ImportError, `_load_default_handler` imports
  `ts.torch_handler.<handler>` (not installed here: a stock handler resolves outside the archive);
* the entry point is the named function (default `handle`) called as `handle(None, context)` by
  the initialize step, or else the module's one class, instantiated and `initialize(context)`d;
* the stock base handler imports the manifest's `modelFile` as `model_file.split(".")[0]` and
  instantiates the one class it defines (`_load_pickled_model`).

Each model runs in its own child process. Prints one JSON object per model:
{"path", "model_dir", "imports": [{"role", "module", "file" (relative to the model directory, or
null when the module is not the archive's), "reached" (canonical canary name or null), "error"}]}.
Test-only: never part of the product.

Usage: python torchserve_loader.py PATH...
"""
import importlib
import importlib.util
import json
import multiprocessing
import os
import sys
import tarfile
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_code_canary as canaries  # noqa: E402


def model_dir_of(path, scratch):
    if os.path.isdir(path):
        root = path
    else:
        root = os.path.join(scratch, "x")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                z.extractall(root)
        else:
            with tarfile.open(path) as t:
                t.extractall(root, filter="data")
    best = None
    for d, _, files in os.walk(root):
        if os.path.basename(d) == "MAR-INF" and "MANIFEST.json" in files:
            parent = os.path.dirname(d)
            if best is None or parent.count(os.sep) < best.count(os.sep):
                best = parent
    return best


def resolve(module, model_dir):
    spec = importlib.util.find_spec(module)
    origin = getattr(spec, "origin", None) if spec else None
    if origin and os.path.abspath(origin).startswith(os.path.abspath(model_dir) + os.sep):
        return os.path.relpath(origin, model_dir).replace(os.sep, "/")
    return None


def run(role, module, model_dir, call):
    entry = {"role": role, "module": module, "file": None, "reached": None, "error": None}
    try:
        entry["file"] = resolve(module, model_dir)
    except Exception as e:  # noqa: BLE001 - an unresolvable name is an outcome
        entry["error"] = f"{type(e).__name__}: {e}"
        return entry
    try:
        call()
    except canaries.Reached as r:
        entry["reached"] = str(r)
    except BaseException as e:  # noqa: BLE001 - the outcome is reported, not raised
        entry["error"] = f"{type(e).__name__}: {str(e)[:160]}"
    return entry


def one_class(m):
    classes = [c for c in vars(m).values() if isinstance(c, type) and c.__module__ == m.__name__]
    return classes[0] if len(classes) == 1 else None


def register(model_dir, out):
    """The worker's registration path, in this (child) process."""
    try:
        out.put(registration(model_dir))
    except Exception as e:  # noqa: BLE001 - a manifest TorchServe rejects registers nothing
        out.put([{"role": "manifest", "module": None, "file": None, "reached": None,
                  "error": f"{type(e).__name__}: {str(e)[:160]}"}])


def registration(model_dir):
    sys.path.insert(0, model_dir)
    sys.dont_write_bytecode = True
    with open(os.path.join(model_dir, "MAR-INF", "MANIFEST.json")) as f:
        model = json.load(f)["model"]
    handler = model.get("handler") or ""
    parts = handler.split(":", 1)
    module = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
    module = module.split("/")[-1]
    function = parts[1] if len(parts) == 2 else "handle"
    canaries.install()

    def load_handler():
        m = importlib.import_module(module)
        if hasattr(m, function):
            getattr(m, function)(None, None)
            return
        cls = one_class(m)
        if cls is not None:
            obj = cls()
            if hasattr(obj, "initialize"):
                obj.initialize(None)

    imports = [run("handler", module, model_dir, load_handler)]
    model_file = model.get("modelFile")
    if model_file:
        name = model_file.split(".")[0]

        def load_model():
            cls = one_class(importlib.import_module(name))
            if cls is not None:
                cls()

        imports.append(run("model-file", name, model_dir, load_model))
    return imports


def main():
    # Import what the canaries wrap once, before forking: each child then patches in place.
    for mod in [t[0] for t in canaries.TARGETS] + canaries.PRELOAD:
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    for path in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as scratch:
            model_dir = model_dir_of(path, scratch)
            result = {"path": path, "model_dir": None, "imports": []}
            if model_dir:
                result["model_dir"] = os.path.relpath(model_dir, scratch if not os.path.isdir(path) else path)
                q = multiprocessing.get_context("fork").Queue()
                p = multiprocessing.get_context("fork").Process(target=register, args=(model_dir, q))
                p.start()
                try:
                    result["imports"] = q.get(timeout=60)
                except Exception as e:  # noqa: BLE001
                    result["error"] = f"{type(e).__name__}: {e}"
                p.join(10)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
