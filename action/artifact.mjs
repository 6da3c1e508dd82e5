// Uploads files as one workflow artifact with the Actions artifact
// protocol (v4), in plain Node: the files are zipped, then
//   1. POST {ACTIONS_RESULTS_URL}/twirp/github.actions.results.api.v1.
//      ArtifactService/CreateArtifact  -> a signed upload URL,
//   2. PUT the zip to that URL as a block blob,
//   3. POST .../FinalizeArtifact with its size and SHA-256.
// Both calls carry ACTIONS_RUNTIME_TOKEN, whose `scp` claim names the
// workflow run's and job's backend ids ("Actions.Results:RUN:JOB").
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { deflateRawSync } from "node:zlib";

const SERVICE = "twirp/github.actions.results.api.v1.ArtifactService";

/** An upload that failed; `message` is one line. */
export class ArtifactError extends Error {}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zip format's). */
export function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A zip archive of `entries` ([{name, data}]), deflated, without zip64
 * (each file and the whole under 4 GiB).
 */
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  const now = new Date();
  const time = (now.getHours() << 11) | (now.getMinutes() << 5) |
    (now.getSeconds() >> 1);
  const date = ((now.getFullYear() - 1980) << 9) |
    ((now.getMonth() + 1) << 5) | now.getDate();
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, "utf8");
    const compressed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: Unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, compressed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** The run's and job's backend ids from the runtime token's `scp` claim. */
export function backendIds(token) {
  const payload = token.split(".")[1];
  let claims;
  try {
    claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString());
  } catch {
    throw new ArtifactError("ACTIONS_RUNTIME_TOKEN is not a JWT");
  }
  for (const scope of String(claims.scp ?? "").split(" ")) {
    const parts = scope.split(":");
    if (parts[0] === "Actions.Results" && parts.length === 3) {
      return {
        workflowRunBackendId: parts[1],
        workflowJobRunBackendId: parts[2],
      };
    }
  }
  throw new ArtifactError(
    "ACTIONS_RUNTIME_TOKEN names no Actions.Results scope (no workflow run to attach the artifact to)",
  );
}

async function twirp(base, token, method, body) {
  const url = `${base.replace(/\/+$/, "")}/${SERVICE}/${method}`;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "user-agent": "ringfence-action",
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new ArtifactError(
      `${method}: ${error.cause?.message ?? error.message}`,
    );
  }
  const text = await response.text();
  if (!response.ok) {
    let why = text.slice(0, 200);
    try {
      why = JSON.parse(text).msg ?? why;
    } catch { /* not JSON */ }
    throw new ArtifactError(`${method}: HTTP ${response.status} ${why}`);
  }
  return JSON.parse(text);
}

/**
 * Uploads `files` (paths; missing ones are left out) as the artifact
 * `name`. `env` holds ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN.
 * Returns `{id, size, sha256, files}`.
 *
 * @throws {ArtifactError} when any call fails.
 */
export async function uploadArtifact(name, files, env = process.env) {
  const base = env.ACTIONS_RESULTS_URL;
  const token = env.ACTIONS_RUNTIME_TOKEN;
  if (!base || !token) {
    throw new ArtifactError(
      "ACTIONS_RESULTS_URL or ACTIONS_RUNTIME_TOKEN is not set: the runner gives them to actions only",
    );
  }
  const entries = [];
  for (const path of files) {
    try {
      entries.push({ name: basename(path), data: readFileSync(path) });
    } catch { /* not written: left out */ }
  }
  if (!entries.length) throw new ArtifactError("none of the files exist");
  const archive = zip(entries);
  const sha256 = createHash("sha256").update(archive).digest("hex");
  const ids = backendIds(token);
  const ident = {
    workflow_run_backend_id: ids.workflowRunBackendId,
    workflow_job_run_backend_id: ids.workflowJobRunBackendId,
    name,
  };
  const created = await twirp(base, token, "CreateArtifact", {
    ...ident,
    version: 4,
  });
  const uploadUrl = created.signed_upload_url ?? created.signedUploadUrl;
  if (!created.ok || !uploadUrl) {
    throw new ArtifactError("CreateArtifact: the service gave no upload URL");
  }
  let put;
  try {
    put = await fetch(uploadUrl, {
      method: "PUT",
      headers: {
        "x-ms-blob-type": "BlockBlob",
        "content-type": "application/zip",
        "content-length": String(archive.length),
      },
      body: archive,
      signal: AbortSignal.timeout(300_000),
    });
  } catch (error) {
    throw new ArtifactError(
      `uploading the zip: ${error.cause?.message ?? error.message}`,
    );
  }
  if (!put.ok) {
    throw new ArtifactError(`uploading the zip: HTTP ${put.status}`);
  }
  const finalized = await twirp(base, token, "FinalizeArtifact", {
    ...ident,
    size: String(archive.length),
    hash: `sha256:${sha256}`,
  });
  if (!finalized.ok) {
    throw new ArtifactError("FinalizeArtifact: the service did not accept it");
  }
  return {
    id: String(finalized.artifact_id ?? finalized.artifactId ?? ""),
    size: archive.length,
    sha256,
    files: entries.map((entry) => entry.name),
  };
}
