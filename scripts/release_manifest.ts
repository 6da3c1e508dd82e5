/**
 * `deno run -A scripts/release_manifest.ts [DIR]`: writes
 * `action/release.json`, the release the GitHub Action installs and the
 * SHA-256 of each binary, from the `ringfence-<arch>-linux.sha256` files
 * in DIR (default `dist/`). The release workflow commits it into the
 * commit its tag names, so that `uses: ringfence-dev/ringfence@<tag>`
 * installs exactly the binaries built for that tag and refuses others.
 *
 * @module
 */

import { join } from "./_paths.ts";
import { DIST, ROOT } from "./_dist.ts";
import { VERSION } from "../version.ts";

/** The manifest: the release tag and the digest of each binary. */
export interface ReleaseManifest {
  version: string;
  sha256: Record<string, string>;
}

/** The manifest from the `.sha256` files (sha256sum's format) in `dir`. */
export function manifestFrom(
  dir: string,
  version = `v${VERSION}`,
): ReleaseManifest {
  const sha256: Record<string, string> = {};
  for (const entry of Deno.readDirSync(dir)) {
    const match = /^(ringfence-(?:x86_64|aarch64)-linux)\.sha256$/.exec(
      entry.name,
    );
    if (!match) continue;
    const text = Deno.readTextFileSync(join(dir, entry.name));
    const digest = /^([0-9a-fA-F]{64})\b/.exec(text)?.[1];
    if (!digest) throw new Error(`${entry.name} holds no SHA-256 digest`);
    sha256[match[1]] = digest.toLowerCase();
  }
  if (!Object.keys(sha256).length) {
    throw new Error(`no ringfence-<arch>-linux.sha256 in ${dir}`);
  }
  return { version, sha256: Object.fromEntries(Object.entries(sha256).sort()) };
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? DIST;
  const version = Deno.env.get("RINGFENCE_RELEASE_TAG") || `v${VERSION}`;
  const manifest = manifestFrom(dir, version);
  const path = join(ROOT, "action", "release.json");
  Deno.writeTextFileSync(path, JSON.stringify(manifest, null, 2) + "\n");
  console.log(`wrote action/release.json for ${version}`);
}
