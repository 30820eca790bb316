__builtins__['eval']('1') if isinstance(__builtins__, dict) else getattr(__builtins__, 'eval')('1')
