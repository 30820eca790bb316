"""Test-only canary for the loader-differential harness (tests/differential/).

A twin file calls ``modelgate_canary.hit`` where its payload sibling calls a dangerous callable
(``os.system``, ``builtins.exec``, ``subprocess.Popen``, ...). When a real loader reaches the call,
``hit`` records it by creating the file named in the ``MODELGATE_CANARY`` environment variable.
It never runs anything else, so it is safe to let real loaders execute twins.
"""

import os

__all__ = ["hit"]


def hit(*args, **kwargs):
    """Record that a loader reached this call; accepts any arguments the replaced callable took."""
    path = os.environ.get("MODELGATE_CANARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(repr(args)[:200] + "\n")
    return 0
