/**
 * The `yaml` package, loaded from its ECMAScript-module build.
 *
 * `yaml`'s package.json sends Node-like runtimes, Deno among them, to its
 * CommonJS build, and loading that starts Deno's Node compatibility layer
 * at every start of the agent. The ESM build, the package's `default`
 * export condition, is the same parser with no Node dependency. The types
 * are the package's own.
 *
 * @module
 */

// @ts-types="../node_modules/yaml/dist/index.d.ts"
export * from "../node_modules/yaml/browser/index.js";
