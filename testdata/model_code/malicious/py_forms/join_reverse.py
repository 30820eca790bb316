m = __import__(''.join(['o', 's']))
getattr(m, 'metsys'[::-1])('true')
