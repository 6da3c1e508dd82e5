/**
 * `${VAR}` expansion in policy strings. `${VAR:-default}` gives a default
 * when VAR is unset or empty, and `$${` stands for a literal `${`. An
 * unset or empty variable without a default is an error, with its offset
 * in the string, so that a secret that is missing at start is not sent as
 * "" and `${WORKSPACE}/**` never becomes `/**`.
 *
 * @module
 */

/** An undefined variable; `index` is where its `${` starts in the string. */
export class EnvError extends Error {
  constructor(readonly variable: string, readonly index: number) {
    super(`environment variable ${variable} is not set`);
    this.name = "EnvError";
  }
}

const PATTERN = /\$\$\{|\$\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${NAME}` and `${NAME:-default}` in `text` from `env`.
 *
 * @throws {EnvError} for an unset variable without a default, or a
 *   malformed reference (`${}`, `${1X}`).
 */
export function expandEnv(
  text: string,
  env: (name: string) => string | undefined,
): string {
  return text.replace(PATTERN, (match, body: string | undefined, index) => {
    if (body === undefined) return "${"; // `$${`
    const split = body.indexOf(":-");
    const name = split === -1 ? body : body.slice(0, split);
    if (!NAME.test(name)) {
      throw Object.assign(new EnvError(name, index), {
        message: `invalid variable reference ${JSON.stringify(match)}`,
      });
    }
    const value = env(name);
    if (split !== -1) return value ? value : body.slice(split + 2);
    if (value === undefined) throw new EnvError(name, index);
    if (value === "") {
      // `${GITHUB_WORKSPACE}/**` with an empty variable is `/**`.
      throw Object.assign(new EnvError(name, index), {
        message: `environment variable ${name} is empty (give a default: ` +
          `\${${name}:-...})`,
      });
    }
    return value;
  });
}
