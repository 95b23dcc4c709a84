#!/usr/bin/env bash
# Store bytes per row and process RSS: the real `pgrelay run` process against redis-server 7 holding the same rows as
# hashes, side by side in one run (issue 12's memory goals: store ≤ 0.4× redis used_memory, RSS ≤ 0.6× redis RSS).
#
#   bench/memory/run.sh
#
# A private PostgreSQL 15 (fsync off) gets N rows of the 8-column `accounts` table of /work/shared/bench. Per round a
# fresh `pgrelay run` loads them; RSS is sampled the moment DBSIZE = N and again SETTLE seconds later (the post-load
# collection's give-back reaches the OS asynchronously: both figures are reported). Besides RSS it prints INFO memory's
# used_memory (the whole GC heap) and used_memory_dataset (the store's own accounting: pages + index), per row, and
# /proc/<pid>/smaps_rollup's anonymous memory. Then redis-server gets the same rows (HSET per row) and reports its
# used_memory growth per row and RSS. Ports are free ones; the load average is printed with each line.
#
# Knobs: N=1000000 ROUNDS=2 SETTLE=2 REDIS=0 (pgrelay only) DETAIL=1 (resident memory by mapping) BIN=<published pgrelay dir, skips publishing>;
# DOTNET_* variables pass through to pgrelay (e.g. DOTNET_GCConserveMemory=5 to compare a GC setting in one run).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
N="${N:-1000000}"; ROUNDS="${ROUNDS:-2}"; SETTLE="${SETTLE:-2}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
WORK="${WORK:-/tmp/pgrelay-memory-bench-$$}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlc() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
rss_mib() { awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
anon_mib() { awk '/^Anonymous/ {printf "%d", $2 / 1024}' "/proc/$1/smaps_rollup"; }
info() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }

mkdir -p "$WORK"; chown postgres: "$WORK" 2>/dev/null
PGPORT=$(free_port); pid=; spid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1; rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "${BIN:-}" ]; then
  BIN="$WORK/bin"
  dotnet publish "$ROOT/src/Pgrelay" -c Release -o "$BIN" >/dev/null 2>&1 || { echo "publish failed" >&2; exit 1; }
fi
mkdir -p "$WORK/pg"; chown postgres: "$WORK/pg" 2>/dev/null
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null || exit 1
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
  "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical -c fsync=off -c shared_buffers=256MB" start >/dev/null || exit 1
psqlc -c "create table accounts (id text primary key, owner text, balance numeric(12,2), opened date, active bool, tier int, email text, note text)" \
  -c "insert into accounts select lpad(g::text, 12, '0'), 'owner ' || g, g * 1.25, date '2020-01-01' + g % 1000, g % 3 = 0, g % 7, 'u' || g || '@example.com', case when g % 4 = 0 then null else 'note ' || g end from generate_series(1, $N) g" \
  -c "vacuum analyze accounts" -c "create publication pub for table accounts" >/dev/null || exit 1

for r in $(seq 1 "$ROUNDS"); do
  rp=$(free_port)
  "$BIN/pgrelay" run --source "postgres://postgres@127.0.0.1:$PGPORT/postgres" --publication pub --resp "127.0.0.1:$rp" \
    --http off --memcached off >"$WORK/relay-$r.log" 2>&1 &
  pid=$!
  until [ "$(redis-cli -p "$rp" DBSIZE 2>/dev/null)" = "$N" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "pgrelay exited"; tail "$WORK/relay-$r.log"; exit 1; }; sleep 0.05
  done
  rss0=$(rss_mib $pid); anon0=$(anon_mib $pid)
  sleep "$SETTLE"
  rss1=$(rss_mib $pid); anon1=$(anon_mib $pid)
  heap=$(info "$rp" used_memory); store=$(info "$rp" used_memory_dataset)
  # DETAIL=1: where the resident memory is, by mapping (file-backed by file, anonymous together), largest first.
  [ -n "${DETAIL:-}" ] && awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6) } /^Rss:/ { rss[name] += $2 }
    END { for (n in rss) if (rss[n] >= 1024) printf "  %6d KiB %s\n", rss[n], n }' "/proc/$pid/smaps" | sort -rn | head -15
  printf "round %d: pgrelay RSS %d MiB at DBSIZE = N, %d MiB %ss later (anonymous %d → %d MiB); GC heap %d B/row, store %d B/row; load %s\n" \
    "$r" "$rss0" "$rss1" "$SETTLE" "$anon0" "$anon1" $((heap / N)) $((store / N)) "$(load)"
  if [ -n "${AFTER:-}" ]; then   # an experiment on the loaded process, e.g. AFTER='gdb -p $PID -batch -ex "call (int)malloc_trim(0)"'
    PID=$pid bash -c "$AFTER" >/dev/null 2>&1; sleep 1
    printf "  after AFTER: RSS %d MiB (anonymous %d MiB)\n" "$(rss_mib $pid)" "$(anon_mib $pid)"
  fi
  kill -TERM $pid; wait $pid 2>/dev/null; pid=
done

[ "${REDIS:-1}" = 0 ] && exit 0
sp=$(free_port)
redis-server --port "$sp" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
spid=$!
until redis-cli -p "$sp" PING >/dev/null 2>&1; do sleep 0.05; done
base=$(info "$sp" used_memory)
psqlc -At -c "select 'HSET pub.accounts.' || id || ' id ' || id || ' owner \"' || owner || '\" balance ' || balance || ' opened ' || opened || ' active ' || (case when active then 't' else 'f' end) || ' tier ' || tier || ' email ' || email || coalesce(' note \"' || note || '\"', '') from accounts" | redis-cli -p "$sp" >/dev/null
used=$(info "$sp" used_memory)
printf "redis-server: used_memory growth %d B/row, RSS %d MiB; load %s\n" $(((used - base) / N)) "$(rss_mib $spid)" "$(load)"
