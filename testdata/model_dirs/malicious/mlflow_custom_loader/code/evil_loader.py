import os

def _load_pyfunc(path):
    os.system('true')
