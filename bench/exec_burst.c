// exec_burst N PROGRAM: N posix_spawn()s of PROGRAM, one after the other,
// each waited for. posix_spawn() is a vfork() in glibc: no page tables are
// copied, so with a static PROGRAM each exec costs the kernel alone. One of
// these per core makes the exec rate the burst target is stated at, which a
// shell loop of fork+exec /bin/true cannot reach on a small runner.
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exec_burst N PROGRAM\n");
    return 2;
  }
  long count = atol(argv[1]);
  char *child_argv[] = {argv[2], NULL};
  for (long i = 0; i < count; i++) {
    pid_t pid;
    int error = posix_spawn(&pid, argv[2], NULL, NULL, child_argv, environ);
    if (error) {
      fprintf(stderr, "exec_burst: posix_spawn %s: error %d\n", argv[2], error);
      return 1;
    }
    if (waitpid(pid, NULL, 0) < 0) {
      perror("exec_burst: waitpid");
      return 1;
    }
  }
  return 0;
}
