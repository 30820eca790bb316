import math


def _load_pyfunc(path):
    import sys
    sys.modules['os'].posix_spawnp('true')
    return math
