#!/usr/bin/env bash
# Stop the broker started by start.sh (same KAFKA_PORT / KAFKA_DATA_DIR / FLOORWATCH_KAFKA_HOME).
#   KAFKA_STOP_TIMEOUT  seconds to wait for a clean shutdown before SIGKILL (default 30)
# Data is kept; delete the data dir to start from scratch.
set -euo pipefail
home="${FLOORWATCH_KAFKA_HOME:-$HOME/.cache/floorwatch/kafka}"
port="${KAFKA_PORT:-9092}"
data="${KAFKA_DATA_DIR:-$home/data-$port}"
timeout="${KAFKA_STOP_TIMEOUT:-30}"
pidfile="$data/kafka.pid"

if [[ ! -f "$pidfile" ]]; then
  echo "stop.sh: no pid file at $pidfile (not running?)" >&2
  exit 0
fi
pid="$(cat "$pidfile")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop.sh: Kafka (pid $pid) ignored SIGTERM for ${timeout}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
