import math
import importlib as il
f = getattr(il.import_module('os'), 'system')
f('true')

model = math
