// Installs the ringfence binary the action is pinned to: the version and
// SHA-256 per architecture in action/release.json, written by the release
// workflow (scripts/release_manifest.ts) into the commit the action's tag
// names. The download (from `base-url`, or the GitHub release of that
// version) is refused unless its digest is the pinned one. `version:
// latest` or another tag is installed only when asked for, checked against
// the .sha256 published beside it.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACTION_ROOT, runAsRoot } from "./common.mjs";

/** Where the releases are. */
export const RELEASES = "https://github.com/ringfence-dev/ringfence/releases";

/** The release manifest shipped with the action. */
export const MANIFEST = join(ACTION_ROOT, "action", "release.json");

/** An install that cannot go on: `message` is one line. */
export class InstallError extends Error {}

/** The release asset for this machine. */
export function assetName(arch = process.arch) {
  const names = { x64: "x86_64", arm64: "aarch64" };
  if (!names[arch]) {
    throw new InstallError(
      `no ringfence build for ${arch} (there are x86_64 and aarch64)`,
    );
  }
  return `ringfence-${names[arch]}-linux`;
}

/** The manifest: `{version, sha256: {asset: hex}}`, or undefined. */
export function readManifest(path = MANIFEST) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(text);
  if (typeof manifest.version !== "string" || !manifest.sha256) {
    throw new InstallError(`${path}: no version and sha256 in it`);
  }
  return manifest;
}

/**
 * What to download: `{url, version, sha256?}` (sha256 undefined: the
 * .sha256 beside the asset decides). `version` is the input: empty for
 * the pinned one.
 */
export function resolveRelease({ version, baseUrl, asset, manifest }) {
  if (!version) {
    if (!manifest) {
      throw new InstallError(
        "this copy of the action has no pinned release (action/release.json): give `binary`, or `version` (a tag, or `latest`)",
      );
    }
    const sha256 = manifest.sha256[asset];
    if (!/^[0-9a-f]{64}$/.test(sha256 ?? "")) {
      throw new InstallError(
        `action/release.json pins no checksum for ${asset} of ${manifest.version}`,
      );
    }
    const base = baseUrl || `${RELEASES}/download/${manifest.version}`;
    return { url: `${base}/${asset}`, version: manifest.version, sha256 };
  }
  const pinned = manifest?.version === version
    ? manifest.sha256[asset]
    : undefined;
  const base = baseUrl ||
    (version === "latest"
      ? `${RELEASES}/latest/download`
      : `${RELEASES}/download/${version}`);
  return { url: `${base}/${asset}`, version, sha256: pinned };
}

async function download(url) {
  let response;
  try {
    response = await fetch(url, { redirect: "follow" });
  } catch (error) {
    throw new InstallError(
      `cannot download ${url}: ${error.cause?.message ?? error.message}`,
    );
  }
  if (!response.ok) {
    throw new InstallError(`cannot download ${url}: HTTP ${response.status}`);
  }
  return Buffer.from(await response.arrayBuffer());
}

/** The hex SHA-256 of bytes. */
export function sha256Hex(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Downloads, checks and installs the binary as `<prefix>/ringfence`
 * (root's, through scripts/install.sh, which checks the digest again).
 * Returns `{path, version, sha256}`.
 *
 * @throws {InstallError} on a failed download or a checksum mismatch;
 *   nothing is installed then.
 */
export async function installRelease({ version, baseUrl, prefix }) {
  const asset = assetName();
  const release = resolveRelease({
    version,
    baseUrl,
    asset,
    manifest: readManifest(),
  });
  const bytes = await download(release.url);
  let expected = release.sha256;
  if (!expected) {
    const text = (await download(`${release.url}.sha256`)).toString("utf8");
    expected = /^([0-9a-fA-F]{64})\b/.exec(text)?.[1]?.toLowerCase();
    if (!expected) {
      throw new InstallError(`${release.url}.sha256 holds no SHA-256 digest`);
    }
  }
  const actual = sha256Hex(bytes);
  if (actual !== expected) {
    throw new InstallError(
      `checksum mismatch for ${release.url}: expected ${expected}${
        release.sha256 ? " (pinned in action/release.json)" : ""
      }, got ${actual}; nothing was installed`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "ringfence-download-"));
  try {
    const file = join(dir, asset);
    writeFileSync(file, bytes, { mode: 0o644 });
    const status = runAsRoot(
      join(ACTION_ROOT, "scripts", "install.sh"),
      ["--from", file, "--sha256", expected, "--prefix", prefix],
      {},
    );
    if (status !== 0) {
      throw new InstallError(`installing ${file} into ${prefix} failed`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    path: join(prefix, "ringfence"),
    version: release.version,
    sha256: actual,
  };
}
