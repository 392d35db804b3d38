#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Apache ZooKeeper Java client (Debian's 3.8 jar) against one server:
java/ZkJavaClient.java compiled here with javac and run, then zkCli.sh
(the ZooKeeper shell) with a scripted session on stdin and a one-shot
command line.

    test_java.py --server KIND [--cheetah-bin PATH]
"""
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ZKCLI = '/usr/share/zookeeper/bin/zkCli.sh'
# zkEnv.sh's classpath (conf dir + zookeeper.jar, whose manifest brings the
# rest) plus the slf4j binding to log4j 1.2, logging warnings only.
CLIENT_CP = ['/etc/zookeeper/conf', '/usr/share/java/zookeeper.jar',
             '/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar']
S = None
ARGS = None
CLASSES = None


def t_java_client():
    global CLASSES
    CLASSES = harness.make_tmp_dir('javac')
    r = subprocess.run(['javac', '-d', CLASSES, '-cp', '/usr/share/java/zookeeper.jar',
                        os.path.join(HERE, 'java', 'ZkJavaClient.java')],
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise AssertionError('javac failed:\n' + r.stdout + r.stderr)
    r = subprocess.run(['java', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
                        '-Dzookeeper.root.logger=WARN,CONSOLE',
                        '-cp', ':'.join([CLASSES] + CLIENT_CP), 'ZkJavaClient', S.hosts],
                       capture_output=True, text=True, timeout=180)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        raise AssertionError('ZkJavaClient exited %d; stderr:\n%s' % (r.returncode, r.stderr[-3000:]))


def zkcli(args, stdin=None):
    env = dict(os.environ, CLIENT_JVMFLAGS='-XX:TieredStopAtLevel=1 -XX:+UseSerialGC')
    r = subprocess.run([ZKCLI, '-server', S.hosts] + args, input=stdin, capture_output=True,
                       text=True, timeout=120, env=env)
    if r.returncode != 0:
        raise AssertionError('zkCli.sh %r exited %d:\n%s%s' % (args, r.returncode, r.stdout, r.stderr))
    return r.stdout + '\n' + r.stderr


def must(out, *needles):
    for n in needles:
        if n not in out:
            raise AssertionError('zkCli.sh output lacks %r:\n%s' % (n, out))


def t_zkcli():
    script = '\n'.join([
        'create /zc hello',
        'create -e /zc/e',
        'create -s /zc/s- x',
        'create -c /zcc',
        'create -t 100000 /zct',
        'get -s /zc',
        'ls /zc',
        'set /zc v2',
        'stat /zc',
        'getAcl /zc',
        'getEphemerals',
        'getAllChildrenNumber /zc',
        'sync /zc',
        'whoami',
        'addWatch -m PERSISTENT_RECURSIVE /zc',
        'create /zc/w',
        'delete /zc',
        'deleteall /zc',
        'delete /zcc',
        'delete /zct',
        'ls /',
        'quit', ''])
    out = zkcli([], stdin=script)
    # whoami names the address the server sees: this host's route to it
    # (127.0.0.1 on loopback; the client namespace's veth address when
    # the server is on the dpdk backend, harness.DPDK_VETH).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.connect((S.host, S.port))
        me = u.getsockname()[0]
    must(out, 'Created /zc\n', 'Created /zc/e', 'Created /zc/s-0000000001', 'Created /zcc',
         'Created /zct', 'hello', 'dataVersion = 1', 'dataLength = 2', "'world,'anyone\n: cdrwa",
         '[/zc/e]', 'Sync is OK', 'ip: ' + me, 'Node not empty: /zc',
         'type:NodeCreated path:/zc/w')
    if not re.search(r'\[(e, s-0000000001|s-0000000001, e)\]', out):
        raise AssertionError('ls /zc output:\n' + out)
    if not re.search(r'^cZxid = 0x[0-9a-f]+$', out, re.M) or not re.search(r'^numChildren = 2$', out, re.M):
        raise AssertionError('stat output:\n' + out)
    if not re.search(r'^2$', out, re.M):
        raise AssertionError('getAllChildrenNumber /zc should print 2:\n' + out)
    last_ls = re.findall(r'^\[.*zookeeper\]$', out, re.M)
    if not last_ls or {'zc', 'zcc', 'zct'} & set(last_ls[-1].strip('[]').split(', ')):
        raise AssertionError('final ls / should not show zc, zcc, zct:\n' + out)
    log('    zkCli.sh scripted session: %d commands ok' % (script.count('\n') - 1))
    out = zkcli(['ls', '/zookeeper'])
    if not re.search(r'\[(config, quota|quota, config)\]', out):
        raise AssertionError('zkCli.sh ls /zookeeper:\n' + out)
    log('    zkCli.sh one-shot command ok')


def main():
    global S, ARGS
    ARGS = harness.arg_parser(__doc__.split('\n')[0]).parse_args()
    S = harness.new_server(ARGS, config={'extendedTypesEnabled': 'true'}, name='java')
    status = 1
    try:
        S.start()
        status = harness.run_tests([('java_client', t_java_client), ('zkcli', t_zkcli),
                                    ('clean_shutdown', S.stop_clean)], ARGS, servers=[S])
    finally:
        S.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
