/**
 * A local stand-in for the Actions results service's artifact API (v4):
 * Twirp `CreateArtifact` and `FinalizeArtifact` checked against the
 * runtime token, and a signed URL taking the block-blob PUT.
 *
 * @module
 */

const SERVICE = "/twirp/github.actions.results.api.v1.ArtifactService";

/** An artifact the fake service holds. */
export interface FakeArtifact {
  name: string;
  runId: string;
  jobId: string;
  blob?: Uint8Array<ArrayBuffer>;
  blobType?: string;
  finalized?: { size: string; hash: string };
}

/** The runtime token the fake accepts, naming run `run-1` and job `job-2`. */
export function fakeRuntimeToken(): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "");
  return `${part({ alg: "none" })}.${
    part({ scp: "Actions.ExampleScope Actions.Results:run-1:job-2" })
  }.sig`;
}

/** The fake service: its URL, what it holds, and `close()`. */
export function fakeResultsService(): {
  url: string;
  artifacts: Map<string, FakeArtifact>;
  close: () => Promise<void>;
} {
  const artifacts = new Map<string, FakeArtifact>();
  const token = fakeRuntimeToken();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), {
          status,
          headers: { "content-type": "application/json" },
        });
      if (url.pathname.startsWith("/blob/") && request.method === "PUT") {
        const artifact = artifacts.get(
          decodeURIComponent(url.pathname.slice(6)),
        );
        if (!artifact || url.searchParams.get("sig") !== "signed") {
          return new Response("AuthenticationFailed", { status: 403 });
        }
        artifact.blobType = request.headers.get("x-ms-blob-type") ?? undefined;
        artifact.blob = new Uint8Array(await request.arrayBuffer());
        return new Response(null, { status: 201 });
      }
      if (request.headers.get("authorization") !== `Bearer ${token}`) {
        return json(401, { code: "unauthenticated", msg: "bad token" });
      }
      const body = await request.json();
      if (url.pathname === `${SERVICE}/CreateArtifact`) {
        if (body.version !== 4) {
          return json(400, { code: "invalid_argument", msg: "version" });
        }
        if (artifacts.has(body.name)) {
          return json(409, { code: "already_exists", msg: "name taken" });
        }
        artifacts.set(body.name, {
          name: body.name,
          runId: body.workflow_run_backend_id,
          jobId: body.workflow_job_run_backend_id,
        });
        return json(200, {
          ok: true,
          signed_upload_url: `${url.origin}/blob/${
            encodeURIComponent(body.name)
          }?sig=signed`,
        });
      }
      if (url.pathname === `${SERVICE}/FinalizeArtifact`) {
        const artifact = artifacts.get(body.name);
        if (!artifact?.blob) {
          return json(404, { code: "not_found", msg: "no upload" });
        }
        artifact.finalized = { size: body.size, hash: body.hash };
        return json(200, { ok: true, artifact_id: "42" });
      }
      return json(404, { code: "bad_route", msg: url.pathname });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    artifacts,
    close: () => server.shutdown(),
  };
}

/** The files of a zip archive, read with python3's zipfile. */
export async function unzip(
  archive: Uint8Array,
): Promise<Record<string, string>> {
  const output = await new Deno.Command("python3", {
    args: [
      "-c",
      "import sys, zipfile, io, json; z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())); assert z.testzip() is None; print(json.dumps({n: z.read(n).decode() for n in z.namelist()}))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(archive);
  await writer.close();
  const result = await output.output();
  if (!result.success) {
    throw new Error(new TextDecoder().decode(result.stderr));
  }
  return JSON.parse(new TextDecoder().decode(result.stdout));
}
