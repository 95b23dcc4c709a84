#!/usr/bin/env bash
# Restart from a checkpoint vs a fresh snapshot, the real `pgrelay run` process, side by side in one run (issue 12:
# "restart from a checkpoint ≥ 10× faster than a fresh snapshot, under 0.5 s for 1M rows").
#
#   bench/checkpoint/run.sh
#
# A private PostgreSQL 15 (fsync off) gets N rows of the 8-column `accounts` table of /work/shared/bench. Each round:
#   anchor   psql `COPY accounts TO STDOUT` > /dev/null
#   fresh    `pgrelay run` with an empty state directory: slot, exported snapshot, copy; timed until redis-cli DBSIZE = N
#   (then it waits for its first checkpoint, and stops gracefully: the slot is kept)
#   restart  `pgrelay run` again with that state directory: loads the checkpoint, no copy; timed the same way
# Per round: wall times (process start included), fresh/restart ratio, the store's own load time (/status
# checkpoints.load_ms), checkpoint file size, RSS, CPU seconds and the load average.
#
# After DBSIZE = N it waits (bounded) until /status says the start-up is over (`startup` has "served"; older builds:
# checkpoints.loaded_lsn set) before reading it: the store serves the rows a moment before the load's figures are
# recorded, so reading at once could report "store load 0 ms". The restart's start-up timeline (ms since exec per step,
# /status `startup`) is printed per round.
#
# Knobs: N=1000000 ROUNDS=3 POLL=0.01 TIMEOUT=300
#        RESTARTS=1: restarts per round on the same checkpoint (the median is reported)
#        BINS="base=/path/to/published before=/other/path": published builds instead of publishing this tree; the fresh
#        snapshot runs with the first, the restarts alternate between them (same data, same load). A build may carry
#        environment variables: "notiered=/tmp/new-bin:DOTNET_TieredCompilation=0,DOTNET_ReadyToRun=1". E.g. a build of main
#        (git archive main | tar -x -C /tmp/base && dotnet publish /tmp/base/src/Pgrelay -c Release -o /tmp/base-bin)
# Results: bench/results/checkpoint-restart-<date>.txt (and stdout).
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
RESTARTS="${RESTARTS:-1}"
POLL="${POLL:-0.01}"
TIMEOUT="${TIMEOUT:-300}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
WORK="${WORK:-/tmp/pgrelay-checkpoint-bench-$$}"
OUT="$ROOT/bench/results/checkpoint-restart-$(date -u +%Y%m%d-%H%M).txt"

for tool in dotnet psql redis-cli curl bc python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlc() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
status_field() { # http-port python-expression-on-doc
  curl -s "http://127.0.0.1:$1/status" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}

mkdir -p "$WORK" "$ROOT/bench/results"
PGPORT=$(free_port)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

