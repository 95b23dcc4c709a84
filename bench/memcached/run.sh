#!/usr/bin/env bash
# Side-by-side: pgrelay's memcached listener vs a real memcached 1.6 serving the same values.
#
#   bench/memcached/run.sh [pgrelay-host:port]
#
# With an address, benchmarks that running pgrelay (the full host, replicating from PostgreSQL). Without one,
# starts bench/memcached/BenchHost: pgrelay's memcached listener over a synthetic table of $ROWS rows, no PostgreSQL,
# listening as `pgrelay run` listens (pgrelay's transport: epoll event loops, one per two cores, at most 4), and with
# STREAMS=1 one whose connections use .NET's asynchronous sockets instead (the fallback elsewhere than Linux), and
# with LOOPS=n one with n event loops.
# Each run also reports the server's CPU per operation (user+system time from /proc during the run, divided by the
# operations): it depends far less on the machine's load than throughput does.
# Either way the keys come from the
# pgrelay side (memcdump, i.e. stats cachedump), every value is copied byte for byte into memcached (get from
# pgrelay, set into memcached), and then the same bounded load (fixed request counts, one process-wide timeout)
# runs against each server, alternating, ROUNDS times; the tables report the median round.
# Results: bench/memcached/results/<date>.md (markdown) and a line per run on stdout.
#
# Knobs (environment): ROWS=100000 KEYS=10000 REQUESTS=200000 CONNECTIONS=4 PIPELINE=16 MULTIGET=50 ROUNDS=3
#                      TIMEOUT=540 DEADLINE=570 STREAMS=0 LOOPS=
# memcslap is not used for the numbers: its get test first stores keys of its own and then reads those, and
# pgrelay refuses writes, so against pgrelay it reads nothing ("Time to get 0 keys"). LoadGen's get mode is the
# same request (one "get <key>" per round trip) over keys that exist on both sides.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROWS="${ROWS:-100000}"
KEYS="${KEYS:-10000}"
REQUESTS="${REQUESTS:-200000}"
CONNECTIONS="${CONNECTIONS:-4}"
PIPELINE="${PIPELINE:-16}"
MULTIGET="${MULTIGET:-50}"
ROUNDS="${ROUNDS:-3}"
TIMEOUT="${TIMEOUT:-540}"
STREAMS="${STREAMS:-0}"
LOOPS="${LOOPS:-}"
PGRELAY="${1:-}"

for tool in memcached memcdump dotnet python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y memcached libmemcached-tools)" >&2; exit 2; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The whole run is bounded: past DEADLINE seconds the script and everything it started are stopped.
DEADLINE="${DEADLINE:-570}"
( trap 'kill $nap 2>/dev/null; exit 0' TERM; sleep "$DEADLINE" & nap=$!; wait $nap
  echo "deadline of $DEADLINE s reached: stopping (no report)" >&2; kill -TERM $$ 2>/dev/null; pkill -TERM -P $$ ) &
PIDS+=($!)

echo "building the load generator..."
dotnet build -c Release -v q --nologo "$HERE/LoadGen/LoadGen.csproj" >/dev/null
LOADGEN=(dotnet "$HERE/LoadGen/bin/Release/net10.0/LoadGen.dll")

# Servers under test: label and address, memcached first.
LABELS=()
ADDRS=()
SPIDS=()
cpu_ticks() { [[ -n "$1" && -r "/proc/$1/stat" ]] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
TICKS="$(getconf CLK_TCK)"

MC_PORT="$(free_port)"
timeout "$TIMEOUT" memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -u root -m 1024 -t 4 >"$WORK/memcached.log" 2>&1 &
PIDS+=($!); SPIDS+=("$(sleep 0.2; pgrep -P $! | head -1)")
wait_port "$MC_PORT"
LABELS+=("memcached"); ADDRS+=("127.0.0.1:$MC_PORT")

start_benchhost() {  # <label> [env...]
  local label="$1"; shift
  local port; port="$(free_port)"
  env "$@" timeout "$TIMEOUT" dotnet "$WORK/host/BenchHost.dll" "$port" "$ROWS" "$TIMEOUT" >"$WORK/$label.log" 2>&1 &
  local tpid=$!
  PIDS+=($tpid)
  wait_port "$port"
  SPIDS+=("$(pgrep -P "$tpid" | head -1)")
  LABELS+=("$label"); ADDRS+=("127.0.0.1:$port")
}

if [[ -z "$PGRELAY" ]]; then
  dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -o "$WORK/host" "$HERE/BenchHost/BenchHost.csproj" >/dev/null   # ReadyToRun, tiered PGO off: as pgrelay ships
  start_benchhost "pgrelay"
  [[ "$STREAMS" == 1 ]] && start_benchhost "pgrelay-streams" BENCH_STREAMS=1
  [[ -n "$LOOPS" ]] && start_benchhost "pgrelay-loops$LOOPS" BENCH_IO_THREADS="$LOOPS"
  SOURCE="BenchHost (synthetic table, $ROWS rows, no PostgreSQL)"
else
  LABELS+=("pgrelay"); ADDRS+=("$PGRELAY"); SPIDS+=("")
  SOURCE="pgrelay host at $PGRELAY"
fi
PG="${ADDRS[1]}"

echo "listing keys on $PG and copying their values into memcached ${ADDRS[0]}..."
timeout 120 memcdump --servers="$PG" | head -n "$KEYS" >"$WORK/keys.txt" || true
[[ -s "$WORK/keys.txt" ]] || { echo "no keys listed by memcdump on $PG" >&2; exit 1; }
timeout 300 "${LOADGEN[@]}" copy "$PG" "${ADDRS[0]}" "$WORK/keys.txt"

run() {  # <addr> <mode> <pipeline> <requests> [server pid] -> "ops_per_sec p99_us cpu_us_per_op"
  local before after line
  before="$(cpu_ticks "${5:-}")"
  line="$(timeout "$TIMEOUT" "${LOADGEN[@]}" bench "$1" "$WORK/keys.txt" "$4" "$CONNECTIONS" "$3" "$2" |
    sed -n 's/.*ops=\([0-9]*\).*ops_per_sec=\([0-9]*\).*p99_us=\([0-9]*\).*/\1 \2 \3/p')"
  after="$(cpu_ticks "${5:-}")"
  awk -v line="$line" -v t=$((after - before)) -v hz="$TICKS" 'BEGIN { split(line, f, " "); printf "%s %s %.2f\n", f[2], f[3], (f[1] > 0 ? t / hz * 1e6 / f[1] : 0) }'
}

