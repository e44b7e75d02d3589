#!/usr/bin/env bash
# Starts a 3-node Sampan cluster on this machine: data in ./cluster-data/N, clients on 127.0.0.1:742N,
# HTTP on 127.0.0.1:748N, Raft on 127.0.0.1:710N. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/sampan ./cmd/sampan
peers="1@127.0.0.1:7101,2@127.0.0.1:7102,3@127.0.0.1:7103"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
  bin/sampan serve --node-id $i --peers "$peers" --raft 127.0.0.1:710$i \
    --listen 127.0.0.1:742$i --http 127.0.0.1:748$i --data cluster-data/$i --log-level "${LOG_LEVEL:-warn}" &
  pids+=($!)
done
for i in 1 2 3; do
  until curl -sf http://127.0.0.1:748$i/readyz >/dev/null; do sleep 0.1; done
done
echo "cluster ready: clients 127.0.0.1:7421,127.0.0.1:7422,127.0.0.1:7423; HTTP 127.0.0.1:7481..7483"
wait
