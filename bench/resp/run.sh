#!/usr/bin/env bash
# Side by side: pgrelay's Redis listener vs redis-server 7 holding the same rows as hashes, plain and over TLS.
#
#   bench/resp/run.sh
#
# Starts redis-server on a free port (and a TLS port, certificate made here with openssl) and loads ROWS rows of an
# 8-column "accounts" table as hashes (HSET from BenchHost, NULL columns left out); then BenchHost serving the same
# rows from pgrelay's store (no PostgreSQL) on pgrelay's transport, as `pgrelay run` serves them: epoll event loops
# (one per two cores, at most 4), and a TLS listener on the same loops. STREAMS=1 adds a BenchHost whose
# connections use .NET's asynchronous sockets instead of epoll (the fallback elsewhere than Linux); LOOPS=n adds one
# with n event loops. redis-benchmark (-c CLIENTS, -n REQUESTS, -r ROWS so __rand_int__ picks existing keys) runs
# HGETALL and HGET, unpipelined and -P PIPELINE, against each server in turn, alternating who goes first, ROUNDS
# times; then HGET over TLS against both. The table reports the median round's throughput, p99, and each server's
# CPU per request (its utime+stime during the run, from /proc, divided by the requests): CPU per request depends far
# less on the machine's load than throughput does.
# Everything is bounded: fixed request counts, and every process runs under `timeout`.
# Results: bench/resp/results/<date>.md. Smoke run: ROWS=10000 REQUESTS=20000 ROUNDS=1.
#
# Knobs (environment): ROWS=100000 REQUESTS=200000 CLIENTS=50 PIPELINE=16 ROUNDS=3 TIMEOUT=540 DEADLINE=570 TLS=1 STREAMS=0 LOOPS=
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROWS="${ROWS:-100000}"
REQUESTS="${REQUESTS:-200000}"
CLIENTS="${CLIENTS:-50}"
PIPELINE="${PIPELINE:-16}"
ROUNDS="${ROUNDS:-3}"
TIMEOUT="${TIMEOUT:-540}"
TLS="${TLS:-1}"
STREAMS="${STREAMS:-0}"
LOOPS="${LOOPS:-}"

for tool in redis-server redis-cli redis-benchmark dotnet python3 openssl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y redis-server redis-tools openssl)" >&2; exit 2; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 300); do
    redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing answers PING on port $1" >&2; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
TICKS="$(getconf CLK_TCK)"

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The whole run is bounded: past DEADLINE seconds the script and everything it started are stopped.
DEADLINE="${DEADLINE:-570}"
( trap 'kill $nap 2>/dev/null; exit 0' TERM; sleep "$DEADLINE" & nap=$!; wait $nap
  echo "deadline of $DEADLINE s reached: stopping (no report)" >&2; kill -TERM $$ 2>/dev/null; pkill -TERM -P $$ ) &
PIDS+=($!)

echo "publishing BenchHost..."
dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -o "$WORK/host" "$HERE/BenchHost/BenchHost.csproj" >/dev/null   # ReadyToRun, tiered PGO off: as pgrelay ships
HOST=(dotnet "$WORK/host/BenchHost.dll")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

LABELS=(); PORTS=(); SPIDS=(); TLS_PORTS=()

REDIS_PORT="$(free_port)"; REDIS_TLS="$(free_port)"
timeout "$TIMEOUT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --tls-port "$REDIS_TLS" --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem" --tls-auth-clients no >"$WORK/redis.log" 2>&1 &
PIDS+=($!); SPIDS+=($!)
wait_port "$REDIS_PORT"
echo "loading $ROWS hashes into redis-server..."
timeout 300 "${HOST[@]}" hset "$ROWS" | timeout 300 redis-cli -p "$REDIS_PORT" --pipe | tail -1
LABELS+=("redis"); PORTS+=("$REDIS_PORT"); TLS_PORTS+=("$REDIS_TLS")

start_benchhost() {  # <label> [env...]
  local label="$1"; shift
  local port tls; port="$(free_port)"; tls="$(free_port)"
  env BENCH_TLS_PORT="$tls" BENCH_TLS_CERT="$WORK/cert.pem" BENCH_TLS_KEY="$WORK/key.pem" "$@" \
    timeout "$TIMEOUT" "${HOST[@]}" serve "$port" "$ROWS" "$TIMEOUT" >"$WORK/$label.log" 2>&1 &
  PIDS+=($!); SPIDS+=($!)
  wait_port "$port"
  LABELS+=("$label"); PORTS+=("$port"); TLS_PORTS+=("$tls")
}
start_benchhost "pgrelay"
[[ "$STREAMS" == 1 ]] && start_benchhost "pgrelay-streams" BENCH_STREAMS=1
[[ -n "$LOOPS" ]] && start_benchhost "pgrelay-loops$LOOPS" BENCH_IO_THREADS="$LOOPS"
# timeout(1) runs the server as its child: measure the child's CPU.
for i in "${!SPIDS[@]}"; do SPIDS[$i]="$(pgrep -P "${SPIDS[$i]}" | head -1 || echo "${SPIDS[$i]}")"; done

