#!/usr/bin/env bash
# Starts the procurement workers (two processes, the seed's four queues) and the scheduler on
# Redis, like the seed's scripts/start_workers.sh. Ctrl-C stops them gracefully.
#
#   npm install
#   PROCUR_EVENT_REDIS_URL=redis://127.0.0.1:6379 ./start-workers.sh
set -euo pipefail
cd "$(dirname "$0")"
: "${PROCUR_EVENT_REDIS_URL:=redis://127.0.0.1:6379}"
export PROCUR_EVENT_REDIS_URL
# The app module is TypeScript: tsx (a devDependency) loads it into the CLI.
export NODE_OPTIONS="--import tsx ${NODE_OPTIONS:-}"
cli=(node_modules/.bin/procur-bus)
app=./app.ts
queues=negotiation=4,enrichment=2,contracts=2,notifications=4,maintenance=1

pids=()
for n in 1 2; do
  "${cli[@]}" --app "$app" worker --name "procurement-$n" --queues "$queues" & pids+=($!)
done
"${cli[@]}" --app "$app" beat & pids+=($!)
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM
wait
