import marshal
exec(marshal.loads(b''))
