import math

def _setup():
    exec("import subprocess; subprocess.run('true')")


class XConfig:
    def __init__(self, *args, **kwargs):
        _setup()
