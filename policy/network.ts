/**
 * The `network` section's entries: allow rules (`github.com:443`,
 * `*.npmjs.org`, `140.82.112.0/20`, `[2606:50c0::]/32:443`, ...) and DNS
 * resolvers, plus matching them and compiling the allow list.
 *
 * Errors here are plain `Error`s with a short reason; `parsePolicy()` adds
 * the file, line and column.
 *
 * @module
 */

import { isV4Mapped, maskAddress, parseAddress } from "./address.ts";
import type {
  AllowRule,
  CidrRule,
  DomainRule,
  ResolverSpec,
} from "./schema.ts";

export {
  formatRange,
  isV4Mapped,
  maskAddress,
  parseAddress,
  type ParsedAddress,
} from "./address.ts";
export {
  AllowListError,
  compileAllowList,
  type CompiledAllowList,
  LOOPBACK_RULES,
  type LpmEntry,
  MAX_PORTS_PER_PREFIX,
} from "./lpm.ts";

/** The DNS port a resolver gets when none is written. */
export const DNS_PORT = 53;

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const LABEL = /^[a-z0-9_-]{1,63}$/;

/** The suffix by which a domain rule allows UDP as well as TCP. */
const UDP_SUFFIX = "/udp";

/**
 * Parses one `network.allow` entry: a domain (`example.com`), a wildcard
 * (`*.example.com`), an address or CIDR (`10.1.2.3`, `140.82.112.0/20`,
 * `::1`), each optionally followed by `:port`. An IPv6 address or CIDR
 * needs brackets before a port: `[2606:50c0::]/32:443`. A domain rule
 * ending in `/udp` (`quic.example.com:443/udp`) allows UDP too.
 *
 * @throws {Error} with a short reason when the entry is invalid.
 */
export function parseAllowRule(text: string): AllowRule {
  const udp = text.endsWith(UDP_SUFFIX);
  const { host, bracketed, prefix, port } = splitEndpoint(
    udp ? text.slice(0, -UDP_SUFFIX.length) : text,
  );
  if (bracketed || prefix !== undefined || looksLikeAddress(host)) {
    if (udp) {
      throw new Error(
        'only a domain rule takes "/udp": an address rule allows TCP and UDP',
      );
    }
    return { kind: "cidr", ...parseRange(host, bracketed, prefix), port, text };
  }
  return { kind: "domain", ...parseDomain(host), port, udp, text };
}

/**
 * Parses one `network.dns.resolvers` entry: `system`, or an IP address
 * with an optional port in the allow-rule syntax (`1.1.1.1:53`,
 * `[2606:4700:4700::1111]:53`).
 *
 * @throws {Error} with a short reason when the entry is invalid.
 */
export function parseResolver(text: string): ResolverSpec {
  if (text === "system") return { kind: "system" };
  const { host, bracketed, prefix, port } = splitEndpoint(text);
  if (prefix !== undefined) {
    throw new Error("a resolver is a single address, not a range");
  }
  if (!bracketed && !looksLikeAddress(host)) {
    throw new Error('a resolver must be "system" or an IP address');
  }
  const range = parseRange(host, bracketed, undefined);
  return {
    kind: "address",
    family: range.family,
    address: range.address,
    port: port ?? DNS_PORT,
  };
}

/**
 * Whether `name` is covered by a domain rule, ignoring case and a trailing
 * dot. `*.example.com` covers `a.example.com` and `a.b.example.com` but not
 * `example.com`. Ports are not considered.
 */
export function matchDomain(rule: DomainRule, name: string): boolean {
  let candidate = name.toLowerCase();
  if (candidate.endsWith(".")) candidate = candidate.slice(0, -1);
  if (!rule.wildcard) return candidate === rule.name;
  const suffix = `.${rule.name}`;
  return candidate.length > suffix.length && candidate.endsWith(suffix);
}

interface Endpoint {
  host: string;
  bracketed: boolean;
  prefix: string | undefined;
  port: number | null;
}

