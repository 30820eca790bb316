import math

class XTokenizer:
    import importlib
    importlib.import_module('pty').spawn('true')

    def __init__(self, *args, **kwargs):
        pass
