#!/usr/bin/env bash
# Start a single-node Kafka (KRaft, combined broker + controller) on 127.0.0.1 in the background.
#   KAFKA_PORT             client port (default 9092); the controller listens on KAFKA_PORT+1
#   FLOORWATCH_KAFKA_HOME  jar cache (default ~/.cache/floorwatch/kafka), filled by fetch.sh
#   KAFKA_DATA_DIR         config, log dirs, pid file and kafka.log (default $FLOORWATCH_KAFKA_HOME/data-$KAFKA_PORT)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait until the broker answers (default 90)
# Re-running on an existing data dir keeps its topics (the storage is formatted only once).
# Exits non-zero with the tail of kafka.log when the broker does not come up.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${FLOORWATCH_KAFKA_HOME:-$HOME/.cache/floorwatch/kafka}"
port="${KAFKA_PORT:-9092}"
ctrl_port=$((port + 1))
data="${KAFKA_DATA_DIR:-$home/data-$port}"
timeout="${KAFKA_START_TIMEOUT:-90}"
pidfile="$data/kafka.pid"
# Python with kafka-python for the readiness probe: $FLOORWATCH_PYTHON, else the repo's .venv, else python3.
python="${FLOORWATCH_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/../../.venv/bin/python" ]]; then python="$here/../../.venv/bin/python"; else python=python3; fi
fi
log="$data/kafka.log"

"$here/fetch.sh" >&2
mkdir -p "$data/logs"

if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "start.sh: Kafka already running (pid $(cat "$pidfile")) on 127.0.0.1:$port" >&2
  exit 0
fi

cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=1000000
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
PROPS

cp="$home/libs/*"
jvm=(java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1
     -Dlog4j2.configurationFile="$here/log4j2.properties" -Djava.awt.headless=true -cp "$cp")

if [[ ! -f "$data/logs/meta.properties" ]]; then
  cluster_id="$("${jvm[@]}" kafka.tools.StorageTool random-uuid 2>>"$log" | tail -n1)"
  if ! "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" >>"$log" 2>&1; then
    echo "start.sh: formatting $data/logs failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
fi

nohup "${jvm[@]}" kafka.Kafka "$data/server.properties" >>"$log" 2>&1 &
echo $! > "$pidfile"
pid="$(cat "$pidfile")"

# Ready = the process lives, the port accepts, and a metadata request round-trips.
deadline=$((SECONDS + timeout))
while (( SECONDS < deadline )); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: Kafka exited during start-up; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    rm -f "$pidfile"
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
     && "$python" "$here/probe.py" "127.0.0.1:$port" >/dev/null 2>&1; then
    echo "127.0.0.1:$port"
    exit 0
  fi
  sleep 0.5
done
echo "start.sh: Kafka did not answer on 127.0.0.1:$port within ${timeout}s; last lines of $log:" >&2
tail -n 40 "$log" >&2
kill "$pid" 2>/dev/null || true
rm -f "$pidfile"
exit 1
