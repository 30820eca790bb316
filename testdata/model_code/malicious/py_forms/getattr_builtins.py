import builtins
getattr(builtins, 'exec')(compile(type('')() + 'pass', 'x', 'exec'))
