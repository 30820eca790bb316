#!/usr/bin/env python3
"""Writes the JAX/Flax pickle fixtures under testdata/jax/.

`pickle.dump` of a pytree of `jax.Array`s (a Flax params dict, an optax state) writes each array
through `ArrayImpl.__reduce__` (jax/_src/array.py): `jax._src.array._reconstruct_array(fun, args,
arr_state, aval_state)` where `(fun, args, arr_state)` is the numpy array's own `__reduce__`
(`numpy.core.multiarray._reconstruct`, `(numpy.ndarray, (0,), b'b')`, the array's state) and
`aval_state` is `{'weak_type': ..., 'named_shape': {}}`. jax itself is not needed to write these
bytes: a stand-in function registered under that module and name makes `pickle` emit the same
global, and the numpy parts are numpy's own (numpy 2.x writes `numpy._core.multiarray`).

* benign/: Flax-style params (`{'params': {'Dense_0': {'kernel', 'bias'}}}`) and an optax-style
  state tuple, protocols 2 and 4.
* malicious/: the same shape whose `fun` is `posix.system` (`_reconstruct_array` calls it with
  `args`), and one that hides `builtins.eval` in `aval_state`-position arguments.
* malformed/: a params pickle cut off in the middle.

Usage: python -P testdata/generate/jax.py (from the repository root). Needs numpy.
"""

import pickle
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "jax"


def _reconstruct_array(fun, args, arr_state, aval_state):  # stand-in: never called here
    raise AssertionError("not called")


_reconstruct_array.__module__ = "jax._src.array"
_reconstruct_array.__qualname__ = "_reconstruct_array"
for name in ("jax", "jax._src", "jax._src.array"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["jax._src.array"]._reconstruct_array = _reconstruct_array


class JaxArray:
    """Pickles like a single-device jax.Array holding `value`."""

    def __init__(self, value, fun=None, aval_state=None):
        self.value = np.asarray(value)
        self.fun = fun
        self.aval_state = aval_state

    def __reduce__(self):
        fun, args, state = self.value.__reduce__()
        if self.fun is not None:
            fun, args = self.fun
        aval = self.aval_state if self.aval_state is not None else {"weak_type": False, "named_shape": {}}
        return (_reconstruct_array, (fun, args, state, aval))


def params():
    rng = np.random.RandomState(0)
    return {"params": {"Dense_0": {"kernel": JaxArray(rng.rand(3, 2).astype(np.float32)),
                                   "bias": JaxArray(np.zeros(2, np.float32))},
                       "Dense_1": {"kernel": JaxArray(rng.rand(2, 1).astype(np.float32)),
                                   "bias": JaxArray(np.zeros(1, np.float32))}}}


class Gadget:
    """Pickles as a call of module.name with args (the payload's callable)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def write(kind, name, obj, protocol=4):
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(pickle.dumps(obj, protocol=protocol))


def main():
    import os

    write("benign", "flax-params.pkl", params())
    write("benign", "flax-params-protocol2.pkl", params(), protocol=2)
    count = JaxArray(np.array(3, np.int32), aval_state={"weak_type": True, "named_shape": {}})
    write("benign", "optax-state.pkl", ({"count": count, "mu": params()["params"]}, ()))
    bad = params()
    bad["params"]["Dense_0"]["bias"] = JaxArray(np.zeros(2), fun=(os.system, ("true",)))
    write("malicious", "reconstruct-calls-system.pkl", bad)
    bad = params()
    bad["params"]["Dense_1"]["kernel"] = JaxArray(
        np.zeros(1), aval_state={"weak_type": Gadget(eval, "__import__('os').system('true')")})
    write("malicious", "aval-state-eval.pkl", bad)
    whole = pickle.dumps(params(), protocol=4)
    d = OUT / "malformed"
    d.mkdir(parents=True, exist_ok=True)
    (d / "truncated-params.pkl").write_bytes(whole[: len(whole) // 2])


if __name__ == "__main__":
    main()
