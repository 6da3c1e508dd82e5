#!/bin/bash
# peer_auditd.sh start LOGFILE | stop: auditd, the bench's peer (bench/peers.ts), with its own copy of the
# config (log to LOGFILE, no rotation) and rules for execve, connect and open/openat for writing; backlog 8192
# as Debian's default rules set. stop deletes the rules, disables audit, stops auditd and prints auditd's and
# kauditd's CPU seconds and the lost count's growth. Once audit has been enabled, the kernel puts every new
# process on its slower syscall path until reboot: run this last.
st=${PEER_STATE:-/tmp/ringfence-bench-peers}; mkdir -p "$st"
cpu() { awk '{print ($14+$15)/100}' /proc/$1/stat 2>/dev/null || echo 0; }
kpid=$(pgrep -x kauditd | head -1)
case $1 in
start)
  log=$2; : > "$log"; chmod 600 "$log"
  cdir=$st/auditd-conf; mkdir -p $cdir
  sed -e "s|^log_file.*|log_file = $log|" -e 's|^max_log_file_action.*|max_log_file_action = IGNORE|' \
      -e 's|^max_log_file .*|max_log_file = 4096|' /etc/audit/auditd.conf > $cdir/auditd.conf; chmod 640 $cdir/auditd.conf
  cpu $kpid > $st/kauditd.cpu0
  auditctl -s | awk '/^lost/{print $2}' > $st/lost0
  auditctl -s | awk '/^backlog_limit/{print $2}' > $st/backlog0
  auditd -n -c $cdir </dev/null >/dev/null 2>$st/auditd.err &
  echo $! > $st/auditd.pid
  for i in $(seq 100); do [ "$(auditctl -s | awk '/^pid/{print $2}')" = "$(cat $st/auditd.pid)" ] && break; sleep 0.05; done
  auditctl -b 8192 >/dev/null
  auditctl -a always,exit -F arch=b64 -S execve,execveat -k bp_exec >/dev/null
  auditctl -a always,exit -F arch=b64 -S connect -k bp_conn >/dev/null
  auditctl -a always,exit -F arch=b64 -S openat -F a2\&3 -k bp_openw >/dev/null
  auditctl -a always,exit -F arch=b64 -S open -F a1\&3 -k bp_openw >/dev/null
  auditctl -e 1 >/dev/null;;
stop)
  auditctl -D >/dev/null; auditctl -e 0 >/dev/null
  pid=$(cat $st/auditd.pid)
  lost=$(( $(auditctl -s | awk '/^lost/{print $2}') - $(cat $st/lost0) ))
  # let kauditd drain its queue, then stop auditd (SIGTERM flushes the log)
  for i in $(seq 100); do [ "$(auditctl -s | awk '/^backlog /{print $2}')" = 0 ] && break; sleep 0.05; done
  c=$(cpu $pid); kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.02; done
  k=$(awk -v a=$(cat $st/kauditd.cpu0) -v b=$(cpu $kpid) 'BEGIN{print b-a}')
  auditctl -b "$(cat $st/backlog0)" >/dev/null   # back to the limit it had
  rm -f $st/auditd.pid; echo "peer_cpu=$c kauditd_cpu=$k lost=$lost";;
esac
