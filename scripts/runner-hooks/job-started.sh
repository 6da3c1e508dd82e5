#!/bin/sh
# ACTIONS_RUNNER_HOOK_JOB_STARTED for self-hosted GitHub runners (and a
# before_script for GitLab): starts the ringfence agent detached and returns
# once its sensors are armed, so the job's first process is already watched.
#
# Environment:
#   RINGFENCE_BIN            the ringfence binary (default: ringfence on PATH)
#   RINGFENCE_POLICY         policy file (default: the built-in policy)
#   RINGFENCE_STATE_DIR      where the agent's pid, events and log go
#                            (default: $RUNNER_TEMP/ringfence or /tmp/ringfence)
#   RINGFENCE_READY_TIMEOUT  seconds to wait for the sensors (default 30)
#   RINGFENCE_DISABLE_SUDO   `true`: take the runner user's sudo rights away
#                            until the agent stops (--disable-sudo)
#   RINGFENCE_SUDO_RELEASE_AT  the program whose start under the runner gives
#                            them back early (the Action's post step)
#
# Files in the state directory: events.jsonl (the events, one JSON object a
# line), agent.log (the agent's stderr), pid, ready. The directory is made
# root's for the job (job-completed.sh gives it back to its parent's owner):
# a step without root can then neither rewrite these files nor swap the
# binary or policy kept there. What `ringfence stop` trusts is elsewhere:
# the agent's root-only record under /run/ringfence.
# The runner must run the hook as root (ringfence loads BPF programs).
set -eu

bin=${RINGFENCE_BIN:-ringfence}
state=${RINGFENCE_STATE_DIR:-${RUNNER_TEMP:-/tmp}/ringfence}
timeout=${RINGFENCE_READY_TIMEOUT:-30}

say() { printf 'ringfence hook: %s\n' "$*" >&2; }

mkdir -p "$state"
chown -h 0:0 "$state"
chmod go-w "$state"
if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
  say "an agent is already running (pid $(cat "$state/pid")); stop it with job-completed.sh first"
  exit 1
fi
rm -f "$state/ready" "$state/pid" "$state/events.jsonl" "$state/agent.log"

# The agent writes the pid file itself once armed: after that, a policed
# write to the state directory is tampering (and killed in block mode).
set -- start --state-dir "$state" --pid-file "$state/pid" \
  --output "$state/events.jsonl" --ready-file "$state/ready"
if [ -n "${RINGFENCE_POLICY:-}" ]; then
  set -- "$@" --policy "$RINGFENCE_POLICY"
fi
if [ "${RINGFENCE_DISABLE_SUDO:-}" = true ]; then
  set -- "$@" --disable-sudo
fi
if [ -n "${RINGFENCE_SUDO_RELEASE_AT:-}" ]; then
  set -- "$@" --sudo-release-at "$RINGFENCE_SUDO_RELEASE_AT"
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
