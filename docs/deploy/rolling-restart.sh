#!/bin/sh
# Restarts this machine's framegate processes one at a time, each once the one before answers
# /healthz again and NGINX has had time to take it back, so one is always serving:
#   rolling-restart.sh 8081 8082
# RESTART is the command that restarts one, its port in place of %s.
set -eu
restart=${RESTART:-systemctl restart framegate@%s}
for port in "$@"; do
  sh -c "$(printf "$restart" "$port")"
  tries=0
  until curl --silent --fail "http://127.0.0.1:$port/healthz" >/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { echo "framegate@$port did not come back" >&2; exit 1; }
    sleep 0.1
  done
  # NGINX keeps a server it saw fail out of use for fail_timeout (10 s in framegate-http.conf):
  # the next one goes down only once this one is back in use.
  sleep "${SETTLE:-11}"
done
