code = compile(type('')() + '1', 'x', 'eval')
eval(code)
