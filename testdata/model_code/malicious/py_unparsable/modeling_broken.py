import os

def f(:
    pass

os.system('true')
