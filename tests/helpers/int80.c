/*
 * int80 MODE INTERFACE MARKER: a 64-bit process that opens an AF_PACKET
 * socket through the i386 syscall ABI (`int $0x80`), where the syscall
 * numbers differ from x86-64's, then sends a frame with it (send_frame.h).
 * MODE is `socket` (i386 socket, 359) or `socketcall` (i386 socketcall,
 * 102, SYS_SOCKET, its arguments an array in user memory below 4 GiB).
 * Only ever run inside a network namespace a test made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "send_frame.h"

#define I386_SOCKETCALL 102
#define I386_SOCKET 359
#define SYS_SOCKET 1

static long int80(long nr, long a, long b, long c)
{
	long ret;

	/* the i386 entry clears r8-r11 for a 64-bit caller */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

int main(int argc, char **argv)
{
	long fd;

	if (argc != 4) {
		fprintf(stderr, "usage: int80 socket|socketcall INTERFACE MARKER\n");
		return 2;
	}
	if (strcmp(argv[1], "socketcall") == 0) {
		unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
					  -1, 0);

		if (args == MAP_FAILED)
			return 2;
		args[0] = AF_PACKET;
		args[1] = SOCK_RAW;
		args[2] = htons(ETH_P_ALL);
		fd = int80(I386_SOCKETCALL, SYS_SOCKET, (long)args, 0);
	} else {
		fd = int80(I386_SOCKET, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	}
	if (fd < 0) {
		printf("errno %ld\n", -fd);
		return 0;
	}
	return send_frame(fd, argv[2], argv[3]);
}
