/**
 * `--ui ADDRESS` of `run` and `start`: the live view of the job in a
 * browser. The agent serves the page (report/html.ts `renderLivePage`) at
 * `/` and its events at `/events` (exporters/http.ts, bearer token), with
 * the events so far replayed to a page opened late. Loopback only unless
 * `--ui-public`: the stream shows every process, file and connection of
 * the job. The token comes from `--ui-token` or `$RINGFENCE_UI_TOKEN`,
 * else a random one, printed once on stderr in the page's URL.
 *
 * @module
 */

import type { HttpExporter } from "../exporters/http.ts";
import type { ListenAddress } from "../policy/schema.ts";
import { Fatal } from "./command.ts";

/** The flags of the live view. */
export interface UiFlags {
  /** `host:port`, `[v6]:port` or a port (loopback) to serve the view on. */
  ui?: string;
  /** The bearer token (default `$RINGFENCE_UI_TOKEN`, else random). */
  uiToken?: string;
  /** Allow an address other than loopback. */
  uiPublic?: boolean;
}

/** Events a page opened late is sent before the live ones. */
const REPLAY = 20_000;

/** Whether `hostname` names this host's loopback only. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Reads `--ui`: `host:port`, `[v6]:port` or a bare port (127.0.0.1).
 * @throws {Fatal} on a malformed address, or one not on loopback without
 * `public`.
 */
export function parseUiAddress(text: string, public_ = false): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d+)$/.exec(text) ??
    /^()()(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new Fatal(
      `--ui must be host:port, [IPv6]:port or a port (got ${
        JSON.stringify(text)
      })`,
    );
  }
  const hostname = match[1] || match[2] || "127.0.0.1";
  if (!public_ && !isLoopback(hostname)) {
    throw new Fatal(
      `--ui ${text}: not a loopback address; the live view shows the whole job, add --ui-public to serve it there`,
    );
  }
  return { hostname, port };
}

/** A random token: 128 bits, hex. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Binds the live view's server when `--ui` is given (before the sensors
 * load, so that a bad address or a port in use fails at once) and prints
 * its URL on stderr.
 * @throws {Fatal} when the address is bad or cannot be bound.
 */
export async function openUi(
  flags: UiFlags,
  log: (message: string) => void,
): Promise<HttpExporter | undefined> {
  if (flags.ui === undefined) return undefined;
  const listen = parseUiAddress(flags.ui, flags.uiPublic);
  const given = flags.uiToken ?? Deno.env.get("RINGFENCE_UI_TOKEN");
  if (given !== undefined && !given.trim()) {
    throw new Fatal("--ui-token: empty token");
  }
  const token = given?.trim() ?? randomToken();
  // Loaded only with --ui: the page carries the whole front end.
  const [{ HttpExporter }, { renderLivePage }] = await Promise.all([
    import("../exporters/http.ts"),
    import("../report/html.ts"),
  ]);
  let server: HttpExporter;
  try {
    server = new HttpExporter({
      listen,
      token,
      replay: REPLAY,
      pages: { "/": renderLivePage({ eventsPath: "/events" }) },
      label: "live view",
    });
  } catch (error) {
    throw new Fatal((error as Error).message);
  }
  // The given token is the caller's: not repeated into logs.
  const fragment = given === undefined ? token : "<your --ui-token>";
  log(`live view: http://${server.address}/#token=${fragment}`);
  return server;
}
