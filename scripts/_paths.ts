/**
 * Path helpers for scripts, from Node's built-ins (jsr's @std/path cannot be
 * installed here).
 *
 * @module
 */
export { basename, dirname, join, resolve } from "node:path";
export { fileURLToPath as fromFileUrl } from "node:url";
