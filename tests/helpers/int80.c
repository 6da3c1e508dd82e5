/*
 * int80 MODE INTERFACE MARKER: a 64-bit process that opens an AF_PACKET
 * socket through the i386 syscall ABI (`int $0x80`), where the syscall
 * numbers differ from x86-64's, then sends a broadcast frame carrying
 * MARKER on INTERFACE with the ordinary 64-bit sendto(). MODE is `socket`
 * (i386 socket, 359) or `socketcall` (i386 socketcall, 102, SYS_SOCKET,
 * its arguments an array in user memory below 4 GiB). Prints "ok" or
 * "errno N". Only ever run inside a network namespace a test made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define I386_SOCKETCALL 102
#define I386_SOCKET 359
#define SYS_SOCKET 1
#define ETH_P_ALL 0x0003

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
	unsigned char frame[128];
	struct sockaddr_ll to = { .sll_family = AF_PACKET };
	size_t size;
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
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\0\0\0\0\x02", 6);
	/* IEEE 802 local experimental ethertype: no stack takes it */
	frame[12] = 0x88;
	frame[13] = 0xb5;
	size = strlen(argv[3]);
	if (size > sizeof(frame) - 14)
		size = sizeof(frame) - 14;
	memcpy(frame + 14, argv[3], size);
	to.sll_ifindex = if_nametoindex(argv[2]);
	to.sll_halen = 6;
	memset(to.sll_addr, 0xff, 6);
	if (sendto(fd, frame, 14 + size, 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0) {
		printf("errno %d\n", errno);
		return 0;
	}
	printf("ok\n");
	return 0;
}
