/*
 * ia32_write PATH: an ia32 program (no libc: built with -m32 -nostdlib)
 * that opens PATH for writing and writes "evil\n" to it; exit status 0
 * when it wrote, 3 when the open failed, 4 when the write did.
 */
static long sys3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return ret;
}

#define I386_EXIT 1
#define I386_WRITE 4
#define I386_OPEN 5
#define O_WRONLY 1

/* sp: argc, then argv */
void start_c(long *sp)
{
	long fd = sys3(I386_OPEN, sp[2], O_WRONLY, 0);
	long status = fd < 0 ? 3 : sys3(I386_WRITE, fd, (long)"evil\n", 5) == 5 ? 0 : 4;

	sys3(I386_EXIT, status, 0, 0);
}

__asm__(".globl _start\n_start:\n\tpush %esp\n\tcall start_c\n");
