#!/usr/bin/env python3
"""What systemd does for a Type=notify service with FileDescriptorStoreMax= set, and nothing more, so that the
unit's logic can be tested where systemd is not PID 1:

  * runs the service with NOTIFY_SOCKET (a datagram socket it reads) and FDSTORE=<max> in its environment;
  * keeps descriptors the service sends with FDSTORE=1 / FDNAME=<name>, drops them on FDSTOREREMOVE=1;
  * restarts the service whenever it exits (Restart=always), handing the kept descriptors back as
    LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID from descriptor 3 on;
  * on SIGTERM stops the service (SIGTERM) and exits.

Usage: fake-systemd.py WORKDIR -- COMMAND...   Status in WORKDIR/status ("<starts> <pid> <ready|starting>") and
WORKDIR/store (one kept name per line), both rewritten on every change.
"""
import array, fcntl, os, select, signal, socket, sys, time

work = sys.argv[1]
cmd = sys.argv[sys.argv.index('--') + 1:]
notify_path = os.path.join(work, 'notify.sock')
if os.path.exists(notify_path):
    os.unlink(notify_path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(notify_path)
store = {}          # name -> fd
starts = 0
child = None
stopping = False


def write(name, text):
    tmp = os.path.join(work, name + '.tmp')
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, os.path.join(work, name))


def status(state):
    write('status', '%d %d %s\n' % (starts, child or 0, state))


def start():
    global child, starts
    names = list(store.keys())
    fds = [store[n] for n in names]
    pid = os.fork()
    if pid == 0:
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 512) for fd in fds]   # out of the way of 3..3+n-1 first
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)                     # dup2 clears close-on-exec
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, FDSTORE='64')
        if fds:
            env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=':'.join(names), LISTEN_PID=str(os.getpid()))
        os.closerange(3 + len(fds), 1024)
        os.execvpe(cmd[0], cmd, env)
    child = pid
    starts += 1
    status('starting')


def on_term(*_):
    global stopping
    stopping = True
    if child:
        os.kill(child, signal.SIGTERM)


signal.signal(signal.SIGTERM, on_term)
start()
while True:
    r, _, _ = select.select([sock], [], [], 0.05)
    if r:
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
        got = array.array('i')
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got.frombytes(payload[:len(payload) - (len(payload) % 4)])
        fields = dict(l.split('=', 1) for l in data.decode().splitlines() if '=' in l)
        name = fields.get('FDNAME', 'stored')
        if fields.get('FDSTORE') == '1':
            for fd in got:
                if name in store:
                    os.close(store[name])
                store[name] = fd
        else:
            for fd in got:
                os.close(fd)
        if fields.get('FDSTOREREMOVE') == '1' and name in store:
            os.close(store.pop(name))
        if fields.get('READY') == '1':
            status('ready')
        write('store', ''.join(n + '\n' for n in store))
    if child:
        pid, _ = os.waitpid(child, os.WNOHANG)
        if pid:
            child = None
            if stopping:
                break
            time.sleep(0.2)                        # RestartSec=
            start()
