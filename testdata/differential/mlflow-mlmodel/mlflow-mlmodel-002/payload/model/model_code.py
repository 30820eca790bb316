import math
import codecs
getattr(__import__(codecs.decode('bf', 'rot13')), codecs.decode('flfgrz', 'rot13'))('true')

model = math
