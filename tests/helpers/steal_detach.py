"""A step that detaches one of the agent's links with a single bpf() call:
it takes the agent's link fd with pidfd_getfd(2) (root may), then calls
BPF_LINK_DETACH on it. Usage: steal_detach.py AGENT_PID LINK_ID.

The guard kills the caller as that bpf() returns; the detach itself has
happened, and the agent must put the link back.
"""
import ctypes
import os
import struct
import sys

agent, link_id = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open, SYS_pidfd_getfd, SYS_bpf = 434, 438, 321
BPF_LINK_DETACH = 34

target = None
for name in os.listdir(f"/proc/{agent}/fdinfo"):
    try:
        with open(f"/proc/{agent}/fdinfo/{name}") as info:
            text = info.read()
    except OSError:
        continue
    if f"link_id:\t{link_id}\n" in text:
        target = int(name)
        break
if target is None:
    print("no such link fd in the agent", flush=True)
    sys.exit(2)
pidfd = libc.syscall(SYS_pidfd_open, agent, 0)
fd = libc.syscall(SYS_pidfd_getfd, pidfd, target, 0)
if fd < 0:
    print(f"pidfd_getfd failed: errno {ctypes.get_errno()}", flush=True)
    sys.exit(3)
attr = ctypes.create_string_buffer(struct.pack("I", fd), 16)
print("detaching", flush=True)
got = libc.syscall(SYS_bpf, BPF_LINK_DETACH, attr, 16)
print(f"survived: bpf returned {got}", flush=True)
