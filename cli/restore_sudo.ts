/**
 * `ringfence restore-sudo`: gives back the sudo rights that an agent with
 * `runner.sudo: deny` took away and could not give back itself (it was
 * killed or died). The job-completed hook runs it after the agent has
 * gone; `ringfence stop` does the same.
 *
 * @module
 */

import { giveBackAbandoned, restoredLine } from "../agent/sudo.ts";
import { log } from "./command.ts";

/**
 * Gives back every user's sudo rights whose taker is no longer running,
 * saying so for each; false when something could not be given back.
 */
export function restoreAbandonedSudo(): boolean {
  try {
    const results = giveBackAbandoned();
    for (const result of results) log(restoredLine(result, true));
    return results.every((result) => result.kept.length === 0);
  } catch (error) {
    log(`cannot give sudo back: ${(error as Error).message}`);
    return false;
  }
}

/** The command: 0, or 1 when something could not be given back. */
export function restoreSudo(): Promise<number> {
  return Promise.resolve(restoreAbandonedSudo() ? 0 : 1);
}
