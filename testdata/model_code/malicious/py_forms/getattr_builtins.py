import builtins
getattr(builtins, 'exec')('pass')
