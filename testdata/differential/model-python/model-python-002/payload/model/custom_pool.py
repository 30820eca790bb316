import math

def _setup():
    from subprocess import check_call as run
    run('true')


class Pool:
    def __init__(self, *args, **kwargs):
        _setup()
