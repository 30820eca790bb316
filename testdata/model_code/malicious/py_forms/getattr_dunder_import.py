getattr(__import__('os'), 'system')('true')
