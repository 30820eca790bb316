c = compile(type('')() + '1', 'x', 'eval')
__builtins__['eval'](c) if isinstance(__builtins__, dict) else getattr(__builtins__, 'eval')(c)
