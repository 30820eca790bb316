import math
import importlib
importlib.import_module('os').system('true')

model = math
