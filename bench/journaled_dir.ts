/**
 * A directory on an ext4 with a journal, for the workloads that create and
 * unlink files in a loop. A hosted runner's disk is one; this machine kind's
 * root file system is an ext4 without a journal, where the kernel gives no
 * new file the inode of one deleted in the last minute or so
 * (`find_inode_bit()` asks `recently_deleted()` when there is no journal):
 * every create walks past the inodes that the loops before it deleted, and
 * a storm's loops get slower as the bench goes on, whoever runs them
 * (docs/performance.md has the figures). On a journaled ext4 the same loop
 * takes the same time every run.
 *
 * The file system is a sparse image under the system's temp directory,
 * mounted through a loop device. Where that cannot be made (no
 * `mkfs.ext4`, no loop devices, not root), the directory is a plain temp
 * directory and `where` says why.
 *
 * @module
 */

/** A directory to work in and what it is on. */
export interface WorkDir {
  /** Its canonical path (the sensors report canonical paths). */
  path: string;
  /** What it is on, for the bench's table. */
  where: string;
  /** Unmounts and removes it. */
  close(): Promise<void>;
}

const IMAGE_BYTES = 1024 * 1024 * 1024;

async function run(command: string, args: string[]): Promise<string | null> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "piped",
    }).output();
    return output.success
      ? null
      : `${command}: ${new TextDecoder().decode(output.stderr).trim()}`;
  } catch (error) {
    return `${command}: ${error instanceof Error ? error.message : error}`;
  }
}

/** A fresh directory on a journaled ext4, or a plain temp dir with why not. */
export async function journaledDir(prefix: string): Promise<WorkDir> {
  const base = await Deno.makeTempDir({ prefix });
  const image = `${base}.ext4`;
  const mount = `${base}/fs`;
  const removeAll = async () => {
    await Deno.remove(base, { recursive: true }).catch(() => {});
    await Deno.remove(image).catch(() => {});
  };
  await Deno.mkdir(mount);
  const file = await Deno.open(image, { write: true, create: true });
  try {
    await file.truncate(IMAGE_BYTES);
  } finally {
    file.close();
  }
  const failed = await run("mkfs.ext4", ["-q", "-F", "-j", image]) ??
    await run("mount", ["-o", "loop", image, mount]);
  if (failed) {
    await Deno.remove(image).catch(() => {});
    await Deno.remove(mount);
    return {
      path: await Deno.realPath(base),
      where: `the temp directory (no journaled ext4: ${failed})`,
      close: removeAll,
    };
  }
  return {
    path: await Deno.realPath(mount),
    where: "a journaled ext4 (loop device)",
    close: async () => {
      const failed = await run("umount", [mount]);
      if (failed) console.error(`bench: ${failed}`);
      await removeAll();
    },
  };
}