# Same reply from every server for a sample key, or the comparison means nothing.
sample="pub.accounts.$(printf '%012d' $((ROWS / 2)))"
want="$(redis-cli -p "$REDIS_PORT" HGETALL "$sample" | paste -sd' ')"
for i in "${!PORTS[@]}"; do
  got="$(redis-cli -p "${PORTS[$i]}" HGETALL "$sample" | paste -sd' ')"
  [[ "$got" == "$want" ]] || { echo "${LABELS[$i]} answers HGETALL $sample differently:"$'\n'" $got"$'\n'" vs $want" >&2; exit 1; }
done

run() {  # <server index> <port> <pipeline> <requests> [--tls] <command...> -> "rps p99_ms cpu_us_per_request"
  local i="$1" port="$2" depth="$3" requests="$4"; shift 4
  local tls=(); [[ "${1:-}" == --tls ]] && { tls=(--tls --insecure); shift; }
  local before after line
  before="$(cpu_ticks "${SPIDS[$i]}")"
  line="$(timeout "$TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" "${tls[@]}" -c "$CLIENTS" -n "$requests" -r "$ROWS" -P "$depth" --csv "$@" | tail -1)"
  after="$(cpu_ticks "${SPIDS[$i]}")"
  awk -v line="$line" -v t=$((after - before)) -v hz="$TICKS" -v n="$requests" 'BEGIN {
    gsub(/"/, "", line); split(line, f, ","); printf "%s %s %.1f\n", f[2], f[7], t / hz * 1e6 / n }'
}

echo "warming up (JIT, connections); not reported..."
for i in "${!PORTS[@]}"; do
  run "$i" "${PORTS[$i]}" "$PIPELINE" "$REQUESTS" HGETALL 'pub.accounts.__rand_int__' >/dev/null
  run "$i" "${PORTS[$i]}" 1 "$((REQUESTS / 4))" HGET 'pub.accounts.__rand_int__' email >/dev/null
  [[ "$TLS" == 1 ]] && run "$i" "${TLS_PORTS[$i]}" 1 "$((REQUESTS / 8))" --tls HGET 'pub.accounts.__rand_int__' email >/dev/null
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
SPECS=("HGETALL:1" "HGETALL:$PIPELINE" "HGET:1" "HGET:$PIPELINE")
[[ "$TLS" == 1 ]] && SPECS+=("HGET-TLS:1" "HGET-TLS:$PIPELINE")
declare -A RPS P99 CPU
for spec in "${SPECS[@]}"; do
  cmd="${spec%%:*}"; depth="${spec##*:}"
  args=(HGETALL 'pub.accounts.__rand_int__'); [[ "$cmd" == HGET* ]] && args=(HGET 'pub.accounts.__rand_int__' email)
  requests="$REQUESTS"; [[ "$depth" == 1 ]] && requests="$((REQUESTS / 4))"   # a round trip per request: slower
  for round in $(seq 1 "$ROUNDS"); do
    order=("${!PORTS[@]}")
    (( round % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))      # alternate who goes first
    for i in "${order[@]}"; do
      if [[ "$cmd" == *-TLS ]]; then read -r rps p99 cpu < <(run "$i" "${TLS_PORTS[$i]}" "$depth" "$requests" --tls "${args[@]}")
      else read -r rps p99 cpu < <(run "$i" "${PORTS[$i]}" "$depth" "$requests" "${args[@]}"); fi
      echo "$cmd -P $depth round $round ${LABELS[$i]}: $rps req/s, p99 $p99 ms, $cpu µs CPU/request"
      RPS["$spec,$i"]+="$rps "; P99["$spec,$i"]+="$p99 "; CPU["$spec,$i"]+="$cpu "
    done
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$HERE/results"
OUT="$HERE/results/$(date +%F-%H%M).md"
{
  echo "# pgrelay Redis listener vs redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  echo
  echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, load average before $LOAD_BEFORE, after $LOAD_AFTER."
  echo "$ROWS rows (8 columns, NULLs omitted) on both sides; redis-benchmark -c $CLIENTS -r $ROWS, $REQUESTS requests pipelined,"
  echo "$((REQUESTS / 4)) unpipelined; median of $ROUNDS alternating rounds. p99 in ms as redis-benchmark reports it;"
  echo "CPU: the server's user+system time during the run per request (µs). HGET-TLS: the same HGET over TLS (redis: its"
  echo "own TLS port; pgrelay: its TLS listener), certificate from openssl, client --insecure."
  echo
  header="| command | -P |"; rule="| --- | --- |"
  for i in "${!PORTS[@]}"; do header+=" ${LABELS[$i]} req/s | p99 ms | µs CPU/req |"; rule+=" ---: | ---: | ---: |"; done
  for i in "${!PORTS[@]}"; do (( i > 0 )) && { header+=" ${LABELS[$i]}/redis |"; rule+=" ---: |"; }; done
  echo "$header"; echo "$rule"
  for spec in "${SPECS[@]}"; do
    line="| ${spec%%:*} | ${spec##*:} |"
    declare -a med=()
    for i in "${!PORTS[@]}"; do
      med[$i]="$(echo "${RPS["$spec,$i"]}" | tr ' ' '\n' | grep . | median)"
      line+=" ${med[$i]} | $(echo "${P99["$spec,$i"]}" | tr ' ' '\n' | grep . | median) | $(echo "${CPU["$spec,$i"]}" | tr ' ' '\n' | grep . | median) |"
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
