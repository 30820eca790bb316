import os
name = 'sys' + 'tem'
getattr(os, name)('true')
