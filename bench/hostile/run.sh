#!/usr/bin/env bash
# Issue 11's hostile-input table, pgrelay and redis-server 7 side by side: each scenario of hostile.py runs against
# redis-server and then against pgrelay's Redis listener (BenchHost, same rows), both requiring a password and with
# maxclients 12000; for each: the server's CPU, its peak RSS during the scenario and its RSS afterwards.
#
#   bench/hostile/run.sh                       Knobs: ROWS=100000 SCENARIOS="big trickle preauth idle noread subs" DEADLINE=570
#
# Results: bench/hostile/results/<date>.md. Needs ulimit -n above 10,100 (the idle scenario's connections).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$HERE/.."
ROWS="${ROWS:-100000}"; SCENARIOS="${SCENARIOS:-big trickle preauth idle noread subs}"
ulimit -n 20000 2>/dev/null || true
WORK="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The whole run is bounded: past DEADLINE seconds the script and everything it started are stopped.
DEADLINE="${DEADLINE:-570}"
( trap 'kill $nap 2>/dev/null; exit 0' TERM; sleep "$DEADLINE" & nap=$!; wait $nap
  echo "deadline of $DEADLINE s reached: stopping (no report)" >&2; kill -TERM $$ 2>/dev/null; pkill -TERM -P $$ ) &
PIDS+=($!)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -o "$WORK/host" "$ROOT/resp/BenchHost/BenchHost.csproj" >/dev/null   # ReadyToRun, tiered PGO off: as pgrelay ships
HOST=(dotnet "$WORK/host/BenchHost.dll")

RP="$(free_port)"
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --requirepass secret --maxclients 12000 >"$WORK/redis.log" 2>&1 &
RPID=$!; PIDS+=($RPID)
until redis-cli -p "$RP" -a secret --no-auth-warning PING >/dev/null 2>&1; do sleep 0.1; done
"${HOST[@]}" hset "$ROWS" | redis-cli -p "$RP" -a secret --no-auth-warning --pipe | tail -1

PP="$(free_port)"
BENCH_PASSWORD=secret BENCH_MAXCLIENTS=12000 "${HOST[@]}" serve "$PP" "$ROWS" 3600 >"$WORK/pgrelay.log" 2>&1 &
PPID_=$!; PIDS+=($PPID_)
until redis-cli -p "$PP" -a secret --no-auth-warning PING >/dev/null 2>&1; do sleep 0.1; done

BASE_R="$(rss $RPID)"; BASE_P="$(rss $PPID_)"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
declare -A OUT
for s in $SCENARIOS; do
  OUT["$s,redis"]="$(timeout 300 python3 "$HERE/hostile.py" "$RP" "$RPID" secret "$s" || echo "$s failed")"
  echo "redis:   ${OUT["$s,redis"]}"
  OUT["$s,pgrelay"]="$(timeout 300 python3 "$HERE/hostile.py" "$PP" "$PPID_" secret "$s" || echo "$s failed")"
  echo "pgrelay: ${OUT["$s,pgrelay"]}"
done
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
mkdir -p "$HERE/results"
FILE="$HERE/results/$(date +%F-%H%M).md"
{
  echo "# Hostile input: pgrelay vs redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  echo
  echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "$ROWS rows each; both require a password, maxclients 12000. RSS at start: redis $BASE_R MB, pgrelay $BASE_P MB."
  echo
  echo "| scenario | redis CPU s | redis peak RSS MB | redis RSS after MB | pgrelay CPU s | pgrelay peak RSS MB | pgrelay RSS after MB | notes (redis / pgrelay) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  for s in $SCENARIOS; do
    r="${OUT["$s,redis"]}"; p="${OUT["$s,pgrelay"]}"
    echo "| $s | $(field "$r" cpu_s) | $(field "$r" peak_rss_mb) | $(field "$r" rss_mb) | $(field "$p" cpu_s) | $(field "$p" peak_rss_mb) | $(field "$p" rss_mb) | $(cut -d' ' -f5- <<<"$r") / $(cut -d' ' -f5- <<<"$p") |"
  done
  echo
  echo "RSS at the end: redis $(rss $RPID) MB, pgrelay $(rss $PPID_) MB."
} | tee "$FILE"
echo "written to $FILE"
