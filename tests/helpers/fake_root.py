"""A stand-in for a long-lived scope root (Runner.Worker, dockerd,
containerd) in tests/containers_*_test.ts: run it from a copy of python3
named like the root, so that its comm is the root's name.

It prints "ready", then carries out one command per line, read from the
FIFO given as its argument (a step writes to it, as `docker` talks to
dockerd) or from stdin, and answers each on stdout ending with "done":

  self ARGS...    net_probe.py's ARGS, run in this process (the root's own
                  connection, as dockerd's for a pull)
  child ARGS...   net_probe.py ARGS in a child process; prints "pid N"
  spawn PATH ARGS...
                  PATH ARGS as a child, not waited for; prints "pid N"
                  (a container runtime's shim starting a container)

Only ever pointed at loopback or a network namespace the test made.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import net_probe  # noqa: E402

PROBE = os.path.join(HERE, "net_probe.py")


def run(words):
    if not words:
        return
    if words[0] == "self":
        net_probe.main(words[1:])
    elif words[0] == "child":
        child = subprocess.Popen(["python3", PROBE, *words[1:]],
                                 stdout=subprocess.PIPE, text=True)
        print(f"pid {child.pid}", flush=True)
        out, _ = child.communicate()
        sys.stdout.write(out)
    elif words[0] == "spawn":
        child = subprocess.Popen(words[1:], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        print(f"pid {child.pid}", flush=True)


def main(args):
    print("ready", flush=True)
    while True:
        source = open(args[0]) if args else sys.stdin
        with source:
            for line in source:
                run(line.split())
                print("done", flush=True)
        if not args:
            return


if __name__ == "__main__":
    main(sys.argv[1:])
