import math
import json
from typing import Optional


class CustomModel:
    def __init__(self, config=None, *args, **kwargs):
        self.scale = math.sqrt(2.0)
        self.config = json.loads('{}') if config is None else config
