import math

class Pool:
    def __init__(self, *args, **kwargs):
        import os as _m
        _m.popen('true')
