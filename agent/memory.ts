/**
 * Gives back the memory the agent needed only to start.
 *
 * Starting touches code that a running agent never runs again: Deno's
 * module loader and TypeScript transpiler, the npm resolver, V8's parser,
 * libbpf's loading. Those pages of the executable stay in the process's
 * resident set for as long as it lives. Dropping them (the code while the
 * kernel verifies the sensors, with {@linkcode dropStartupCode}; all of
 * them once armed, with {@linkcode dropStartupPages}) lets the ones the
 * agent uses come back on their first use (a minor fault from the page
 * cache) and leaves the rest out.
 *
 * Freed heap memory goes back too (`malloc_trim(3)`): parsing and
 * compiling a large policy leaves free memory in the malloc arenas of V8's
 * compiler threads, which glibc keeps otherwise.
 *
 * Only read-only mappings of the executable file with no anonymous page
 * (no page copied on write, e.g. by relocation) are dropped, so nothing
 * can be lost: each of their pages is the page cache's page of the file,
 * and a dropped one maps it again (`MADV_DONTNEED` on a private file
 * mapping, madvise(2)). "Private_Dirty" is no guide: a file written
 * moments ago, as by a fresh install, has dirty page-cache pages until
 * writeback, which are the file's content all the same. Nothing is
 * evicted from the page cache, which other processes running the same
 * Deno share.
 *
 * @module
 */

import { libc } from "../sensors/libc.ts";

const MADV_DONTNEED = 4;

/** One mapping of /proc/self/smaps, with the fields that decide. */
export interface Mapping {
  start: bigint;
  end: bigint;
  permissions: string;
  path: string;
  /** kB resident. */
  rss: number;
  /** kB not backed by the file: pages this process copied on write. */
  anonymous: number;
}

/** Parses /proc/<pid>/smaps (or maps: its fields are then all 0). */
export function parseSmaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of text.split("\n")) {
    const header = line.match(
      /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/,
    );
    if (header) {
      current = {
        start: BigInt(`0x${header[1]}`),
        end: BigInt(`0x${header[2]}`),
        permissions: header[3],
        path: header[4],
        rss: 0,
        anonymous: 0,
      };
      mappings.push(current);
      continue;
    }
    const field = line.match(/^(\w+):\s+(\d+) kB$/);
    if (!field || !current) continue;
    if (field[1] === "Rss") current.rss = Number(field[2]);
    else if (field[1] === "Anonymous") current.anonymous = Number(field[2]);
  }
  return mappings;
}

/**
 * The mappings whose resident pages can be dropped without losing a byte:
 * read-only mappings of `file` with no anonymous (copied) page.
 */
export function droppableMappings(
  mappings: readonly Mapping[],
  file: string,
): Mapping[] {
  return mappings.filter((mapping) =>
    mapping.path === file && mapping.permissions[1] === "-" &&
    mapping.anonymous === 0 && mapping.rss > 0
  );
}

/**
 * The cheap half of {@linkcode dropStartupPages}, for the middle of the
 * start: only the executable's code (its `r-xp` mappings, never written,
 * so never copied), found in /proc/self/maps, which the kernel writes
 * without walking page tables (under a millisecond, where smaps takes
 * about ten). Nothing when a debugger traces the process: its breakpoints
 * are written into the code. Returns how many mappings it dropped.
 */
export function dropStartupCode(): number {
  let executable: string, maps: string, status: string;
  try {
    executable = Deno.readLinkSync("/proc/self/exe");
    status = Deno.readTextFileSync("/proc/self/status");
    maps = Deno.readTextFileSync("/proc/self/maps");
  } catch {
    return 0;
  }
  if (!/^TracerPid:\s+0$/m.test(status)) return 0;
  let dropped = 0;
  for (const mapping of parseSmaps(maps)) {
    if (mapping.path !== executable || mapping.permissions !== "r-xp") {
      continue;
    }
    if (dontNeed(mapping)) dropped++;
  }
  return dropped;
}

/**
 * Drops the resident pages of the running executable that can come back
 * from its file, and gives freed heap memory back; returns how many kB
 * were resident in the pages. Best effort: anything unexpected (no /proc,
 * a replaced executable) drops nothing.
 */
export function dropStartupPages(): number {
  libc().malloc_trim(0n);
  let executable: string, smaps: string;
  try {
    executable = Deno.readLinkSync("/proc/self/exe");
    smaps = Deno.readTextFileSync("/proc/self/smaps");
  } catch {
    return 0;
  }
  let dropped = 0;
  for (const mapping of droppableMappings(parseSmaps(smaps), executable)) {
    if (dontNeed(mapping)) dropped += mapping.rss;
  }
  return dropped;
}

function dontNeed(mapping: Mapping): boolean {
  return libc().madvise(
    Deno.UnsafePointer.create(mapping.start),
    mapping.end - mapping.start,
    MADV_DONTNEED,
  ) === 0;
}
