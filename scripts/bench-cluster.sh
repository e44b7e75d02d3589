#!/usr/bin/env bash
# The cluster figures of docs/performance.md: a fresh 3-node cluster (R = 3) on temp dirs, `sampan bench pub` through node 1
# for 1 and 16 channels at 128 B (one channel also with a window of 1,024), then `sampan bench failover`
# (its own cluster) over 20 trials.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/sampan ./cmd/sampan
base=$(mktemp -d)
peers="1@127.0.0.1:7111,2@127.0.0.1:7112,3@127.0.0.1:7113"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$base"' EXIT
for i in 1 2 3; do
  bin/sampan serve --node-id $i --peers "$peers" --raft 127.0.0.1:711$i --listen 127.0.0.1:743$i \
    --http 127.0.0.1:749$i --data "$base/$i" --log-level error &
  pids+=($!)
done
for i in 1 2 3; do until curl -sf http://127.0.0.1:749$i/readyz >/dev/null; do sleep 0.1; done; done
s=127.0.0.1:7431
bin/sampan bench pub --server $s --channels 1 --publishers 1 --size 128 --count 200000 --window 256
bin/sampan bench pub --server $s --channels 1 --publishers 1 --size 128 --count 300000 --window 1024
bin/sampan bench pub --server $s --channels 16 --publishers 1 --size 128 --count 200000 --window 256
bin/sampan bench pub --server $s --channels 16 --publishers 16 --size 128 --count 200000 --window 256
bin/sampan bench pub --server $s --channels 1 --publishers 1 --size 128 --count 5000 --rate 1000
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()
bin/sampan bench failover --trials 20 | tail -1
