#!/bin/bash
# Records a redis-server host (BENCHMARKS.md, Stop 22): the server alone in its own cgroup v2 group (the service host's service; the
# load tool is its clients, which on a fleet are elsewhere), under load MODE (busy|quiet), for SECS seconds.
set -euo pipefail
MODE=$1; SAVE=${SAVE:-"--save ''"}; OUT=$2; SECS=${3:-45}; PORT=${4:-16390}
CG=/sys/fs/cgroup/unified/pl-fleet-redis-$MODE
mkdir -p $CG
sh -c "echo \$\$ > $CG/cgroup.procs; exec /usr/bin/redis-server --port $PORT --bind 127.0.0.1 $SAVE --appendonly no --dir /tmp --daemonize no" >/dev/null 2>&1 &
SRV=$!
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.2; done
kill -0 $SRV || { echo "redis-server did not start" >&2; exit 1; }
cd "$(dirname "$0")/../.."
if [ "$MODE" = busy ]; then
  LOAD="end=\$((SECONDS+$SECS+5)); while [ \$SECONDS -lt \$end ]; do timeout $((SECS+5)) /usr/bin/redis-benchmark -p $PORT -n ${BENCH_N:-100000000} -c 16 -r 200000 -d 128 -t set,get,lpush,lpop,incr -q >/dev/null 2>&1; done"
else
  LOAD="end=\$((SECONDS+$SECS+5)); while [ \$SECONDS -lt \$end ]; do /usr/bin/redis-benchmark -p $PORT -n 1000 -c 2 -r 50000 -d 128 -t set,get -q >/dev/null 2>&1; sleep 1; done"
fi
bash -c "$LOAD" &
LD=$!
sleep 2
node dist/cli/main.js record --out $OUT --cgroup /pl-fleet-redis-$MODE --duration $SECS --json
kill $LD 2>/dev/null || true; wait $LD 2>/dev/null || true

redis-cli -p $PORT info memory | grep -E "^used_memory_(human|rss_human)"; redis-cli -p $PORT info persistence | grep -E "rdb_bgsave_in_progress|rdb_last_bgsave_status|rdb_saves"; redis-cli -p $PORT info stats | grep -E "total_commands_processed|total_forks"
kill $SRV; wait $SRV 2>/dev/null || true
rmdir $CG
