#!/bin/sh
# ACTIONS_RUNNER_HOOK_JOB_STARTED for self-hosted GitHub runners (and a
# before_script for GitLab): starts the ringfence agent detached and returns
# once its sensors are armed, so the job's first process is already watched.
# `scripts/install.sh --runner-hooks DIR` installs it and writes the
# runner's .env lines; the GitHub Action's pre step runs it too.
#
# Environment (the Action's inputs map onto the same variables):
#   RINGFENCE_BIN            the ringfence binary (default: ringfence on PATH)
#   RINGFENCE_POLICY         policy file (default: the built-in policy)
#   RINGFENCE_STATE_DIR      the job's state directory (default:
#                            $RUNNER_TEMP/ringfence, else /var/lib/ringfence:
#                            the rule `ringfence start` and `stop` follow)
#   RINGFENCE_READY_TIMEOUT  seconds to wait for the sensors (default 30)
#   RINGFENCE_EGRESS_POLICY  audit or block (--egress-policy)
#   RINGFENCE_ALLOWED_ENDPOINTS  host:port entries (--allowed-endpoints)
#   RINGFENCE_DISABLE_FILE_MONITORING  `true`: --disable-file-monitoring
#   RINGFENCE_DISABLE_SUDO   `true`: take the runner user's sudo rights away
#                            until the agent stops (--disable-sudo)
#   RINGFENCE_SUDO_RELEASE_AT  the program whose start under the runner gives
#                            them back early (the Action's post step)
#   RINGFENCE_LATE_POLICY, RINGFENCE_LATE_POLICY_AT  a policy file put in
#                            force when that program starts (the Action's
#                            main step, after the checkout)
#
# Files in the state directory: events.jsonl (the events, one JSON object a
# line), agent.log (the agent's stderr), ringfence.pid, ready, and at the
# end report.md and report.json. The directory is made root's for the job
# (job-completed.sh gives it back to its parent's owner): a step without
# root can then neither rewrite these files nor swap the binary or policy
# kept there. What `ringfence stop` trusts is elsewhere: the agent's
# root-only record under /run/ringfence.
#
# ringfence loads BPF programs: run as another user (the runner's), the
# hook runs itself again through `sudo -n`, passing the variables above.
set -eu

if [ "$(id -u)" != 0 ]; then
  set -- env
  for name in RINGFENCE_BIN RINGFENCE_POLICY RINGFENCE_STATE_DIR \
    RINGFENCE_READY_TIMEOUT RINGFENCE_EGRESS_POLICY \
    RINGFENCE_ALLOWED_ENDPOINTS RINGFENCE_DISABLE_FILE_MONITORING \
    RINGFENCE_DISABLE_SUDO RINGFENCE_SUDO_RELEASE_AT RINGFENCE_LATE_POLICY \
    RINGFENCE_LATE_POLICY_AT RUNNER_TEMP GITHUB_ACTIONS GITHUB_WORKSPACE; do
    eval "set=\${$name+x} value=\${$name-}"
    # shellcheck disable=SC2154 # set by the eval
    [ -z "$set" ] || set -- "$@" "$name=$value"
  done
  exec sudo -n "$@" sh "$0"
fi

bin=${RINGFENCE_BIN:-ringfence}
state=${RINGFENCE_STATE_DIR:-${RUNNER_TEMP:+${RUNNER_TEMP%/}/ringfence}}
state=${state:-/var/lib/ringfence}
timeout=${RINGFENCE_READY_TIMEOUT:-30}

say() { printf 'ringfence hook: %s\n' "$*" >&2; }

mkdir -p "$state"
chown -R -h 0:0 "$state"
chmod go-w "$state"
pidfile=$state/ringfence.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "an agent is already running (pid $(cat "$pidfile")); stop it with job-completed.sh first"
  exit 1
fi
rm -f "$state/ready" "$pidfile" "$state/events.jsonl" "$state/agent.log" \
  "$state/report.md" "$state/report.html" "$state/report.json" \
  "$state/policy-handoff.json"

# The agent writes the pid file itself once armed: after that, a policed
# write to the state directory is tampering (and killed in block mode).
set -- start --state-dir "$state" --output "$state/events.jsonl" \
  --ready-file "$state/ready"
[ -z "${RINGFENCE_POLICY:-}" ] || set -- "$@" --policy "$RINGFENCE_POLICY"
[ -z "${RINGFENCE_EGRESS_POLICY:-}" ] ||
  set -- "$@" --egress-policy "$RINGFENCE_EGRESS_POLICY"
[ -z "${RINGFENCE_ALLOWED_ENDPOINTS+x}" ] ||
  set -- "$@" --allowed-endpoints "$RINGFENCE_ALLOWED_ENDPOINTS"
[ "${RINGFENCE_DISABLE_FILE_MONITORING:-}" != true ] ||
  set -- "$@" --disable-file-monitoring
[ "${RINGFENCE_DISABLE_SUDO:-}" != true ] || set -- "$@" --disable-sudo
[ -z "${RINGFENCE_SUDO_RELEASE_AT:-}" ] ||
  set -- "$@" --sudo-release-at "$RINGFENCE_SUDO_RELEASE_AT"
if [ -n "${RINGFENCE_LATE_POLICY:-}" ]; then
  set -- "$@" --late-policy "$RINGFENCE_LATE_POLICY" \
    --late-policy-at "${RINGFENCE_LATE_POLICY_AT:?needs the program that hands the policy over}"
fi

# Detached: its own session (no hangup from the hook's end), no stdin, and
# without the runner's RUNNER_TRACKING_ID, so the runner's orphan clean-up
# leaves it to job-completed.sh, which stops it cleanly and reads its summary.
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=; fi
env -u RUNNER_TRACKING_ID $detach "$bin" "$@" </dev/null >/dev/null 2>"$state/agent.log" &
agent=$!

# Wait for the readiness signal: the agent writes its pid to the ready file
# only once every sensor is attached.
deadline=$(($(date +%s) + timeout))
while [ ! -s "$state/ready" ]; do
  if ! kill -0 "$agent" 2>/dev/null; then
    say "the agent exited before its sensors were armed:"
    cat "$state/agent.log" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "the agent's sensors were not armed after ${timeout}s; stopping it. Its log:"
    cat "$state/agent.log" >&2
    kill -TERM "$agent" 2>/dev/null || true
    exit 1
  fi
  sleep 0.05 2>/dev/null || sleep 1
done
cat "$state/agent.log" >&2
