/**
 * The few libc calls the loader needs that Deno does not expose: raw file
 * descriptors, memfds, mmap, madvise, malloc_trim, poll, mount, umount2,
 * socket options, execve, inotify and errno.
 *
 * @module
 */

const symbols = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  vsnprintf: {
    parameters: ["buffer", "usize", "pointer", "pointer"],
    result: "i32",
  },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // close, run on a worker thread: for an fd whose release waits in the
  // kernel (an inotify instance's waits for an SRCU grace period).
  close_async: {
    name: "close",
    parameters: ["i32"],
    result: "i32",
    nonblocking: true,
  },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // poll, run on a worker thread so the event loop stays free.
  poll_async: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  malloc_trim: { parameters: ["usize"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "pointer"],
    result: "i32",
  },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  inotify_init1: { parameters: ["i32"], result: "i32" },
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  inotify_rm_watch: { parameters: ["i32", "i32"], result: "i32" },
} as const;

let library: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The libc symbols, opened on first use. */
export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  library ??= Deno.dlopen("libc.so.6", symbols);
  return library.symbols;
}

export const O_RDONLY = 0;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const POLLIN = 1;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
const MFD_CLOEXEC = 1;
const SC_PAGESIZE = 30;
const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;

/** The calling thread's errno. Read it right after the failing call. */
export function errno(): number {
  const pointer = libc().__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

/** The C library's text for an errno value, e.g. "Operation not permitted". */
export function strerror(code: number): string {
  const pointer = libc().strerror(Math.abs(code));
  return pointer ? Deno.UnsafePointerView.getCString(pointer) : `errno ${code}`;
}

/** A NUL-terminated copy of a string, for `buffer` parameters. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0");
}

let pageSizeCache = 0;

/** The system page size in bytes. */
export function pageSize(): number {
  pageSizeCache ||= Number(libc().sysconf(SC_PAGESIZE));
  return pageSizeCache;
}

/** Opens a path read-only and returns the raw fd (for cgroup directories). */
export function openDirectory(path: string): number {
  const fd = libc().open(cString(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw new Error(`cannot open ${path}: ${strerror(errno())}`);
  }
  return fd;
}

/** Closes a raw fd. */
export function closeFd(fd: number): void {
  libc().close(fd);
}

/**
 * Writes `bytes` into a new memfd named `name` (close-on-exec) and returns
 * its fd, which the caller closes.
 */
export function memfdWith(name: string, bytes: Uint8Array): number {
  const fd = libc().memfd_create(cString(name), MFD_CLOEXEC);
  if (fd < 0) throw new Error(`memfd_create failed for ${name}`);
  const data = new Uint8Array(bytes); // an ArrayBuffer of its own for FFI
  let written = 0;
  while (written < data.length) {
    const rest = data.subarray(written);
    const count = Number(libc().write(fd, rest, BigInt(rest.length)));
    if (count <= 0) throw new Error(`cannot write ${name} to its memfd`);
    written += count;
  }
  return fd;
}

/** A file that lives only in memory, for calls that take a path. */
export interface MemoryFile extends Disposable {
  /** `/proc/self/fd/N`: valid until closed. */
  readonly path: string;
  /** Closes the memfd; safe to call twice. */
  close(): void;
}

/** Puts `bytes` in a memfd and returns its path. */
export function memoryFile(name: string, bytes: Uint8Array): MemoryFile {
  const fd = memfdWith(name, bytes);
  let open = true;
  const close = () => {
    if (open) closeFd(fd);
    open = false;
  };
  return { path: `/proc/self/fd/${fd}`, close, [Symbol.dispose]: close };
}

/**
 * Mounts a pseudo file system (`type` as its source too), e.g. tracefs.
 *
 * @throws {Error} with the kernel's reason.
 */
export function mountFileSystem(type: string, target: string): void {
  const result = libc().mount(
    cString(type),
    cString(target),
    cString(type),
    0n,
    null,
  );
  if (result !== 0) {
    throw new Error(`cannot mount ${type} at ${target}: ${strerror(errno())}`);
  }
}

const MNT_DETACH = 2;

/**
 * Detaches the mount at `target` (umount2 with MNT_DETACH): gone from the
 * namespace at once, freed once nothing uses it.
 *
 * @throws {Error} with the kernel's reason.
 */
export function detachMount(target: string): void {
  if (libc().umount2(cString(target), MNT_DETACH) !== 0) {
    throw new Error(`cannot unmount ${target}: ${strerror(errno())}`);
  }
}

function clockNs(clock: number): bigint {
  const timespec = new BigInt64Array(2);
  libc().clock_gettime(clock, new Uint8Array(timespec.buffer));
  return timespec[0] * 1_000_000_000n + timespec[1];
}

/**
 * Nanoseconds to add to a CLOCK_BOOTTIME reading (what the sensors stamp
 * events with) to get nanoseconds since the Unix epoch.
 */
export function bootToEpochOffsetNs(): bigint {
  return clockNs(CLOCK_REALTIME) - clockNs(CLOCK_BOOTTIME);
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
/** include/uapi/asm-generic/socket.h, Linux 5.14 */
const SO_NETNS_COOKIE = 71;

/**
 * The cookie of this process's network namespace, as
 * `bpf_get_netns_cookie()` gives it to the sensors.
 *
 * @throws {Error} with the kernel's reason (before Linux 5.14: no such
 *   socket option).
 */
export function netnsCookie(): bigint {
  const fd = libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`cannot open a socket: ${strerror(errno())}`);
  try {
    const value = new BigUint64Array(1);
    const length = new Uint32Array([8]);
    const result = libc().getsockopt(
      fd,
      SOL_SOCKET,
      SO_NETNS_COOKIE,
      new Uint8Array(value.buffer),
      new Uint8Array(length.buffer),
    );
    if (result !== 0) {
      throw new Error(`cannot read SO_NETNS_COOKIE: ${strerror(errno())}`);
    }
    return value[0];
  } finally {
    closeFd(fd);
  }
}

/**
 * Replaces this process with `path` run with `argv` and `env` (execve(2)):
 * the same pid, a new program. Returns only when that fails.
 */
export function execve(
  path: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): void {
  const strings = (list: readonly string[]) => {
    const buffers = list.map(cString);
    const pointers = new BigUint64Array(buffers.length + 1);
    buffers.forEach((buffer, index) => {
      pointers[index] = BigInt(
        Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)),
      );
    });
    return { buffers, pointers };
  };
  const args = strings(argv);
  const vars = strings(
    Object.entries(env).map(([name, value]) => `${name}=${value}`),
  );
  libc().execve(cString(path), args.pointers, vars.pointers);
  // Keeps the strings alive until execve has read them.
  void [args.buffers, vars.buffers];
}
