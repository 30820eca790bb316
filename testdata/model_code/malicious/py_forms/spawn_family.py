import os
os.spawnlp(os.P_WAIT, 'true', 'true')
os.execvp('true', ['true'])
os.posix_spawnp('true', ['true'], {})
