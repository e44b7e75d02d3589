#!/usr/bin/env bash
# The durable-consumer figures of docs/consumers.md: `sampan bench consume` (4 members of one shared
# consumer, each acking every message) on one node (R = 1) and on three on loopback (R = 3), each next
# to JetStream's durable pull consumer with explicit acks measured the same way (default and
# sync_interval: always), ROUNDS times. COUNT messages for async acks, COUNT/10 for sync acks.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-100000}
ROUNDS=${ROUNDS:-3}
go build -o bin/sampan ./cmd/sampan
base=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$base"' EXIT
stop() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; pids=(); }

echo "# R = 1"
bin/sampan serve --data "$base/single" --listen 127.0.0.1:7621 --http 127.0.0.1:7681 --raft 127.0.0.1:7301 --log-level error &
pids+=($!)
until curl -sf http://127.0.0.1:7681/readyz >/dev/null; do sleep 0.1; done
for r in $(seq "$ROUNDS"); do
  for ack in async sync; do
    n=$COUNT; [ $ack = sync ] && n=$((COUNT / 10))
    bin/sampan bench consume -s 127.0.0.1:7621 --count $n --ack $ack | tail -1
    bin/sampan bench consume --jetstream --dir "$base" --count $n --ack $ack | tail -1 | sed 's/^JetStream/JetStream default/'
    bin/sampan bench consume --jetstream --sync-always --dir "$base" --count $n --ack $ack | tail -1 | sed 's/^JetStream/JetStream fsync always/'
  done
done
stop

echo "# R = 3"
peers="1@127.0.0.1:7111,2@127.0.0.1:7112,3@127.0.0.1:7113"
for i in 1 2 3; do
  bin/sampan serve --node-id $i --peers "$peers" --raft 127.0.0.1:711$i --listen 127.0.0.1:743$i \
    --http 127.0.0.1:749$i --data "$base/$i" --log-level error &
  pids+=($!)
done
for i in 1 2 3; do until curl -sf http://127.0.0.1:749$i/readyz >/dev/null; do sleep 0.1; done; done
for r in $(seq "$ROUNDS"); do
  for ack in async sync; do
    n=$COUNT; [ $ack = sync ] && n=$((COUNT / 10))
    bin/sampan bench consume -s 127.0.0.1:7431,127.0.0.1:7432,127.0.0.1:7433 --count $n --ack $ack | tail -1
    bin/sampan bench consume --jetstream --replicas 3 --dir "$base" --count $n --ack $ack | tail -1 | sed 's/^JetStream/JetStream default/'
    bin/sampan bench consume --jetstream --replicas 3 --sync-always --dir "$base" --count $n --ack $ack | tail -1 | sed 's/^JetStream/JetStream fsync always/'
  done
done
