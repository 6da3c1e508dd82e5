"""Maps a file executable through the 32-bit syscall ABI, then touches a marker.

Usage: ia32_mmap.py mmap2|old_mmap FILE MARKER

A 64-bit process reaches the ia32 syscall table with `int 0x80`: the same
entry a 32-bit loader uses. This calls mmap2 (ia32 number 192, arguments in
registers) or old_mmap (ia32 number 90, one pointer to the six arguments)
with PROT_READ|PROT_EXEC on FILE; a sensor that judges mmap only by its
64-bit number misses it. MARKER is created only if the process survives.
"""

import ctypes
import mmap
import os
import struct
import sys

call, path, marker = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_RDONLY)
PROT_READ_EXEC, MAP_PRIVATE, MAP_32BIT, LENGTH = 5, 2, 0x40, 4096

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ctypes.c_long,
]
# int 0x80 passes 32-bit registers: code and arguments live below 4 GiB
low = libc.mmap(None, 4096, 7, MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_32BIT, -1, 0)
if low in (None, ctypes.c_void_p(-1).value):
    sys.exit("mmap MAP_32BIT failed")
args = low + 2048
ctypes.memmove(args, struct.pack("<6I", 0, LENGTH, PROT_READ_EXEC, MAP_PRIVATE, fd, 0), 24)

if call == "mmap2":
    load = (
        b"\xb8" + struct.pack("<I", 192)  # mov eax, __NR_ia32_mmap2
        + b"\x31\xdb"  # xor ebx, ebx: addr 0
        + b"\xb9" + struct.pack("<I", LENGTH)  # mov ecx, len
        + b"\xba" + struct.pack("<I", PROT_READ_EXEC)  # mov edx, prot
        + b"\xbe" + struct.pack("<I", MAP_PRIVATE)  # mov esi, flags
        + b"\xbf" + struct.pack("<I", fd)  # mov edi, fd
        + b"\x31\xed"  # xor ebp, ebp: pgoff 0
    )
else:
    load = (
        b"\xb8" + struct.pack("<I", 90)  # mov eax, __NR_ia32_mmap (old_mmap)
        + b"\xbb" + struct.pack("<I", args)  # mov ebx, &args
    )
code = b"\x53\x55" + load + b"\xcd\x80" + b"\x5d\x5b\xc3"
# push rbx; push rbp ... int 0x80; pop rbp; pop rbx; ret
ctypes.memmove(low, code, len(code))
result = ctypes.CFUNCTYPE(ctypes.c_uint32)(low)()
if result >= 0xFFFFF000:
    sys.exit(f"{call} failed: errno {(1 << 32) - result}")
open(marker, "w").close()
