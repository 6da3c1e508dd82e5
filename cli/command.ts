/**
 * What every command shares: the context Stricli runs it in, how its
 * result becomes the exit code, and ringfence's one-line messages.
 *
 * @module
 */

import type { CommandContext, StricliProcess } from "@stricli/core";

/** What each command runs with: Deno's streams, and its exit code. */
export interface CliContext extends CommandContext {
  readonly process: StricliProcess;
}

/** An error that ends ringfence with a message and an exit code. */
export class Fatal extends Error {
  /** Makes an error whose message is printed and whose code is the exit code. */
  constructor(message: string, readonly code = 2) {
    super(message);
  }
}

/** Prints `ringfence: <message>` on stderr. */
export function log(message: string): void {
  console.error(`ringfence: ${message}`);
}

/**
 * A command's action: it returns the exit code; an error becomes one line
 * on stderr and exit code 2, or a {@linkcode Fatal}'s own code.
 */
export function action<FLAGS, ARGS extends unknown[]>(
  body: (flags: FLAGS, ...args: ARGS) => Promise<number>,
): (this: CliContext, flags: FLAGS, ...args: ARGS) => Promise<void> {
  return async function (this: CliContext, flags: FLAGS, ...args: ARGS) {
    try {
      this.process.exitCode = await body(flags, ...args);
    } catch (error) {
      log((error as Error).message.split("\n")[0]);
      this.process.exitCode = error instanceof Fatal ? error.code : 2;
    }
  };
}
