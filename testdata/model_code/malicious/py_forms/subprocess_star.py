from subprocess import *
check_output(['true'])