echo "warming up every server (JIT, connection pools); these runs are not reported..."
for addr in "${ADDRS[@]}"; do
  for mode in get mg; do run "$addr" "$mode" "$PIPELINE" "$REQUESTS" >/dev/null; done
  run "$addr" multiget "$MULTIGET" "$REQUESTS" >/dev/null
  run "$addr" get 1 "$((REQUESTS / 10))" >/dev/null
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
SPECS=("get:1" "get:$PIPELINE" "mg:$PIPELINE" "multiget:$MULTIGET")
declare -A OPS P99 CPU
for spec in "${SPECS[@]}"; do
  mode="${spec%%:*}"; depth="${spec##*:}"
  requests="$REQUESTS"; [[ "$depth" == 1 ]] && requests="$((REQUESTS / 10))"   # one round trip per request: slower
  for round in $(seq 1 "$ROUNDS"); do
    order=("${!ADDRS[@]}")
    (( round % 2 == 0 )) && order=($(printf '%s\n' "${order[@]}" | tac))        # alternate who goes first
    for i in "${order[@]}"; do
      read -r ops p99 cpu < <(run "${ADDRS[$i]}" "$mode" "$depth" "$requests" "${SPIDS[$i]}")
      echo "$spec round $round ${LABELS[$i]}: $ops ops/s, p99 ${p99} us, $cpu µs CPU/op"
      OPS["$spec,$i"]+="$ops "; P99["$spec,$i"]+="$p99 "; CPU["$spec,$i"]+="$cpu "
    done
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$HERE/results"
OUT="$HERE/results/$(date -u +%Y-%m-%d-%H%M).md"
{
  echo "# pgrelay memcached vs memcached $(memcached -V | awk '{print $2}'), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- pgrelay side: $SOURCE; memcached \`-t 4 -m 1024\` holding the same keys and the same JSON bytes"
  echo "- $(wc -l <"$WORK/keys.txt") keys, $CONNECTIONS connections, $REQUESTS requests per run ($((REQUESTS / 10)) for pipeline 1), median of $ROUNDS alternating rounds"
  echo "- $(nproc) cores shared by the servers, the load generator and other work; load average $LOAD_BEFORE before, $LOAD_AFTER after"
  echo "- p99: 99th percentile of one batch's round trip (a batch = the pipeline, or one multi-key get), in microseconds"
  echo "- CPU: the server's user+system time during the run per operation (key), in microseconds"
  echo
  header="| workload | ${LABELS[0]} ops/s | p99 µs | µs CPU/op |"; rule="|---|---:|---:|---:|"
  for ((i = 1; i < ${#LABELS[@]}; i++)); do header+=" ${LABELS[$i]} ops/s | p99 µs | µs CPU/op | ratio |"; rule+="---:|---:|---:|---:|"; done
  echo "$header"; echo "$rule"
  for spec in "${SPECS[@]}"; do
    mode="${spec%%:*}"; depth="${spec##*:}"
    label="$mode, pipeline $depth"; [[ "$mode" == multiget ]] && label="get, $depth keys per request"
    mc="$(tr ' ' '\n' <<<"${OPS[$spec,0]}" | grep . | median)"
    line="| $label | $mc | $(tr ' ' '\n' <<<"${P99[$spec,0]}" | grep . | median) | $(tr ' ' '\n' <<<"${CPU[$spec,0]}" | grep . | median) |"
    for ((i = 1; i < ${#LABELS[@]}; i++)); do
      ops="$(tr ' ' '\n' <<<"${OPS[$spec,$i]}" | grep . | median)"
      line+=" $ops | $(tr ' ' '\n' <<<"${P99[$spec,$i]}" | grep . | median) | $(tr ' ' '\n' <<<"${CPU[$spec,$i]}" | grep . | median) | $(python3 -c "print(f'{$ops/$mc:.2f}×')") |"
    done
    echo "$line"
  done
  echo
  echo "ratio = pgrelay ops/s ÷ memcached ops/s in the same run."
} | tee "$OUT"
echo "written to $OUT"
