#!/bin/sh
# ACTIONS_RUNNER_HOOK_JOB_COMPLETED for self-hosted GitHub runners (and an
# after_script for GitLab): stops the agent job-started.sh started and
# publishes its full markdown report, through `ringfence stop`, which
# decides whether the agent is intact: it checks the agent against the
# root-only record the agent keeps under /run/ringfence (pid, start time,
# executable), never the pid file or agent.log alone, which a step may
# rewrite. The report goes to $GITHUB_STEP_SUMMARY when that is set (the
# job summary), and is kept as report.md, report.html and report.json in the state
# directory beside events.jsonl.
#
# A missing, dead or replaced agent makes the summary a red "AGENT
# TAMPERED" report, and this hook exits nonzero (3). An agent that died
# left its pins enforcing: `ringfence stop` drains their rings into the
# events file, prints what the kernel counted while no agent ran, and
# removes them.
#
# Environment: RINGFENCE_BIN and RINGFENCE_STATE_DIR as for job-started.sh;
# RINGFENCE_STOP_TIMEOUT seconds to wait for the exit (default 30). Run as
# another user, it runs itself again through `sudo -n`.
#
# Once the agent has gone, `ringfence restore-sudo` gives back the sudo
# rights an agent that died could not give back itself (runner.sudo: deny).
set -eu

if [ "$(id -u)" != 0 ]; then
  set -- env
  for name in RINGFENCE_BIN RINGFENCE_STATE_DIR RINGFENCE_STOP_TIMEOUT \
    RUNNER_TEMP GITHUB_ACTIONS GITHUB_STEP_SUMMARY; do
    eval "set=\${$name+x} value=\${$name-}"
    # shellcheck disable=SC2154 # set by the eval
    [ -z "$set" ] || set -- "$@" "$name=$value"
  done
  exec sudo -n "$@" sh "$0"
fi

bin=${RINGFENCE_BIN:-ringfence}
state=${RINGFENCE_STATE_DIR:-${RUNNER_TEMP:+${RUNNER_TEMP%/}/ringfence}}
state=${state:-/var/lib/ringfence}
timeout=${RINGFENCE_STOP_TIMEOUT:-30}

say() { printf 'ringfence hook: %s\n' "$*" >&2; }

status=0
"$bin" stop --state-dir "$state" --timeout "$timeout" || status=$?
if [ "$status" -eq 3 ]; then
  say "AGENT TAMPERED: see the report above and in the job summary"
elif [ "$status" -ne 0 ]; then
  say "ringfence stop failed (exit $status)"
fi
rm -f "$state/ready"
# Backups of sudo rights an agent took (runner.sudo: deny) and did not give
# back: it died. `ringfence stop` gives them back too; this covers a stop
# that could not run.
sudo_backups=/var/lib/ringfence/sudo
if [ -n "$(ls -A "$sudo_backups" 2>/dev/null)" ] &&
  ! "$bin" restore-sudo; then
  say "sudo rights taken by the agent could not all be given back (see $sudo_backups)"
  [ "$status" -ne 0 ] || status=1
fi

events=0
[ -f "$state/events.jsonl" ] && events=$(wc -l <"$state/events.jsonl" | tr -d ' ')
say "events: $state/events.jsonl ($events lines); report: $state/report.md, $state/report.html"

# job-started.sh made the state directory root's; its parent's owner (the
# runner's user) gets it back with the files in it, so that the runner can
# clean it up and the Action's post step can upload them. Not for
# /var/lib/ringfence (root's own), nor symlinks (-h, no -L).
owner=$(stat -c %u:%g "$(dirname "$state")" 2>/dev/null || echo)
if [ -n "$owner" ] && [ "$owner" != 0:0 ] && [ -d "$state" ]; then
  chown -R -h "$owner" "$state" 2>/dev/null || true
fi
exit "$status"
