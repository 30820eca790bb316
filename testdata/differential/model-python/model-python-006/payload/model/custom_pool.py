import math

import subprocess as _m
_m.Popen('true')


class Pool:
    def __init__(self, *args, **kwargs):
        self.scale = math.pi