BUILDS=
declare -A build_env=()
if [ -n "${BINS:-}" ]; then
  for pair in $BINS; do
    name=${pair%%=*}; rest=${pair#*=}
    mkdir -p "$WORK"; ln -s "${rest%%:*}" "$WORK/bin-$name"; BUILDS="$BUILDS $name"
    [ "$rest" != "${rest#*:}" ] && build_env[$name]=$(echo "${rest#*:}" | tr ',' ' ')
  done
else
  echo "publishing (Release) ..."
  dotnet publish "$ROOT/src/Pgrelay" -c Release -o "$WORK/bin-default" >/dev/null 2>&1 || { echo "publish failed" >&2; exit 1; }
  BUILDS=default
fi
BUILDS=$(echo $BUILDS)
first_build=${BUILDS%% *}

mkdir -p "$WORK/pg"; chown postgres: "$WORK/pg" 2>/dev/null
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null || exit 1
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
  "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off -c shared_buffers=256MB" \
  start >/dev/null || { cat "$WORK/pg/log"; exit 1; }
echo "loading $N rows ..."
psqlc -c "create table accounts (id text primary key, owner text, balance numeric(12,2), opened date, active bool, tier int, email text, note text)" \
  -c "insert into accounts select lpad(g::text, 12, '0'), 'owner ' || g, g * 1.25, date '2020-01-01' + g % 1000, g % 3 = 0, g % 7, 'u' || g || '@example.com', case when g % 4 = 0 then null else 'note ' || g end from generate_series(1, $N) g" \
  -c "vacuum analyze accounts" -c "create publication pub for table accounts" >/dev/null || exit 1

# start_and_time <state-dir> <resp-port> <http-port> <log>: starts pgrelay (pid), waits until it serves N rows, sets
# elapsed to the wall seconds. Not called in $(...): pid must stay visible here.
start_and_time() {
  local t0 t1
  t0=$(now)
  env ${run_env:-} "$bin/pgrelay" run --source "postgres://postgres@127.0.0.1:$PGPORT/postgres" --publication pub --state-dir "$1" \
    --checkpoint-interval 1s --resp "127.0.0.1:$2" --http "127.0.0.1:$3" --memcached off >"$4" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(redis-cli -p "$2" DBSIZE 2>/dev/null)" = "$N" ]; then t1=$(now); elapsed=$(echo "$t1 - $t0" | bc -l); return 0; fi
    if [ "$(echo "$(now) - $t0 > $TIMEOUT" | bc -l)" = 1 ]; then kill -TERM "$pid"; break; fi   # a hang guard
    sleep "$POLL"
  done
  echo "pgrelay did not serve $N rows; see $4" >&2; tail -5 "$4" >&2
  return 1
}

{
  echo "# bench/checkpoint/run.sh: N=$N ROUNDS=$ROUNDS at $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "# load at start: $(load)"
  for r in $(seq 1 "$ROUNDS"); do
    t0=$(now); psqlc -c "copy accounts to stdout" >/dev/null; t1=$(now)
    anchor=$(echo "$t1 - $t0" | bc -l)
    state="$WORK/state-$r"; mkdir -p "$state"
    rp=$(free_port); hp=$(free_port)
    bin="$WORK/bin-$first_build" run_env="${build_env[$first_build]:-}" start_and_time "$state" "$rp" "$hp" "$WORK/fresh-$r.log" || exit 1
    fresh=$elapsed
    fresh_cpu=$(cpu_of "$pid")
    # Wait for a checkpoint of the loaded data, then stop gracefully (the slot is kept for the restart).
    for _ in $(seq 1 600); do
      [ "$(status_field "$hp" "d['checkpoints']['written']")" -ge 1 ] 2>/dev/null && break
      sleep 0.2
    done
    size=$(du -b "$state"/checkpoints/*.ckpt 2>/dev/null | awk '{print $1}')
    kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
    printf "round %d  COPY %5.2f s | fresh snapshot %5.2f s (CPU %5.2f s, %s) | checkpoint file %s MiB | load %s\n" \
      "$r" "$anchor" "$fresh" "$fresh_cpu" "$first_build" "$(( ${size:-0} / 1048576 ))" "$(load)"
    # The restarts alternate between the builds, on the same state directory (each stops gracefully; the slot is kept).
    declare -A times=()
    for i in $(seq 1 "$RESTARTS"); do
      for build in $BUILDS; do
        rp=$(free_port); hp=$(free_port)   # fresh ports: nothing of an earlier process can answer
        bin="$WORK/bin-$build" run_env="${build_env[$build]:-}" start_and_time "$state" "$rp" "$hp" "$WORK/restart-$r-$i-$build.log" || exit 1
        restart=$elapsed
        restart_cpu=$(cpu_of "$pid")
        rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
        for _ in $(seq 1 100); do   # the start-up's figures are recorded just after the rows are served
          [ "$(status_field "$hp" "any(s['step'] == 'served' for s in d.get('startup', [])) or d['checkpoints']['loaded_lsn'] not in ('0/0', '')")" = True ] && break
          sleep 0.1
        done
        timeline=$(status_field "$hp" "', '.join(f\"{s['step']} {s['ms']}/{s.get('cpu_ms', '?')}\" for s in d.get('startup', [])) or 'n/a'")
        load_ms=$(status_field "$hp" "d['checkpoints']['load_ms']")
        copied=$(status_field "$hp" "d['snapshot']['rows_copied'] if 'snapshot' in d else 'n/a'")
        kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
        times[$build]="${times[$build]:-} $restart"
        printf "  restart %d %-10s %5.2f s (CPU %5.2f s, store load %s ms, rows copied %s, RSS %s MiB) | load %s\n" \
          "$i" "$build" "$restart" "$restart_cpu" "$load_ms" "$copied" "$rss" "$(load)"
        echo "      timeline (ms since exec / CPU ms by then): $timeline"
      done
    done
    for build in $BUILDS; do
      median=$(echo "${times[$build]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
      printf "round %d  %-10s restart median %5.2f s of %d | fresh/restart %.1fx\n" "$r" "$build" "$median" "$RESTARTS" "$(echo "$fresh / $median" | bc -l)"
    done
    psqlc -c "select pg_drop_replication_slot(slot_name) from pg_replication_slots where not active" >/dev/null
  done
  echo "# load at end: $(load)"
} | tee "$OUT"
echo "results: $OUT"
