/**
 * `enum install_script_rule` (bpf/lib/install_scripts.h): how
 * dependencies.install_scripts reaches sensor.network and
 * sensor.file-system, as bits of their configs' `install_scripts`.
 *
 * @module
 */

/** The bits of `install_scripts` in `network_config` and `file_system_config`. */
export const InstallScriptRule = {
  /** No connection or send at all; loopback as `network.loopback` says. */
  networkDeny: 1,
  /** `network.allow`, with DNS queries held to the allowed names. */
  networkAllowList: 2,
  /** Secret reads and protected writes are violations. */
  filesProtect: 4,
  /** Every violation kills the script. */
  actionKill: 8,
  /** Block mode: violations are enforced, not only reported. */
  enforce: 16,
} as const;
