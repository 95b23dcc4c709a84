#!/usr/bin/env bash
# Side by side: pgrelay's Redis listener vs redis-server 7 holding the same rows as hashes.
#
#   bench/resp/run.sh
#
# Starts redis-server on a free port and loads ROWS rows of an 8-column "accounts" table as hashes (HSET from
# BenchHost, NULL columns left out), and BenchHost serving the same rows from pgrelay's store (no PostgreSQL):
# once with Kestrel's default scheduling (what `pgrelay run` does today) and, with INLINE=1, once with
# UnsafePreferInlineScheduling plus inline socket completions (the request runs on the socket's I/O thread, as
# Redis's event loop does). Then redis-benchmark (-c CLIENTS, -n REQUESTS, -r ROWS so __rand_int__ picks existing
# keys) runs HGETALL and HGET, unpipelined and -P PIPELINE, against each server in turn, alternating who goes
# first, ROUNDS times; the table reports the median round's throughput and p99.
# Everything is bounded: fixed request counts, and every process runs under `timeout`.
# Results: bench/resp/results/<date>.md.
#
# Knobs (environment): ROWS=100000 REQUESTS=200000 CLIENTS=50 PIPELINE=16 ROUNDS=3 TIMEOUT=900 INLINE=1
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROWS="${ROWS:-100000}"
REQUESTS="${REQUESTS:-200000}"
CLIENTS="${CLIENTS:-50}"
PIPELINE="${PIPELINE:-16}"
ROUNDS="${ROUNDS:-3}"
TIMEOUT="${TIMEOUT:-900}"
INLINE="${INLINE:-1}"

for tool in redis-server redis-cli redis-benchmark dotnet python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools)" >&2; exit 2; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 300); do
    redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing answers PING on port $1" >&2; return 1
}

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building BenchHost..."
dotnet build -c Release -v q --nologo "$HERE/BenchHost/BenchHost.csproj" >/dev/null
HOST=(dotnet "$HERE/BenchHost/bin/Release/net10.0/BenchHost.dll")

LABELS=(); PORTS=()

REDIS_PORT="$(free_port)"
timeout "$TIMEOUT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT"
echo "loading $ROWS hashes into redis-server..."
timeout 300 "${HOST[@]}" hset "$ROWS" | timeout 300 redis-cli -p "$REDIS_PORT" --pipe | tail -1
LABELS+=("redis"); PORTS+=("$REDIS_PORT")

start_benchhost() {  # <label> [env...]
  local label="$1"; shift
  local port; port="$(free_port)"
  env "$@" timeout "$TIMEOUT" "${HOST[@]}" serve "$port" "$ROWS" "$TIMEOUT" >"$WORK/$label.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
  LABELS+=("$label"); PORTS+=("$port")
}
start_benchhost "pgrelay"
[[ "$INLINE" == 1 ]] && start_benchhost "pgrelay-inline" BENCH_INLINE_SCHEDULING=1 DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1

# Same reply from every server for a sample key, or the comparison means nothing.
sample="pub.accounts.$(printf '%012d' $((ROWS / 2)))"
want="$(redis-cli -p "$REDIS_PORT" HGETALL "$sample" | paste -sd' ')"
for i in "${!PORTS[@]}"; do
  got="$(redis-cli -p "${PORTS[$i]}" HGETALL "$sample" | paste -sd' ')"
  [[ "$got" == "$want" ]] || { echo "${LABELS[$i]} answers HGETALL $sample differently:"$'\n'" $got"$'\n'" vs $want" >&2; exit 1; }
done

run() {  # <port> <pipeline> <requests> <command...> -> "rps p99_ms"
  local port="$1" depth="$2" requests="$3"; shift 3
  timeout "$TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$requests" -r "$ROWS" -P "$depth" --csv "$@" |
    tail -1 | awk -F'","' '{ gsub(/"/, "", $0); split($0, f, ","); print f[2], f[7] }'
}

echo "warming up (JIT, connections); not reported..."
for port in "${PORTS[@]}"; do
  run "$port" "$PIPELINE" "$REQUESTS" HGETALL 'pub.accounts.__rand_int__' >/dev/null
  run "$port" 1 "$((REQUESTS / 4))" HGET 'pub.accounts.__rand_int__' email >/dev/null
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
SPECS=("HGETALL:1" "HGETALL:$PIPELINE" "HGET:1" "HGET:$PIPELINE")
declare -A RPS P99
for spec in "${SPECS[@]}"; do
  cmd="${spec%%:*}"; depth="${spec##*:}"
  args=("$cmd" 'pub.accounts.__rand_int__'); [[ "$cmd" == HGET ]] && args+=(email)
  requests="$REQUESTS"; [[ "$depth" == 1 ]] && requests="$((REQUESTS / 4))"   # a round trip per request: slower
  for round in $(seq 1 "$ROUNDS"); do
    order=("${!PORTS[@]}")
    (( round % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))      # alternate who goes first
    for i in "${order[@]}"; do
      read -r rps p99 < <(run "${PORTS[$i]}" "$depth" "$requests" "${args[@]}")
      echo "$cmd -P $depth round $round ${LABELS[$i]}: $rps req/s, p99 $p99 ms"
      RPS["$spec,$i"]+="$rps "; P99["$spec,$i"]+="$p99 "
    done
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$HERE/results"
OUT="$HERE/results/$(date +%F).md"
{
  echo "# pgrelay Redis listener vs redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  echo
  echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo "$ROWS rows (8 columns, NULLs omitted) on both sides; redis-benchmark -c $CLIENTS -r $ROWS, $REQUESTS requests pipelined,"
  echo "$((REQUESTS / 4)) unpipelined; median of $ROUNDS alternating rounds. p99 in ms as redis-benchmark reports it."
  echo
  header="| command | pipeline |"; rule="| --- | --- |"
  for i in "${!PORTS[@]}"; do header+=" ${LABELS[$i]} req/s | ${LABELS[$i]} p99 ms |"; rule+=" ---: | ---: |"; done
  for i in "${!PORTS[@]}"; do (( i > 0 )) && { header+=" ${LABELS[$i]}/redis |"; rule+=" ---: |"; }; done
  echo "$header"; echo "$rule"
  for spec in "${SPECS[@]}"; do
    line="| ${spec%%:*} | ${spec##*:} |"
    declare -a med=()
    for i in "${!PORTS[@]}"; do
      med[$i]="$(echo "${RPS["$spec,$i"]}" | tr ' ' '\n' | grep . | median)"
      line+=" ${med[$i]} | $(echo "${P99["$spec,$i"]}" | tr ' ' '\n' | grep . | median) |"
    done
    for i in "${!PORTS[@]}"; do (( i > 0 )) && line+=" $(awk -v a="${med[$i]}" -v b="${med[0]}" 'BEGIN { printf "%.2fx", a / b }') |"; done
    echo "$line"
  done
  echo
  echo "Server-side allocation while serving (BenchHost's own count at exit):"
} >"$OUT"
for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
sleep 3
for label in "${LABELS[@]:1}"; do echo "- $label: $(grep -h 'served' "$WORK/$label.log" || echo 'n/a')" >>"$OUT"; done
cat "$OUT"
echo "written to $OUT"
