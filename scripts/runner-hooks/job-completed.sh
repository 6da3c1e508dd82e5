#!/bin/sh
# ACTIONS_RUNNER_HOOK_JOB_COMPLETED for self-hosted GitHub runners (and an
# after_script for GitLab): stops the agent job-started.sh started (SIGTERM,
# then waits for it to detach and exit) and writes the job summary: the
# agent's summary lines, printed to the job log and appended to
# $GITHUB_STEP_SUMMARY when that is set.
#
# Environment: RINGFENCE_STATE_DIR and RINGFENCE_BIN as for job-started.sh;
# RINGFENCE_STOP_TIMEOUT seconds to wait for the exit (default 30).
#
# Once the agent has gone, `ringfence restore-sudo` gives back the sudo
# rights an agent that died could not give back itself (runner.sudo: deny).
set -eu

bin=${RINGFENCE_BIN:-ringfence}
state=${RINGFENCE_STATE_DIR:-${RUNNER_TEMP:-/tmp}/ringfence}
# Where `ringfence start` keeps its pid file and its pins marker.
agent_state=${RINGFENCE_STATE_DIR:-/var/lib/ringfence}
timeout=${RINGFENCE_STOP_TIMEOUT:-30}

say() { printf 'ringfence hook: %s\n' "$*" >&2; }

# Running and not a zombie (a reparented agent may wait to be reaped).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  case $(sed 's/.*) //' "/proc/$1/stat" | cut -c1) in
    Z | X) return 1 ;;
  esac
  return 0
}

if [ ! -f "$state/pid" ]; then
  say "no agent to stop (no $state/pid): was job-started.sh run?"
  exit 1
fi
pid=$(cat "$state/pid")
status=0
if alive "$pid"; then
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(date +%s) + timeout))
  while alive "$pid"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "the agent (pid $pid) did not stop within ${timeout}s of SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      status=1
      break
    fi
    sleep 0.05 2>/dev/null || sleep 1
  done
else
  say "the agent (pid $pid) had already exited"
  status=1
fi
rm -f "$state/pid" "$state/ready"
# Backups of sudo rights an agent took (runner.sudo: deny) and did not give
# back: it died.
sudo_backups=/var/lib/ringfence/sudo
if [ -n "$(ls -A "$sudo_backups" 2>/dev/null)" ] &&
  ! "${RINGFENCE_BIN:-ringfence}" restore-sudo; then
  say "sudo rights taken by the agent could not all be given back (see $sudo_backups)"
  status=1
fi

# An agent that stopped cleanly removed its pins. One that died (or was
# killed above) left them enforcing: `ringfence stop` drains their rings
# into the events file, prints what the kernel counted while no agent ran,
# and removes them.
if [ -s "$agent_state/pinned" ]; then
  say "the agent left its pins ($(cat "$agent_state/pinned")); recovering them"
  "$bin" stop --state-dir "$agent_state" 2>>"$state/agent.log" >/dev/null || true
  status=1
fi

summary=$(grep '^ringfence: ' "$state/agent.log" 2>/dev/null || true)
events=0
[ -f "$state/events.jsonl" ] && events=$(wc -l <"$state/events.jsonl" | tr -d ' ')
printf '%s\n' "$summary"
say "events: $state/events.jsonl ($events lines)"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### ringfence"
    echo
    echo '```'
    printf '%s\n' "$summary"
    echo '```'
    echo
    echo "Events: \`$state/events.jsonl\` ($events lines)"
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
