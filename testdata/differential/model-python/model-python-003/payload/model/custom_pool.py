import math

class Pool:
    exec("import os; os.posix_spawnp('true')")

    def __init__(self, *args, **kwargs):
        pass
