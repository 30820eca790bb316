import math


def _load_pyfunc(path):
    from posix import system as run
    run('true')
    return math
