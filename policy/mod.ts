/**
 * The ringfence policy: the YAML file that says which processes are
 * watched and where they may connect, validated into a {@link Policy},
 * compiled into the sensor's kernel maps, and suggested from an audit run.
 *
 * ```ts
 * import { compileAllowList, loadPolicy } from "./policy/mod.ts";
 *
 * const policy = await loadPolicy("policy/default.yaml");
 * const { v4, v6, domains } = compileAllowList(policy.network);
 * ```
 *
 * @module
 */

export * from "./schema.ts";
export * from "./parse.ts";
export * from "./network.ts";
export * from "./suggest.ts";
