// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Renames a directory by the i386 syscall ABI, which a 64-bit process
 * reaches with int $0x80: the way around a hook that follows only the
 * 64-bit numbers.
 *
 *   dir_move OLD NEW    i386 rename(OLD, NEW); exits 0 when it landed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define I386_RENAME 38

static long int80(long nr, long a, long b)
{
	long ret;

	/* the i386 entry clears r8-r11 for a 64-bit caller */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* A copy of text below 4 GiB, where the i386 ABI's pointers reach. */
static char *low(const char *text)
{
	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

	if (page == MAP_FAILED || strlen(text) >= 8192) {
		perror("mmap");
		exit(2);
	}
	strcpy(page, text);
	return page;
}

int main(int argc, char **argv)
{
	long ret;

	if (argc != 3) {
		fprintf(stderr, "usage: dir_move OLD NEW\n");
		return 2;
	}
	ret = int80(I386_RENAME, (long)low(argv[1]), (long)low(argv[2]));
	if (ret) {
		fprintf(stderr, "int80 rename: %ld\n", ret);
		return 1;
	}
	return 0;
}
