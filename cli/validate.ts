/**
 * `ringfence validate FILE`: parses a policy as an agent would, and reports
 * the first problem.
 *
 * @module
 */

import { loadPolicy } from "../policy/parse.ts";
import { Fatal } from "./command.ts";

/** Prints `FILE: ok`, or throws the first problem with exit code 1. */
export async function validate(file: string): Promise<number> {
  try {
    await loadPolicy(file);
  } catch (error) {
    throw new Fatal((error as Error).message, 1);
  }
  console.log(`${file}: ok`);
  return 0;
}
