"""Maps a file executable through the 32-bit syscall ABI, then touches a marker.

Usage: ia32_mmap.py FILE MARKER

A 64-bit process reaches the ia32 syscall table with `int 0x80`: the same
entry a 32-bit loader uses. This calls mmap2 (ia32 number 192) with
PROT_READ|PROT_EXEC on FILE; a sensor that judges mmap only by its 64-bit
number misses it. MARKER is created only if the process survives the call.
"""

import ctypes
import mmap
import os
import struct
import sys

path, marker = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
code = (
    b"\x53\x55"  # push rbx; push rbp (callee-saved)
    + b"\xb8" + struct.pack("<I", 192)  # mov eax, __NR_ia32_mmap2
    + b"\x31\xdb"  # xor ebx, ebx: addr 0
    + b"\xb9" + struct.pack("<I", 4096)  # mov ecx, len
    + b"\xba" + struct.pack("<I", 5)  # mov edx, PROT_READ|PROT_EXEC
    + b"\xbe" + struct.pack("<I", 2)  # mov esi, MAP_PRIVATE
    + b"\xbf" + struct.pack("<I", fd)  # mov edi, fd
    + b"\x31\xed"  # xor ebp, ebp: pgoff 0
    + b"\xcd\x80"  # int 0x80
    + b"\x5d\x5b\xc3"  # pop rbp; pop rbx; ret
)
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
address = ctypes.addressof(ctypes.c_char.from_buffer(page))
result = ctypes.CFUNCTYPE(ctypes.c_uint32)(address)()
if result >= 0xFFFFF000:
    sys.exit(f"mmap2 failed: errno {-(result - (1 << 32))}")
open(marker, "w").close()
