import nt
nt.spawnv(0, 'true', ['true'])
