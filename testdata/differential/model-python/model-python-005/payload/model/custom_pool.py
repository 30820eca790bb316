import math

class Pool:
    def __init__(self, *args, **kwargs):
        import importlib
        importlib.import_module('subprocess').getstatusoutput('true')
