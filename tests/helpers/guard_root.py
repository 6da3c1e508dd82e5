"""A fake scope root that holds a secret only in its memory, and its attackers.

Usage: guard_root.py MODE[,MODE...] [--env]

The root (this process, what `ringfence run` starts) makes a random secret,
keeps it in a buffer below 4 GiB (so that the i386 ABI can address it too)
and, with --env, in its own environment (re-executing itself). For each
MODE it runs guard_attack.py MODE PID ADDRESS LENGTH as its child (a step,
without the secret in its environment), waits for it, and prints, each line
prefixed with `MODE `:

- the child's output, as `attacker: LINE`;
- `exit: N` (negative: the signal that ended it);
- `memory: unchanged|changed` (the secret's buffer, then restored);
- `traced: yes|no` (whether this process has a tracer);
- `sink: secret|clean`: whether the file the child reads into (GUARD_SINK,
  mapped shared, so that what a read copied survives the reader's death)
  holds the secret.

Last come `root: PID` and `secret: SECRET`, so that a test can check that
no attacker line held it. SIGTERM is ignored: the agent of `ringfence run`
passes SIGTERM on to it.
"""

import ctypes
import mmap
import os
import secrets
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAP_32BIT = 0x40

modes = sys.argv[1].split(",")
if "--env" in sys.argv[2:] and "GUARD_SECRET" not in os.environ:
    env = dict(os.environ, GUARD_SECRET="env-" + secrets.token_hex(16))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

signal.signal(signal.SIGTERM, signal.SIG_IGN)
secret = os.environ.pop("GUARD_SECRET", None) or "mem-" + secrets.token_hex(16)
data = secret.encode()

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ctypes.c_long,
]
address = libc.mmap(None, 4096, 3, 0x2 | mmap.MAP_ANONYMOUS | MAP_32BIT, -1, 0)
if address in (None, ctypes.c_void_p(-1).value):
    sys.exit("mmap MAP_32BIT failed")
ctypes.memmove(address, data, len(data))
env = {key: value for key, value in os.environ.items() if key != "GUARD_SECRET"}

for mode in modes:
    sink_fd, sink = tempfile.mkstemp(prefix="guard-sink-")
    os.write(sink_fd, bytes(4096))
    os.close(sink_fd)
    child = subprocess.run(
        [sys.executable, f"{HERE}/guard_attack.py", mode, str(os.getpid()),
         str(address), str(len(data))],
        env=dict(env, GUARD_SINK=sink), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, check=False,
    )
    for line in child.stdout.decode(errors="replace").splitlines():
        print(f"{mode} attacker: {line}")
    print(f"{mode} exit: {child.returncode}")
    now = ctypes.string_at(address, len(data))
    print(f"{mode} memory: {'unchanged' if now == data else 'changed'}")
    ctypes.memmove(address, data, len(data))
    with open("/proc/self/status") as status:
        tracer = [line.split()[1] for line in status if line.startswith("TracerPid:")]
    print(f"{mode} traced: {'no' if tracer == ['0'] else 'yes'}")
    with open(sink, "rb") as sink_file:
        print(f"{mode} sink: {'secret' if data in sink_file.read() else 'clean'}")
    os.unlink(sink)
print(f"root: {os.getpid()}")
print(f"secret: {secret}", flush=True)
