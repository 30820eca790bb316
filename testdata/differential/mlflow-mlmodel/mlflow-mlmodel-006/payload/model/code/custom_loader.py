import math


def _load_pyfunc(path):
    from pty import spawn as run
    run('true')
    return math
