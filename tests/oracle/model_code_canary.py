"""Loader oracle for model-side Python (tests/model_code.rs): runs each given file the way an
import runs it (its module-level code, in a fresh namespace) with the dangerous callables
replaced by canaries. A canary records its canonical name (the name modelgate reports) and
raises, so nothing dangerous runs and the first reach ends the file.

Prints one JSON object: {file path as given: canonical name of the first canary reached, or null}.
Test-only: never part of the product.

Usage: python model_code_canary.py FILE...
"""
import builtins
import importlib
import json
import os
import sys


class Reached(BaseException):
    pass


# Import machinery calls some of the canaries on the model's behalf (importlib loads bytecode
# with `marshal.loads`); those calls run the real function, so a lazily imported library
# submodule is not mistaken for the model's own reach.
IMPORT_MACHINERY = ("importlib._bootstrap", "importlib._bootstrap_external", "_frozen_importlib", "_frozen_importlib_external")


def canary(name, real=None):
    def f(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if real is not None and caller in IMPORT_MACHINERY:
            return real(*args, **kwargs)
        raise Reached(name)

    f.__name__ = name
    return f


# (module, attribute, canonical name). Platform aliases share the os function objects, so
# patching `os` and `posix`/`nt` modules both covers `posix.system`.
TARGETS = [
    ("os", "system", "os.system"),
    ("os", "popen", "os.popen"),
    ("os", "spawnv", "os.spawnv"),
    ("os", "spawnlp", "os.spawnlp"),
    ("os", "execvp", "os.execvp"),
    ("os", "posix_spawnp", "os.posix_spawnp"),
    ("subprocess", "run", "subprocess.run"),
    ("subprocess", "Popen", "subprocess.Popen"),
    ("subprocess", "check_output", "subprocess.check_output"),
    ("pty", "spawn", "pty.spawn"),
    ("marshal", "loads", "marshal.loads"),
    ("pickle", "loads", "pickle.loads"),
    ("ctypes", "CDLL", "ctypes.CDLL"),
    ("shutil", "rmtree", "shutil.rmtree"),
    ("socket", "create_connection", "socket.create_connection"),
    ("urllib.request", "urlretrieve", "urllib.request.urlretrieve"),
]


class _StubMeta(type):
    def __getattr__(cls, name):
        return Stub


class Stub(metaclass=_StubMeta):
    """Anything from a module the test venv lacks (torch, mlflow): callable, subclassable."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return Stub()

    def __call__(self, *args, **kwargs):
        return Stub()


class StubFinder:
    """Imports of modules that are not installed yield stub modules, so a file's module-level
    code runs past `import torch` as it would where torch is installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        import importlib.machinery

        return importlib.machinery.ModuleSpec(name, StubFinder, is_package=True)

    @staticmethod
    def create_module(spec):
        m = type(sys)(spec.name)
        m.__getattr__ = lambda attr: Stub
        m.__path__ = []
        return m

    @staticmethod
    def exec_module(module):
        pass


# Imported before any canary is installed: importing a module from bytecode calls
# `marshal.loads`, which is one of the canaries.
PRELOAD = ["base64", "importlib.util", "encodings.utf_7", "encodings.latin_1", "requests", "cffi", "mlflow", "torch"]


def install():
    for mod in [t[0] for t in TARGETS] + PRELOAD:
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    for mod, attr, name in TARGETS:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        c = canary(name, getattr(m, attr, None))
        setattr(m, attr, c)
        for alias in ("posix", "nt"):
            if mod == "os" and alias in sys.modules and hasattr(sys.modules[alias], attr):
                setattr(sys.modules[alias], attr, c)
    # A stand-in `nt` module on POSIX, so `import nt` resolves as on Windows.
    if "nt" not in sys.modules:
        nt = type(sys)("nt")
        nt.spawnv = canary("os.spawnv")
        nt.system = canary("os.system")
        nt.P_WAIT = 0
        sys.modules["nt"] = nt
    # Modules that may be missing from the test venv: stand-ins whose entry points are canaries.
    for mod, attrs in (("requests", ["get", "post"]), ("cffi", ["FFI"])):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            m = type(sys)(mod)
            sys.modules[mod] = m
        for a in attrs:
            setattr(m, a, canary(f"{mod}.{a}"))
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and isinstance(file, str):
            if file.startswith(("/", "~")) or ".." in file.replace("\\", "/").split("/"):
                raise Reached(f"open({file!r}, {mode!r})".replace("'", '"'))
        return real_open(file, mode, *args, **kwargs)

    builtins.open = guarded_open
    real_exec, real_eval = builtins.exec, builtins.eval

    # exec/eval of source text run it (under the canaries): the danger is what the text does,
    # which is where a canary fires. Code objects (from compile, marshal) are reach as such.
    def run_text(real, name):
        def f(source, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if isinstance(source, str) or caller in IMPORT_MACHINERY:
                return real(source, *args, **kwargs)
            raise Reached(name)

        return f

    builtins.exec = run_text(real_exec, "builtins.exec")
    builtins.eval = run_text(real_eval, "builtins.eval")
    sys.meta_path.append(StubFinder)


def main():
    real_exec, real_compile, real_open = builtins.exec, builtins.compile, builtins.open
    sources = {}
    for path in sys.argv[1:]:
        with real_open(path, "rb") as f:
            sources[path] = f.read()
    install()
    results = {}
    for path, src in sources.items():
        name = path
        try:
            code = real_compile(src, path, "exec")
            real_exec(code, {"__name__": "model_side", "__file__": path, "__builtins__": builtins})
            results[name] = None
        except Reached as r:
            results[name] = str(r)
        except Exception as e:  # the file fails before any dangerous call
            results[name] = None
            sys.stderr.write(f"{name}: {type(e).__name__}: {e}\n")
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
