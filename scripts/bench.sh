#!/usr/bin/env bash
# Runs the single-node benchmark table of docs/performance.md: a fresh broker on a temp data dir, then `sampan bench pub` for
# 128 B and 1 KiB payloads on 1 and 16 channels, and the latency run at 1,000 msgs/s (first on the fresh
# server, again after the throughput runs, when pebble is still compacting).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/sampan ./cmd/sampan
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
bin/sampan bench fsync --dir "$data"
bin/sampan serve --data "$data" --listen 127.0.0.1:7421 --http 127.0.0.1:7481 --raft 127.0.0.1:7101 --log-level warn &
pid=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:7481/healthz >/dev/null && break; sleep 0.1; done
s=127.0.0.1:7421
bin/sampan bench pub --server $s --size 128 --count 10000 --rate 1000
for size in 128 1024; do
  bin/sampan bench pub --server $s --channels 1 --publishers 1 --size $size --count 300000 --window 256
  bin/sampan bench pub --server $s --channels 16 --publishers 1 --size $size --count 300000 --window 256
  bin/sampan bench pub --server $s --channels 16 --publishers 16 --size $size --count 300000 --window 256
done
bin/sampan bench pub --server $s --size 128 --count 10000 --rate 1000
