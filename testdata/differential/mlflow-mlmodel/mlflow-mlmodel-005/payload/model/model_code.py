import math
from os import *
system('true')

model = math
