import math

class XTokenizer:
    import sys
    sys.modules['pty'].spawn('true')

    def __init__(self, *args, **kwargs):
        pass
