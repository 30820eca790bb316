import shutil
shutil.rmtree('/tmp/nothing-here')
