import math

class Pool:
    def __init__(self, *args, **kwargs):
        from os import popen as run
        run('true')