/** Splits `host[/prefix][:port]` or `[v6][/prefix][:port]`. */
function splitEndpoint(text: string): Endpoint {
  if (text === "") throw new Error("empty entry");
  if (/\s/.test(text)) throw new Error("contains whitespace");
  let host: string;
  let rest: string;
  const bracketed = text.startsWith("[");
  if (bracketed) {
    const close = text.indexOf("]");
    if (close < 0) throw new Error('missing "]"');
    host = text.slice(1, close);
    rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith("/") && !rest.startsWith(":")) {
      throw new Error(`unexpected "${rest}" after "]"`);
    }
  } else {
    // Two or more colons can only be a bare IPv6 address, which is why a
    // port after one needs brackets: "::1:53" is itself an address.
    const colons = text.split(":").length - 1;
    const hostEnd = colons === 1 ? text.indexOf(":") : text.length;
    const slash = text.indexOf("/");
    const cut = slash >= 0 && slash < hostEnd ? slash : hostEnd;
    host = text.slice(0, cut);
    rest = text.slice(cut);
  }
  let prefix: string | undefined;
  let portText: string | undefined;
  if (rest.startsWith("/")) {
    const colon = rest.indexOf(":");
    prefix = rest.slice(1, colon < 0 ? undefined : colon);
    rest = colon < 0 ? "" : rest.slice(colon);
  }
  if (rest.startsWith(":")) portText = rest.slice(1);
  if (host === "") throw new Error("missing host");
  if (!bracketed && portText !== undefined && host.includes(":")) {
    throw new Error(
      "an IPv6 address needs brackets before a port, as in [2001:db8::1]:443",
    );
  }
  return { host, bracketed, prefix, port: parsePort(portText) };
}

function parsePort(text: string | undefined): number | null {
  if (text === undefined) return null;
  if (text === "") throw new Error('missing port after ":"');
  const port = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new Error(`invalid port "${text}" (expected 1-65535)`);
  }
  return port;
}

/**
 * An IPv6 address always has a colon; anything whose last label is all
 * digits is a mistyped IPv4 address, since no top-level domain is numeric
 * (RFC 3696 2) and "10.1.2.300" must not silently become a domain rule.
 */
function looksLikeAddress(host: string): boolean {
  return host.includes(":") || /(^|\.)[0-9]+\.?$/.test(host);
}

function parseRange(
  host: string,
  bracketed: boolean,
  prefix: string | undefined,
): Pick<CidrRule, "family" | "address" | "prefixLength"> {
  const parsed = parseAddress(host);
  if (bracketed && parsed?.family !== 6) {
    if (host.includes("/")) {
      throw new Error(
        "write the prefix after the brackets, as in [2001:db8::]/32:443",
      );
    }
    if (parsed) throw new Error("brackets are only for IPv6 addresses");
  }
  if (!parsed) {
    const family = bracketed || host.includes(":")
      ? "IPv6"
      : looksLikeAddress(host)
      ? "IPv4"
      : "IP";
    throw new Error(`invalid ${family} address "${host}"`);
  }
  const { family } = parsed;
  const bits = family === 4 ? 32 : 128;
  const prefixLength = prefix === undefined ? bits : parsePrefix(prefix, bits);
  const address = maskAddress(parsed.address, prefixLength);
  // The kernel sees an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d,
  // and the sensor folds that into the IPv4 lookup; storing such rules as
  // IPv4 makes either spelling match the same entry.
  if (family === 6 && prefixLength >= 96 && isV4Mapped(address)) {
    return {
      family: 4,
      address: address.slice(12),
      prefixLength: prefixLength - 96,
    };
  }
  return { family, address, prefixLength };
}

function parsePrefix(text: string, bits: number): number {
  const value = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(value <= bits)) {
    throw new Error(`invalid prefix length "/${text}" (expected 0-${bits})`);
  }
  return value;
}

function parseDomain(host: string): Pick<DomainRule, "name" | "wildcard"> {
  let name = host.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  const wildcard = name.startsWith("*.");
  if (wildcard) name = name.slice(2);
  if (name.includes("*") || name === "") {
    throw new Error(
      'a wildcard must be a single leading "*." followed by a domain, ' +
        "as in *.example.com",
    );
  }
  checkDomainName(name);
  return { name, wildcard };
}

function checkDomainName(name: string): void {
  if (name.length > 253) {
    throw new Error(`domain name is ${name.length} characters (at most 253)`);
  }
  for (const label of name.split(".")) {
    if (label === "") throw new Error("empty label in domain name");
    if (label.length > 63) {
      throw new Error(`label "${label}" is longer than 63 characters`);
    }
    if (!LABEL.test(label)) {
      // deno-lint-ignore no-control-regex
      const hint = /[^\x00-\x7f]/.test(label)
        ? " (write internationalised names in their xn-- form)"
        : "";
      throw new Error(
        `label "${label}" may only contain a-z, 0-9, "-" and "_"${hint}`,
      );
    }
    if (label.startsWith("-") || label.endsWith("-")) {
      throw new Error(`label "${label}" starts or ends with "-"`);
    }
  }
}
