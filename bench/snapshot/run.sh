#!/usr/bin/env bash
# Start → all rows served, the real `pgrelay run` process against `COPY … TO STDOUT` > /dev/null, side by side in one run.
#
#   bench/snapshot/run.sh
#
# A private PostgreSQL 15 (fsync off) gets N rows of the 8-column `accounts` table of /work/shared/bench (the figure
# issue 12 quotes). Each round runs the anchor (psql COPY to /dev/null), then every variant in turn: `pgrelay run`
# started fresh, polled with redis-cli DBSIZE until it holds N rows. Per variant and round it prints wall time, the
# ratio to that round's anchor, pgrelay's CPU time (user+system, read from /proc at the moment all rows were served),
# its RSS, and the load average — on a shared machine the CPU seconds move less than the wall time.
#
# Variants (VARIANTS, space-separated) are runtime settings for the same published build, or a ReadyToRun build:
#   default       as published (TieredCompilation and TieredPGO on, the .NET default)
#   nopgo         DOTNET_TieredPGO=0
#   notiered      DOTNET_TieredCompilation=0 (everything JIT-compiled fully optimized on first call)
#   r2r           published with -p:PublishReadyToRun=true (precompiled; tiering still on)
#   r2r-nopgo     the ReadyToRun build with DOTNET_TieredPGO=0
#   base          the code at BASE (a commit, e.g. BASE=main~5), published the same way: before/after in one run
# (Direct COPY framing against Npgsql's COPY API is compared in-process: bench/Pgrelay.Bench snapshot … both.)
#
# Knobs: N=1000000 ROUNDS=3 VARIANTS="default nopgo notiered r2r r2r-nopgo" POLL=0.02 TIMEOUT=300
# Results: bench/results/snapshot-start-<date>.txt (and stdout).
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
VARIANTS="${VARIANTS:-default nopgo notiered r2r r2r-nopgo}"
POLL="${POLL:-0.02}"
TIMEOUT="${TIMEOUT:-300}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
WORK="${WORK:-/tmp/pgrelay-snapshot-bench-$$}"
OUT="$ROOT/bench/results/snapshot-start-$(date -u +%Y%m%d-%H%M).txt"

for tool in dotnet psql redis-cli bc python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlc() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU seconds (user + system) of a live process, from /proc/<pid>/stat fields 14 and 15.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

mkdir -p "$WORK" "$ROOT/bench/results"
PGPORT=$(free_port)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "publishing (Release) ..."
dotnet publish "$ROOT/src/Pgrelay" -c Release -o "$WORK/bin" >/dev/null 2>&1 || { echo "publish failed" >&2; exit 1; }
if [[ " $VARIANTS " == *" base "* ]]; then
  [ -n "${BASE:-}" ] || { echo "variant base needs BASE=<commit>" >&2; exit 2; }
  mkdir -p "$WORK/base-src"
  git -C "$ROOT" archive "$BASE" | tar -x -C "$WORK/base-src" || { echo "cannot read $BASE" >&2; exit 1; }
  dotnet publish "$WORK/base-src/src/Pgrelay" -c Release -o "$WORK/bin-base" >/dev/null 2>&1 || { echo "publish of $BASE failed" >&2; exit 1; }
fi
if [[ " $VARIANTS " == *" r2r"* ]]; then
  dotnet publish "$ROOT/src/Pgrelay" -c Release -p:PublishReadyToRun=true -r linux-x64 --self-contained false -o "$WORK/bin-r2r" >/dev/null 2>&1 \
    || { echo "ReadyToRun publish failed" >&2; exit 1; }
fi

mkdir -p "$WORK/pg"; chown postgres: "$WORK/pg" 2>/dev/null
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null || exit 1
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
  "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off -c shared_buffers=256MB" \
  start >/dev/null || { cat "$WORK/pg/log"; exit 1; }
echo "loading $N rows ..."
psqlc -c "create table accounts (id text primary key, owner text, balance numeric(12,2), opened date, active bool, tier int, email text, note text)" \
  -c "insert into accounts select lpad(g::text, 12, '0'), 'owner ' || g, g * 1.25, date '2020-01-01' + g % 1000, g % 3 = 0, g % 7, 'u' || g || '@example.com', case when g % 4 = 0 then null else 'note ' || g end from generate_series(1, $N) g" \
  -c "vacuum analyze accounts" -c "create publication pub for table accounts" >/dev/null || exit 1

run_variant() { # variant round anchor
  local variant=$1 bin="$WORK/bin" envs=() rp
  case "$variant" in
    default) ;;
    nopgo) envs=(DOTNET_TieredPGO=0) ;;
    notiered) envs=(DOTNET_TieredCompilation=0) ;;
    r2r) bin="$WORK/bin-r2r" ;;
    r2r-nopgo) bin="$WORK/bin-r2r"; envs=(DOTNET_TieredPGO=0) ;;
    base) bin="$WORK/bin-base" ;;
    *) echo "unknown variant $variant" >&2; return 1 ;;
  esac
  rp=$(free_port)
  local t0 t1 served=0
  t0=$(now)
  env "${envs[@]}" "$bin/pgrelay" run --source "postgres://postgres@127.0.0.1:$PGPORT/postgres" --publication pub \
    --slot bench_start --resp "127.0.0.1:$rp" --http off --memcached off >"$WORK/relay-$variant-$2.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(redis-cli -p "$rp" DBSIZE 2>/dev/null)" = "$N" ]; then served=1; break; fi
    if [ "$(echo "$(now) - $t0 > $TIMEOUT" | bc -l)" = 1 ]; then kill -TERM "$pid"; break; fi   # a hang guard
    sleep "$POLL"
  done
  t1=$(now)
  if [ $served = 0 ]; then echo "round $2 $variant: pgrelay exited before serving all rows"; tail -5 "$WORK/relay-$variant-$2.log"; pid=; return 1; fi
  local cpu rss wall
  cpu=$(cpu_of "$pid"); rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  wall=$(echo "$t1 - $t0" | bc -l)
  kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
  printf "round %d %-10s start-to-served %5.2f s  ratio %.2fx  pgrelay CPU %5.2f s  RSS %4d MiB  load %s\n" \
    "$2" "$variant" "$wall" "$(echo "$3 / $wall" | bc -l)" "$cpu" "$rss" "$(load)"
  # Builds that log their start-up timeline (ms since exec and CPU ms per step) say where the time went.
  grep -o "start-up took .*(ms since" "$WORK/relay-$variant-$2.log" | head -1 | sed 's/^start-up took /    timeline: /; s/ (ms since$//'
}

{
  echo "# bench/snapshot/run.sh: N=$N ROUNDS=$ROUNDS VARIANTS=\"$VARIANTS\" BASE=${BASE:-} at $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "# load at start: $(load)"
  for r in $(seq 1 "$ROUNDS"); do
    t0=$(now); psqlc -c "copy accounts to stdout" >/dev/null; t1=$(now)
    anchor=$(echo "$t1 - $t0" | bc -l)
    printf "round %d %-10s COPY to /dev/null %5.2f s  load %s\n" "$r" anchor "$anchor" "$(load)"
    for v in $VARIANTS; do run_variant "$v" "$r" "$anchor"; done
  done
  echo "# load at end: $(load)"
} | tee "$OUT"
echo "results: $OUT"
