#!/usr/bin/env bash
# Sampan against JetStream on this machine, in one run, with the same workloads: one node (R = 1) and
# three nodes on loopback (R = 3), 128 B messages, JetStream with fsync on every write
# (sync_interval: always, the durability of a Sampan ack) and with its default (fsync every 2 minutes).
# Every server stores on the same disk (DIR, default a temp dir under the system's). The JetStream
# servers are embedded nats-servers run by `sampan bench jetstream` in a child process.
#   COUNT=20000 ROUNDS=1 DIR=/path scripts/compare-jetstream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/sampan ./cmd/sampan
count=${COUNT:-20000}
rounds=${ROUNDS:-1}
base=$(mktemp -d ${DIR:+-p "$DIR"})
pids=()
# Sampan's logs go to $base/log-sampan (shown if the run fails); a node stopping logs its peers' loss.
trap 'rc=$?; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; [ $rc = 0 ] || tail -20 "$base/log-sampan" 2>/dev/null; rm -rf "$base"' EXIT
wait_ready() { # $1: URL; at most 60 s
  for _ in $(seq 600); do curl -sf "$1" >/dev/null && return; sleep 0.1; done
  echo "not ready: $1" >&2
  return 1
}

# The rows: name | bench flags.
rows=(
  "R=3 async, window 256|--replicas 3 --window 256"
  "R=3 one at a time|--replicas 3 --window 1"
  "R=1 one at a time|--replicas 1 --window 1"
  "R=1 async, window 256|--replicas 1 --window 256"
  "R=3 16 channels x 16 publishers|--replicas 3 --channels 16 --publishers 16 --window 256"
)

start_sampan() { # $1: nodes
  local n=$1 peers="" i
  pids=()
  if [ "$n" = 1 ]; then
    bin/sampan serve --data "$base/s1" --listen 127.0.0.1:7521 --http 127.0.0.1:7581 --raft 127.0.0.1:7201 --log-level error 2>>"$base/log-sampan" &
    pids+=($!)
    wait_ready http://127.0.0.1:7581/readyz
    return
  fi
  peers="1@127.0.0.1:7211,2@127.0.0.1:7212,3@127.0.0.1:7213"
  for i in 1 2 3; do
    bin/sampan serve --node-id $i --peers "$peers" --raft 127.0.0.1:721$i --listen 127.0.0.1:753$i \
      --http 127.0.0.1:759$i --data "$base/s3-$i" --log-level error 2>>"$base/log-sampan" &
    pids+=($!)
  done
  for i in 1 2 3; do wait_ready http://127.0.0.1:759$i/readyz; done
}

stop_sampan() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  rm -rf "$base"/s1 "$base"/s3-*
}

fmt() { # a bench line -> "N msgs/s, p50 N us, p99 N us"
  sed -E 's/.*: ([0-9]+) msgs\/s.*p50 ([0-9]+)us.*p99 ([0-9]+)us.*/\1 msgs\/s, ack p50 \2 us, p99 \3 us/'
}

declare -A out
for round in $(seq "$rounds"); do
  for row in "${rows[@]}"; do
    name=${row%%|*}
    flags=${row#*|}
    out["$name|js-always|$round"]=$(bin/sampan bench jetstream --dir "$base" --count "$count" --sync-always $flags | fmt)
    out["$name|js-default|$round"]=$(bin/sampan bench jetstream --dir "$base" --count "$count" $flags | fmt)
  done
  for nodes in 1 3; do
    start_sampan $nodes
    server=127.0.0.1:7521
    [ "$nodes" = 3 ] && server=127.0.0.1:7531
    for row in "${rows[@]}"; do
      name=${row%%|*}
      flags=${row#*|}
      case "$flags" in *"--replicas $nodes "*) ;; *) continue ;; esac
      pflags=${flags#--replicas $nodes }
      out["$name|sampan|$round"]=$(bin/sampan bench pub --server $server --prefix "cmp.$round.$RANDOM" --count "$count" $pflags | fmt)
    done
    stop_sampan
  done
done

for row in "${rows[@]}"; do
  name=${row%%|*}
  echo "$name"
  for round in $(seq "$rounds"); do
    printf '  JetStream fsync always: %s\n' "${out["$name|js-always|$round"]}"
    printf '  JetStream default:      %s\n' "${out["$name|js-default|$round"]}"
    printf '  Sampan:                 %s\n' "${out["$name|sampan|$round"]}"
  done
done
