import math

class XConfig:
    def __init__(self, *args, **kwargs):
        import sys
        sys.modules['os'].popen('true')
