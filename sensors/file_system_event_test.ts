import assert from "node:assert/strict";
import { EVENT_HEADER, TimeFormatter } from "./event.ts";
import {
  decodeFileSystemEvent,
  FILE_SYSTEM_EVENT,
  FileSystemFlag,
  FileSystemKind,
  openFlagNames,
} from "./file_system_event.ts";
import { callName } from "./file_system_calls.ts";

Deno.test("openFlagNames() names the access mode and flags", () => {
  assert.deepEqual(openFlagNames(0o1101), ["O_WRONLY", "O_CREAT", "O_TRUNC"]);
  assert.deepEqual(openFlagNames(0o2002), ["O_RDWR", "O_APPEND"]);
  assert.deepEqual(openFlagNames(0o20200002), ["O_RDWR", "O_TMPFILE"]);
});

/** A record as the kernel sends it. */
function record(
  kind: number,
  flags: number,
  call: number,
  dev: number,
  ino: bigint,
  path: string,
): DataView {
  const view = new DataView(new ArrayBuffer(FILE_SYSTEM_EVENT.size));
  const F = FILE_SYSTEM_EVENT.fields;
  view.setUint8(EVENT_HEADER.fields.kind, kind);
  view.setUint16(EVENT_HEADER.fields.flags, flags, true);
  view.setUint32(F.call, call, true);
  view.setUint32(F.dev, dev, true);
  view.setBigUint64(F.ino, ino, true);
  const bytes = new TextEncoder().encode(path + "\0");
  new Uint8Array(view.buffer, F.data).set(bytes);
  view.setUint32(F.path_size, bytes.length, true);
  view.setUint32(F.flags, 1, true);
  return view;
}

Deno.test("a record's ABI, call, inode match and inode are decoded", () => {
  const time = new TimeFormatter(0n);
  const write = decodeFileSystemEvent(
    record(
      FileSystemKind.write,
      FileSystemFlag.compat | FileSystemFlag.inode | FileSystemFlag.killed,
      181,
      (8 << 20) | 1,
      123n,
      "/etc/hosts",
    ),
    0,
    time,
  );
  assert.equal(write.kind, "write");
  assert.equal(write.via, "compat");
  assert.equal(write.call, "pwrite64");
  assert.equal(write.by_inode, true);
  assert.deepEqual(write.inode, { dev: "8:1", ino: 123 });
  assert.deepEqual(write.flags, ["O_WRONLY"]);
  const open = decodeFileSystemEvent(
    record(FileSystemKind.open, 0, 257, 0, 0n, "/x"),
    0,
    time,
  );
  assert.equal(open.via, "syscall");
  assert.equal(open.call, "openat");
  assert.equal(open.by_inode, undefined);
  assert.equal(open.inode, undefined);
  const lsm = decodeFileSystemEvent(
    record(FileSystemKind.open, 0, 0, 0, 0n, "/x"),
    0,
    time,
  );
  assert.equal(lsm.via, undefined, "a BPF LSM refusal names no call");
});

Deno.test("callName() names calls in their ABI, else gives the number", () => {
  assert.equal(callName("syscall", 1), "write");
  assert.equal(callName("compat", 4), "write");
  assert.equal(callName("compat", 1), 1);
  assert.equal(callName("syscall", 0x40000000 | 2), "open");
  assert.equal(callName("io_uring", 23), "IORING_OP_WRITE");
  assert.equal(callName("io_uring", 99), "IORING_OP_99");
});
