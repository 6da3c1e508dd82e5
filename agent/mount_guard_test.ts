import assert from "node:assert/strict";
import { compileGlob } from "../policy/glob.ts";
import type { FileFinding } from "./file_findings.ts";
import {
  MountGuard,
  parseMountInfo,
  topAt,
  touchedPattern,
} from "./mount_guard.ts";

const BASE = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
  "30 27 8:1 /home /mnt/home rw - ext4 /dev/sda1 rw",
  "31 27 0:30 / /run rw - tmpfs tmpfs rw",
].join("\n");

Deno.test("parseMountInfo(): fields, optional fields and escapes", () => {
  const [mount] = parseMountInfo(
    "40 27 8:1 /srv/my\\040dir /mnt/a\\134b rw shared:3 master:1 - ext4 /dev/sda1 rw\n",
  );
  assert.deepEqual(mount, {
    id: 40,
    parent: 27,
    device: "8:1",
    root: "/srv/my dir",
    mountPoint: "/mnt/a\\b",
    fsType: "ext4",
  });
  assert.equal(parseMountInfo("garbage\n\n").length, 0);
});

Deno.test("touchedPattern(): on, under or above a protected path", () => {
  const patterns = ["/srv/keys/**", "/etc/hosts", "**/.git/config"].map(
    compileGlob,
  );
  const text = (path: string) => touchedPattern(patterns, path)?.text;
  assert.equal(text("/srv/keys"), "/srv/keys/**");
  assert.equal(text("/srv/keys/a/b"), "/srv/keys/**");
  assert.equal(text("/srv"), "/srv/keys/**");
  assert.equal(text("/"), "/srv/keys/**");
  assert.equal(text("/etc"), "/etc/hosts");
  assert.equal(text("/etc/hosts"), "/etc/hosts");
  assert.equal(text("/w/.git/config"), "**/.git/config");
  assert.equal(text("/srv/keysx"), undefined);
  assert.equal(text("/etc/ssh"), undefined);
  assert.equal(text("/tmp/x"), undefined);
});

Deno.test("MountGuard: new mounts over and of protected paths; the baseline is not", () => {
  const patterns = ["/srv/keys/**", "/home/ci/.npmrc"].map(compileGlob);
  const found: Omit<FileFinding, "time">[] = [];
  const guard = new MountGuard(
    () => patterns,
    () => false,
    (finding) => found.push(finding),
    parseMountInfo(BASE),
  );
  const now = (...lines: string[]) => () =>
    parseMountInfo([BASE, ...lines].join("\n"));
  assert.deepEqual(guard.check(now()), [], "the baseline");
  guard.reported({ pid: 7, exe: "/usr/bin/mount", step: "evil" }, "/srv/keys");
  guard.reported({ pid: 8, step: "bind" }, "/tmp/elsewhere", "/srv");
  guard.check(now(
    "50 27 0:40 / /srv/keys rw - tmpfs tmpfs rw",
    // A bind of /srv (above the tree) elsewhere.
    "51 27 8:1 /srv /tmp/alias rw - ext4 /dev/sda1 rw",
    // A bind of the file, seen through the /mnt/home mount of /home.
    "52 27 8:1 /home/ci/.npmrc /tmp/npmrc rw - ext4 /dev/sda1 rw",
    // Unrelated: another directory, and a new tmpfs.
    "53 27 8:1 /var/cache /tmp/cache rw - ext4 /dev/sda1 rw",
    "54 27 0:41 / /tmp/scratch rw - tmpfs tmpfs rw",
  ));
  assert.deepEqual(
    found.map(({ path, kind, other_path, pid, step, repaired }) => ({
      path,
      kind,
      other_path,
      pid,
      step,
      repaired,
    })),
    [
      {
        path: "/srv/keys/**",
        kind: "mounted_over",
        other_path: "/srv/keys",
        pid: 7,
        step: "evil",
        repaired: false,
      },
      {
        path: "/srv/keys/**",
        kind: "bind_mounted",
        other_path: "/tmp/alias",
        pid: 8,
        step: "bind",
        repaired: false,
      },
      {
        path: "/home/ci/.npmrc",
        kind: "bind_mounted",
        other_path: "/tmp/npmrc",
        pid: undefined,
        step: undefined,
        repaired: false,
      },
    ],
  );
  assert.match(found[0].detail ?? "", /policy does not enforce/);
  found.length = 0;
  guard.reported({ pid: 8, step: "bind" }, "/tmp/elsewhere", "/srv");
  guard.check(now("50 27 0:40 / /srv/keys rw - tmpfs tmpfs rw"));
  assert.deepEqual(found, [], "each mount is judged once");
});

Deno.test("topAt(): the mount a path shows of those stacked on it", () => {
  const mounts = parseMountInfo([
    "27 1 8:1 / / rw - ext4 /dev/sda1 rw",
    "40 27 0:50 / /etc/hosts rw - tmpfs a rw",
    "41 40 0:51 / /etc/hosts rw - tmpfs b rw",
    "42 27 0:52 / /srv rw - tmpfs c rw",
  ].join("\n"));
  assert.equal(topAt(mounts, "/etc/hosts")?.id, 41);
  assert.equal(topAt(mounts, "/srv")?.id, 42);
  assert.equal(topAt(mounts, "/tmp"), undefined);
});

Deno.test("MountGuard: a mount of the start that goes from a protected path is reported", () => {
  const patterns = ["/etc/hosts"].map(compileGlob);
  const found: Omit<FileFinding, "time">[] = [];
  const base = [
    "27 1 8:1 / / rw - ext4 /dev/sda1 rw",
    "40 27 8:1 /var/lib/hosts /etc/hosts rw - ext4 /dev/sda1 rw",
    "41 27 0:30 / /run rw - tmpfs tmpfs rw",
  ];
  const guard = new MountGuard(
    () => patterns,
    () => false,
    (finding) => found.push(finding),
    parseMountInfo(base.join("\n")),
  );
  guard.check(() => parseMountInfo([base[0]].join("\n")));
  assert.deepEqual(
    found.map(({ path, kind, other_path, repaired }) => ({
      path,
      kind,
      other_path,
      repaired,
    })),
    [{
      path: "/etc/hosts",
      kind: "removed",
      other_path: "/etc/hosts",
      repaired: false,
    }],
    "/run touches nothing protected",
  );
  // The same id again, another file system: a new mount, not the start's.
  found.length = 0;
  guard.check(() =>
    parseMountInfo(
      [base[0], "40 27 0:60 / /etc/hosts rw - tmpfs evil rw"].join("\n"),
    )
  );
  assert.equal(found[0]?.kind, "mounted_over");
});
