#!/usr/bin/env bash
# A local Apache Spark cluster for strata's Spark engine (issue 14): a standalone master, two
# workers and a Spark Connect server, all on 127.0.0.1. The Connect server keeps its Hive
# metastore (embedded Derby) and its warehouse folder under one state folder, so tables survive
# a restart. It installs nothing: it needs pyspark 4.x (`pip install pyspark`, which ships
# Spark's jars) and Java 17.
#
# Usage: scripts/spark-local.sh start|stop|status
#   start   starts what is not running, waits until both workers have registered and the
#           Connect server listens, and prints the connection URL (sc://127.0.0.1:PORT)
#   stop    stops exactly the processes this script started (by their pid files)
#   status  says which of them run
# Settings (environment): STRATA_SPARK_DIR (state folder, default $HOME/.cache/strata/spark),
# STRATA_SPARK_PORT (Connect, default 15002), STRATA_SPARK_MASTER_PORT (7077),
# STRATA_SPARK_UI_PORT (the master's web UI and REST API, 8080; workers use the next two).
set -euo pipefail

STATE=${STRATA_SPARK_DIR:-$HOME/.cache/strata/spark}
CONNECT_PORT=${STRATA_SPARK_PORT:-15002}
MASTER_PORT=${STRATA_SPARK_MASTER_PORT:-7077}
UI_PORT=${STRATA_SPARK_UI_PORT:-8080}
MASTER_URL="spark://127.0.0.1:$MASTER_PORT"

spark_home() {
  python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null || {
    echo "spark-local: pyspark is not installed (pip install pyspark)" >&2
    exit 2
  }
}
command -v java >/dev/null 2>&1 || {
  echo "spark-local: java is not installed (Java 17: apt-get install openjdk-17-jre-headless)" >&2
  exit 2
}

SPARK_HOME=$(spark_home)
export SPARK_HOME
export SPARK_PID_DIR="$STATE/pids" SPARK_LOG_DIR="$STATE/logs" SPARK_IDENT_STRING=strata
export SPARK_LOCAL_IP=127.0.0.1 SPARK_MASTER_HOST=127.0.0.1
# The daemons' own heaps; executors and the Connect driver are sized below. About 4 GiB in all.
export SPARK_DAEMON_MEMORY=512m
mkdir -p "$SPARK_PID_DIR" "$SPARK_LOG_DIR" "$STATE/warehouse" "$STATE/work"
DAEMON="$SPARK_HOME/sbin/spark-daemon.sh"
MASTER=org.apache.spark.deploy.master.Master
WORKER=org.apache.spark.deploy.worker.Worker
CONNECT=org.apache.spark.sql.connect.service.SparkConnectServer

pid_file() { echo "$SPARK_PID_DIR/spark-strata-$1-$2.pid"; }
running() { local f; f=$(pid_file "$1" "$2"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# Wait up to $1 seconds for a command to succeed.
wait_for() {
  local secs=$1
  shift
  for _ in $(seq "$secs"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}
alive_workers() {
  python3 - "$UI_PORT" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2) as r:
    print(json.load(r).get("aliveworkers", 0))
EOF
}
two_workers() { [ "$(alive_workers 2>/dev/null)" = "2" ]; }
listening() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)" "$1"; }

start() {
  running "$MASTER" 1 || "$DAEMON" start "$MASTER" 1 --host 127.0.0.1 --port "$MASTER_PORT" --webui-port "$UI_PORT"
  for i in 1 2; do
    running "$WORKER" "$i" || "$DAEMON" start "$WORKER" "$i" --host 127.0.0.1 --webui-port $((UI_PORT + i)) \
      --cores 1 --memory 1g --work-dir "$STATE/work" "$MASTER_URL"
  done
  wait_for 300 two_workers || {
    echo "spark-local: the workers did not register with the master within 300 s (logs: $SPARK_LOG_DIR)" >&2
    exit 1
  }
  if ! running "$CONNECT" 1; then
    local derby="jdbc:derby:;databaseName=$STATE/metastore_db;create=true"
    "$DAEMON" submit "$CONNECT" 1 --name "Spark Connect server" --master "$MASTER_URL" \
      --driver-memory 1g --executor-memory 768m --total-executor-cores 2 \
      --driver-java-options "-Dderby.system.home=$STATE" \
      --conf "spark.connect.grpc.binding.address=127.0.0.1" \
      --conf "spark.connect.grpc.binding.port=$CONNECT_PORT" \
      --conf "spark.sql.catalogImplementation=hive" \
      --conf "spark.sql.warehouse.dir=$STATE/warehouse" \
      --conf "spark.hadoop.javax.jdo.option.ConnectionURL=$derby" \
      --conf "spark.sql.sources.partitionOverwriteMode=dynamic" \
      --conf "spark.sql.session.timeZone=UTC" \
      --conf "spark.ui.port=$((UI_PORT + 10))"
  fi
  wait_for 300 listening "$CONNECT_PORT" || {
    echo "spark-local: the Connect server is not listening on $CONNECT_PORT after 300 s (logs: $SPARK_LOG_DIR)" >&2
    exit 1
  }
  echo "sc://127.0.0.1:$CONNECT_PORT"
}

stop() {
  running "$CONNECT" 1 && "$DAEMON" stop "$CONNECT" 1
  for i in 2 1; do running "$WORKER" "$i" && "$DAEMON" stop "$WORKER" "$i"; done
  running "$MASTER" 1 && "$DAEMON" stop "$MASTER" 1
  return 0
}

status() {
  local all=0
  for p in "$MASTER 1 master" "$WORKER 1 worker-1" "$WORKER 2 worker-2" "$CONNECT 1 connect"; do
    set -- $p
    if running "$1" "$2"; then echo "$3: running (pid $(cat "$(pid_file "$1" "$2")"))"; else echo "$3: stopped"; all=3; fi
  done
  return $all
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: scripts/spark-local.sh start|stop|status" >&2
    exit 2
    ;;
esac
