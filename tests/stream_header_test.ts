/**
 * bpf/lib/header_words.h, the eight-bytes-at-a-time match of HTTP header
 * names that sensor.network's stream check uses (lib/stream.h), compiled
 * natively with clang around a reader of a plain buffer, against a byte at
 * a time with the case folded for letters alone: the names exactly, in any
 * case, and near misses (a letter's case bit on a non-letter, one bit
 * flipped, bytes past the name) not.
 */
import assert from "node:assert/strict";
import { random } from "./helpers/fixture.ts";
import { ROOT } from "./helpers/kernel.ts";

const HARNESS = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint64_t __u64;
typedef uint8_t __u8;
#include "header_words.h"

static __u8 buf[64];
static __u64 read_word(__u8 *b, unsigned pos)
{
	__u64 w;
	memcpy(&w, b + pos, 8);
	return w;
}

int main(int argc, char **argv)
{
	char line[128];
	FILE *cases = argc > 1 ? fopen(argv[1], "r") : NULL;

	if (!cases)
		return 1;
	/* each line: hex bytes of a header line; prints three 0/1 */
	while (fgets(line, sizeof(line), cases)) {
		unsigned n = 0, v;
		memset(buf, 0, sizeof(buf));
		for (char *p = line; n < 40 && sscanf(p, "%2x", &v) == 1; p += 2)
			buf[n++] = v;
		printf("%d%d%d\n", HDR_IS(read_word, buf, 0, "host:"),
		       HDR_IS(read_word, buf, 0, "content-length:"),
		       HDR_IS(read_word, buf, 0, "transfer-encoding:"));
	}
	return 0;
}
`;

const NAMES = ["host:", "content-length:", "transfer-encoding:"];

/** The byte-at-a-time rule: letters folded to lowercase, the rest as is. */
function startsWith(bytes: Uint8Array, name: string): boolean {
  for (let index = 0; index < name.length; index++) {
    const byte = bytes[index];
    const folded = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
    if (folded !== name.charCodeAt(index)) return false;
  }
  return true;
}

Deno.test("header names match eight bytes at a time as a byte at a time does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/harness.c`, HARNESS);
    const built = await new Deno.Command("clang", {
      args: [
        "-O2",
        "-I",
        `${ROOT}bpf/lib`,
        "-o",
        `${dir}/harness`,
        `${dir}/harness.c`,
      ],
      stderr: "piped",
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));

    // Cases: each name in random case, with near misses, then other bytes.
    const next = random(0x2545f491);
    const cases: Uint8Array[] = [];
    const literal = (text: string) =>
      cases.push(new TextEncoder().encode(text.padEnd(40, "\0")));
    for (
      const text of [
        "Host: a",
        "HOST:",
        "hOsT:",
        "host;",
        "host\x1a",
        "Content-Length: 3",
        "content\rlength:",
        "CONTENT-LENGTH:",
        "Transfer-Encoding: chunked",
        "transfer-encodin:",
        "transfer\rencoding:",
      ]
    ) literal(text);
    for (let round = 0; round < 30_000; round++) {
      const name = NAMES[round % NAMES.length];
      const bytes = new Uint8Array(40);
      for (let index = 0; index < bytes.length; index++) {
        bytes[index] = index < name.length ? name.charCodeAt(index) : next(256);
      }
      for (let index = 0; index < name.length; index++) {
        const kind = next(10);
        if (kind === 0) bytes[index] ^= 0x20;
        else if (kind === 1) bytes[index] ^= 1 << next(8);
        else if (kind === 2) bytes[index] = next(256);
      }
      cases.push(bytes);
    }
    const hex = (bytes: Uint8Array) =>
      [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(
      `${dir}/cases`,
      cases.map(hex).join("\n") + "\n",
    );
    const output = await new Deno.Command(`${dir}/harness`, {
      args: [`${dir}/cases`],
      stdout: "piped",
    }).output();
    assert.ok(output.success);
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    assert.equal(lines.length, cases.length);
    let matched = 0;
    for (const [index, bytes] of cases.entries()) {
      const want = NAMES.map((name) => startsWith(bytes, name) ? "1" : "0")
        .join("");
      assert.equal(lines[index], want, `case ${index}: ${hex(bytes)}`);
      if (want !== "000") matched++;
    }
    // both sides of the rule are exercised
    assert.ok(matched > 1000 && matched < cases.length - 1000, `${matched}`);
    assert.equal(
      lines.slice(0, 11).join(" "),
      "100 100 100 000 000 010 000 010 001 000 000",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
