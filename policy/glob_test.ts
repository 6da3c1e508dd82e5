import assert from "node:assert/strict";
import { compileGlob, GlobError } from "./glob.ts";

function matches(pattern: string, path: string): boolean {
  return compileGlob(pattern).matches(path);
}

Deno.test("a literal pattern matches only itself", () => {
  assert.equal(matches("/etc/hosts", "/etc/hosts"), true);
  assert.equal(matches("/etc/hosts", "/etc/hosts.allow"), false);
  assert.equal(matches("/etc/hosts", "/etc"), false);
  assert.equal(matches("/a.b", "/aXb"), false, "the dot is literal");
});

Deno.test("* stays within one segment, ? is one character", () => {
  assert.equal(matches("/home/*/.ssh/id_rsa", "/home/ci/.ssh/id_rsa"), true);
  assert.equal(matches("/home/*/.ssh/id_rsa", "/home/a/b/.ssh/id_rsa"), false);
  assert.equal(matches("/tmp/*.log", "/tmp/build.log"), true);
  assert.equal(matches("/tmp/*.log", "/tmp/x/build.log"), false);
  assert.equal(matches("/tmp/?.c", "/tmp/a.c"), true);
  assert.equal(matches("/tmp/?.c", "/tmp/ab.c"), false);
});

Deno.test("** at the end matches one or more segments below", () => {
  assert.equal(matches("/w/**", "/w/a"), true);
  assert.equal(matches("/w/**", "/w/a/b/c"), true);
  assert.equal(matches("/w/**", "/w"), false);
  assert.equal(matches("/w/**", "/wx/a"), false);
});

Deno.test("** at the start or in the middle matches zero or more", () => {
  assert.equal(matches("**/.npmrc", "/.npmrc"), true);
  assert.equal(matches("**/.npmrc", "/home/ci/.npmrc"), true);
  assert.equal(matches("**/.npmrc", "/home/ci/x.npmrc"), false);
  assert.equal(matches("**/.git/config", "/r/.git/config"), true);
  assert.equal(matches("**/.git/config", "/r/git/config"), false);
  assert.equal(matches("/a/**/b", "/a/b"), true);
  assert.equal(matches("/a/**/b", "/a/x/y/b"), true);
  assert.equal(matches("/home/*/.ssh/**", "/home/u/.ssh/keys/id"), true);
});

Deno.test("invalid patterns are refused with a reason", () => {
  for (
    const [pattern, reason] of [
      ["", /empty/],
      ["src/**", /starts with/],
      ["/a//b", /empty path segment/],
      ["/a/", /end with/],
      ["/a/b**", /whole path segment/],
      ["/x/../x/f", /"\.\." segment: .*did you mean "\/x\/f"/],
      ["/x/./f", /"\." segment/],
      ["**/../etc/passwd", /"\.\." segment/],
      ["/x/f\0", /NUL/],
    ] as const
  ) {
    assert.throws(() => compileGlob(pattern), (error: unknown) => {
      assert.ok(error instanceof GlobError);
      assert.match(error.message, reason);
      return true;
    });
  }
});

Deno.test("the literal part: path, prefix, name or none; exact when sure", () => {
  assert.deepEqual(compileGlob("/etc/hosts").literal, {
    kind: "path",
    path: "/etc/hosts",
  });
  assert.deepEqual(compileGlob("/w/**").literal, {
    kind: "prefix",
    prefix: "/w/",
    exact: true,
  });
  assert.deepEqual(compileGlob("/home/*/.ssh/**").literal, {
    kind: "prefix",
    prefix: "/home/",
    exact: false,
  });
  assert.deepEqual(compileGlob("**/xmrig").literal, {
    kind: "name",
    name: "xmrig",
    exact: true,
  });
  assert.deepEqual(compileGlob("**/.git/config").literal, {
    kind: "name",
    name: "config",
    exact: false,
  });
  assert.deepEqual(compileGlob("**/*.pem").literal, { kind: "none" });
});
