open('/etc/cron.d/job', 'w').write('x')
open('../../.bashrc', 'a').write('x')
