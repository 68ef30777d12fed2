#!/usr/bin/env bash
# EventfulDB benchmark: durable ADD, pipelined ADD and GET, side by side with Redis (AOF,
# appendfsync always) and PostgreSQL (synchronous_commit on) started in the same run.
# See bench/README.md for what it measures and how to read it.
#
#   bash bench/run.sh                      # ~3-5 minutes, ROUNDS=2
#   BENCH_SCALE=0.1 bash bench/run.sh      # quick smoke
#
# Environment:
#   EVENTFUL_BUILD_DIR  build tree with bin/eventfuld and bin/eventful (default <repo>/build)
#   ROUNDS              rounds of A B A B alternation (default 2)
#   BENCH_SCALE         multiplies every request count (default 1)
#   PG_BIN              PostgreSQL bin directory (default: newest /usr/lib/postgresql/*/bin)
#   BENCH_RESULTS_DIR   where the table is written (default <repo>/bench/results)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${EVENTFUL_BUILD_DIR:-$REPO/build}
EVENTFULD=$BUILD_DIR/bin/eventfuld
EVENTFUL=$BUILD_DIR/bin/eventful
ROUNDS=${ROUNDS:-2}
SCALE=${BENCH_SCALE:-1}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$REPO/bench/results}

CLIENTS=50        # connections / pgbench clients in every scenario
STREAMS=10000     # -r for __rand_int__, random(1, 10000) in pgbench
PIPELINE=16

die() { echo "bench: $*" >&2; exit 1; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
awk -v s="$SCALE" 'BEGIN { exit !(s + 0 > 0) }' || die "BENCH_SCALE must be > 0, got '$SCALE'"

# scaled N [minimum]: N * BENCH_SCALE, rounded, at least the minimum (default 1).
scaled() { awk -v n="$1" -v s="$SCALE" -v m="${2:-1}" 'BEGIN { v = int(n * s + 0.5); print (v < m ? m : v) }'; }

# Request counts per measurement (one peer, one round). At scale 1 each measurement takes
# roughly 5-20 s on the reference 2-core VM, the whole run ~3-5 minutes with ROUNDS=2.
N_ADD=$(scaled 150000 "$CLIENTS")       # a: redis-benchmark requests (eventful, redis)
PG_TX=$(scaled 1500)                    # a: pgbench transactions per client (x 50 clients)
N_PIPE=$(scaled 400000 "$CLIENTS")      # b: pipelined requests
N_GET=$(scaled 150000 "$CLIENTS")       # c: GET / XRANGE requests

[[ -x $EVENTFULD && -x $EVENTFUL ]] ||
  die "no eventfuld/eventful in $BUILD_DIR/bin; build first or set EVENTFUL_BUILD_DIR"

# --- peers: install what is missing (idempotent) -------------------------------------------------

newest_pg_bin() { { printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' || true; } | sort -V | tail -n 1; }
USER_PG_BIN=${PG_BIN:-}
PG_BIN=${USER_PG_BIN:-$(newest_pg_bin)}
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v redis-benchmark && command -v redis-cli; } >/dev/null || missing+=(redis-tools)
[[ -n $PG_BIN && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/pgbench && -x $PG_BIN/psql ]] ||
  missing+=(postgresql)
if ((${#missing[@]})); then
  echo "bench: installing ${missing[*]} with apt-get" >&2
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  PG_BIN=${USER_PG_BIN:-$(newest_pg_bin)}
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL still missing after apt-get install"
fi

# PostgreSQL refuses to run as root: run the server as `postgres` then.
as_pg() {
  if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# --- temp dirs, processes, cleanup ---------------------------------------------------------------

WORK=$(mktemp -d -t eventful-bench.XXXXXX)     # logs, scripts, raw results
EV_DIR=$(mktemp -d -t eventful-bench-ev.XXXXXX)
RD_DIR=$(mktemp -d -t eventful-bench-redis.XXXXXX)
PG_DIR=$(mktemp -d -t eventful-bench-pg.XXXXXX)
EV_PID="" RD_PID="" PG_PID="" PG_STARTED=""

stop_pid() {  # stop_pid PID: SIGTERM, up to 15 s, then SIGKILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  ((rc == 0)) || echo "bench: stopping (exit code $rc), cleaning up" >&2
  stop_pid "$EV_PID"
  stop_pid "$RD_PID"
  if [[ -n $PG_STARTED ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    stop_pid "$PG_PID"
  fi
  rm -rf "$WORK" "$EV_DIR" "$RD_DIR" "$PG_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# A loopback port nobody listens on right now. Start-up retries cover the small race.
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# --- start the three servers ---------------------------------------------------------------------

KEY=evm_bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
DEK=evd_bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

start_eventful() {
  "$EVENTFUL" config --data-dir "$EV_DIR/data" --master-key "$KEY" --dek "$DEK" >"$EV_DIR/config.log" 2>&1 ||
    { cat "$EV_DIR/config.log" >&2; die "eventful config failed"; }
  EVENTFUL_DEK=$DEK "$EVENTFULD" --data-dir "$EV_DIR/data" --port 0 >"$EV_DIR/eventfuld.log" 2>&1 &
  EV_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    EV_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$EV_DIR/eventfuld.log" | head -n 1)
    [[ -n $EV_PORT ]] && break
    kill -0 "$EV_PID" 2>/dev/null || { cat "$EV_DIR/eventfuld.log" >&2; die "eventfuld exited at start-up"; }
    sleep 0.1
  done
  [[ -n $EV_PORT ]] || { cat "$EV_DIR/eventfuld.log" >&2; die "eventfuld did not start"; }
  # One AUTH now, so that the 50 benchmark connections find the master key already verified.
  [[ $(ev_cli PING) == PONG ]] || die "eventfuld does not answer PING"
}

start_redis() {
  local attempt i
  for ((attempt = 0; attempt < 5; attempt++)); do
    RD_PORT=$(pick_port)
    redis-server --bind 127.0.0.1 --port "$RD_PORT" --dir "$RD_DIR" --daemonize no \
      --appendonly yes --appendfsync always --save '' --logfile "$RD_DIR/redis.log" &
    RD_PID=$!
    for ((i = 0; i < 100; i++)); do
      [[ $(redis-cli -p "$RD_PORT" PING 2>/dev/null) == PONG ]] && return 0
      kill -0 "$RD_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$RD_PID"
    RD_PID=""
  done
  cat "$RD_DIR/redis.log" >&2
  die "redis-server did not start"
}

start_postgres() {
  ((EUID == 0)) && chown postgres: "$PG_DIR"
  chmod 700 "$PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# eventful bench: durable commits, loopback only, socket in the temp dir
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
fsync = on
synchronous_commit = on
max_connections = 100
EOF
  local attempt
  for ((attempt = 0; attempt < 5; attempt++)); do
    PG_PORT=$(pick_port)
    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -o "-p $PG_PORT" -w -t 60 start \
      >/dev/null 2>&1; then
      PG_STARTED=1
      PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
      return 0
    fi
  done
  cat "$PG_DIR/postgres.log" >&2
  die "PostgreSQL did not start"
}

ev_cli() { redis-cli -p "$EV_PORT" -a "$KEY" --no-auth-warning "$@"; }
rd_cli() { redis-cli -p "$RD_PORT" "$@"; }
pg_sql() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -c "$1"; }
ev_events() { ev_cli INFO | tr -d '\r' | sed -n 's/^events://p'; }
# "events groups requests stage_us write_us" (the commit counters are absent in older builds: 0)
ev_counters() {
  ev_cli INFO | tr -d '\r' | awk -F: '{ v[$1] = $2 }
    END { printf "%d %d %d %d %d\n", v["events"], v["commit_groups"], v["commit_requests"], v["commit_stage_micros"], v["commit_write_micros"] }'
}

echo "bench: starting eventfuld, redis-server and PostgreSQL ..."
start_eventful
start_redis
start_postgres
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench" >/dev/null
pg_sql "CREATE TABLE events (stream text NOT NULL, version bigint NOT NULL, payload text NOT NULL,
        UNIQUE (stream, version))" >/dev/null
echo "bench: eventfuld :$EV_PORT (pid $EV_PID), redis :$RD_PORT (pid $RD_PID), postgres :$PG_PORT (pid $PG_PID)"

# --- workloads -----------------------------------------------------------------------------------

# ~150-byte payload, plain ASCII so that it needs no escaping in JSON, redis args or SQL.
PAYLOAD=$(printf 'eventfuldb-bench-payload-%s' "$(printf '0123456789abcdefghijklmnopqrstuvwxyz%.0s' 1 2 3 4 5)")
PAYLOAD=${PAYLOAD:0:150}
ADD_JSON="{\"stream\":\"b.__rand_int__\",\"events\":[{\"type\":\"t\",\"data\":{\"p\":\"$PAYLOAD\"}}]}"
GET_JSON='{"stream":"g.1","version":0,"limit":100}'

# a. PostgreSQL: append at the next version of a random stream. max(version) reads the
# UNIQUE(stream, version) index backwards; a concurrent append that took the same version makes
# ON CONFLICT skip the row (no retry), and only rows actually inserted are counted as ops.
cat >"$WORK/pg_add.sql" <<EOF
\set s random(1, $STREAMS)
INSERT INTO events (stream, version, payload)
  SELECT 'b:' || CAST(:s AS text), coalesce(max(version), 0) + 1, '$PAYLOAD'
  FROM events WHERE stream = 'b:' || CAST(:s AS text)
  ON CONFLICT (stream, version) DO NOTHING;
EOF

# c. Preload: one eventful stream of 1,000 events (10 ADDs of 100), one Redis stream of 1,000.
preload_get() {
  local batch i
  batch=$(for ((i = 0; i < 100; i++)); do printf '{"type":"t","data":{"p":"%s"}},' "$PAYLOAD"; done)
  batch="{\"stream\":\"g.1\",\"events\":[${batch%,}]}"
  for ((i = 0; i < 10; i++)); do ev_cli ADD "$batch" >/dev/null; done
  ev_cli GET '{"stream":"g.1","version":999}' | grep -q '"version":1000' || die "eventful preload of g.1 failed"
  [[ $(ev_cli GET "$GET_JSON" | grep -c '"stream":"g.1"') == 100 ]] || die "eventful GET does not return 100 events"
  for ((i = 0; i < 1000; i++)); do echo "XADD g:1 * p $PAYLOAD"; done | rd_cli >/dev/null
  [[ $(rd_cli XLEN g:1) == 1000 ]] || die "redis preload of g:1 failed"
  [[ $(rd_cli XRANGE g:1 - + COUNT 100 | grep -c "^$PAYLOAD\$") == 100 ]] || die "redis XRANGE does not return 100 entries"
}
preload_get

# --- measuring -----------------------------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)
# "CPU_TICKS WRITE_BYTES" of a server: the process (all threads, plus reaped children such as
# finished PostgreSQL backends) and its live children. WRITE_BYTES is what it caused to be
# written to the disk (/proc/PID/io write_bytes: page-granular, so a 200-byte fsynced append
# costs a 4 KiB page).
usage() {
  local pid=$1 kids
  kids=$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v P="$pid" '{
    pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
    if (pid == P) t += f[12] + f[13] + f[14] + f[15]; else if (f[2] == P) { t += f[12] + f[13]; k = k " " pid }
  } END { print t + 0 k }')
  local ids p bytes=0 b
  read -r -a ids <<<"$kids"
  for p in "$pid" "${ids[@]:1}"; do
    b=$(sed -n 's/^write_bytes: //p' "/proc/$p/io" 2>/dev/null || true)
    bytes=$((bytes + ${b:-0}))
  done
  echo "${ids[0]} $bytes"
}

RAW=$WORK/raw.tsv  # scenario peer round ops p50 p99 srv_cpu% cli_cpu% note
DIAG=$WORK/diag.txt  # eventful group-commit figures per ADD run
: >"$RAW"
: >"$DIAG"

# record SCENARIO PEER ROUND OPS P50 P99 "USAGE_BEFORE" "USAGE_AFTER" OPS_DONE "CLIENT_TIMES" NOTE
# (USAGE_*: "ticks bytes" from usage; CLIENT_TIMES: "user sys real" seconds of the client)
record() {
  local line
  line=$(awk -v sc="$1" -v peer="$2" -v r="$3" -v ops="$4" -v p50="$5" -v p99="$6" -v u0="$7" -v u1="$8" \
    -v done="$9" -v ct="${10}" -v hz="$CLK_TCK" -v note="${11:-}" 'BEGIN {
      split(u0, a, " "); split(u1, b, " "); split(ct, c, " "); real = c[3]
      srv = real > 0 ? 100 * (b[1] - a[1]) / hz / real : 0; cli = real > 0 ? 100 * (c[1] + c[2]) / real : 0
      wr = done > 0 ? (b[2] - a[2]) / done : 0
      printf "%s\t%s\t%d\t%.1f\t%.3f\t%.3f\t%.0f\t%.0f\t%.0f\t%s\n", sc, peer, r, ops, p50, p99, srv, cli, wr, note }')
  printf '%s\n' "$line" >>"$RAW"
  awk -F'\t' '{ printf "  %-3s %-9s round %d: %9.0f ops/s  p50 %7.3f ms  p99 %7.3f ms  server CPU %3.0f%%  client CPU %3.0f%%  disk %5.0f B/op  %s\n",
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' <<<"$line"
}

# bench_rb SCENARIO PEER ROUND SERVER_PID REQUESTS CHECK redis-benchmark-args...
# CHECK = number of events the run must add to eventful (0: no check).
bench_rb() {
  local sc=$1 peer=$2 round=$3 pid=$4 requests=$5 check=$6
  shift 6
  local c0=() c1=() u0 u1 ops p50 p99 note="" TIMEFORMAT='%U %S %R'
  ((check > 0)) && read -r -a c0 < <(ev_counters)
  u0=$(usage "$pid")
  if ! { time redis-benchmark --csv "$@" >"$WORK/rb.out" 2>"$WORK/rb.err"; } 2>"$WORK/time"; then
    cat "$WORK/rb.out" "$WORK/rb.err" >&2
    die "redis-benchmark failed ($sc $peer round $round)"
  fi
  u1=$(usage "$pid")
  if grep -q '^Error' "$WORK/rb.out" "$WORK/rb.err"; then
    cat "$WORK/rb.out" "$WORK/rb.err" >&2
    die "redis-benchmark saw error replies ($sc $peer round $round)"
  fi
  # Last CSV line: "name","rps","avg","min","p50","p95","p99","max"; the name holds commas.
  read -r ops p50 p99 < <(tail -n 1 "$WORK/rb.out" | tr -d '"' | awk -F, '{ print $(NF-6), $(NF-3), $(NF-1) }')
  if ((check > 0)); then
    read -r -a c1 < <(ev_counters)
    (((c1[0] - c0[0]) == check)) || note="events added: $((c1[0] - c0[0])), expected $check"
    awk -v sc="$sc" -v r="$round" -v g=$((c1[1] - c0[1])) -v q=$((c1[2] - c0[2])) -v st=$((c1[3] - c0[3])) \
      -v wr=$((c1[4] - c0[4])) 'BEGIN { if (g > 0)
        printf "%s\t  eventful round %d: %d group commits, %.1f ADDs per WAL sync, DB::Write %.2f ms per group, staging %.1f us per ADD\n",
          sc, r, g, q / g, wr / g / 1000, (q > 0 ? st / q : 0) }' >>"$DIAG"
  fi
  record "$sc" "$peer" "$round" "$ops" "$p50" "$p99" "$u0" "$u1" "$requests" "$(tail -n 1 "$WORK/time")" "$note"
}

# bench_pg SCENARIO ROUND: pgbench with pg_add.sql, only inserted rows count as ops.
bench_pg() {
  local sc=$1 round=$2 before after u0 u1 tps processed ops p50 p99 note TIMEFORMAT='%U %S %R'
  before=$(pg_sql "SELECT count(*) FROM events")
  rm -f "$WORK"/pglog*
  u0=$(usage "$PG_PID")
  if ! { time "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$CLIENTS" -j 1 \
    -t "$PG_TX" -f "$WORK/pg_add.sql" -l --log-prefix="$WORK/pglog" bench >"$WORK/pg.out" 2>"$WORK/pg.err"; } \
    2>"$WORK/time"; then
    cat "$WORK/pg.out" "$WORK/pg.err" >&2
    die "pgbench failed ($sc round $round)"
  fi
  u1=$(usage "$PG_PID")
  after=$(pg_sql "SELECT count(*) FROM events")
  tps=$(awk '/^tps = / { print $3; exit }' "$WORK/pg.out")
  processed=$(awk -F': ' '/number of transactions actually processed/ { split($2, a, "/"); print a[1] }' "$WORK/pg.out")
  [[ -n $tps && -n $processed && $processed -gt 0 ]] || { cat "$WORK/pg.out" >&2; die "cannot parse pgbench output"; }
  ops=$(awk -v t="$tps" -v ins="$((after - before))" -v n="$processed" 'BEGIN { print t * ins / n }')
  # Per-transaction log: client_id transaction_no latency_us script_no epoch_s epoch_us
  read -r p50 p99 < <(cat "$WORK"/pglog* | awk '{ print $3 / 1000 }' | sort -n | awk '
    { v[NR] = $1 } END { i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
                         print v[i50], v[i99] }')
  note=""
  ((after - before == processed)) || note="$((processed - (after - before))) of $processed skipped (version conflict)"
  record "$sc" postgres "$round" "$ops" "$p50" "$p99" "$u0" "$u1" "$((after - before))" "$(tail -n 1 "$WORK/time")" "$note"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "bench: scale $SCALE, $ROUNDS round(s); a: $N_ADD requests (postgres $CLIENTS x $PG_TX tx), b: $N_PIPE, c: $N_GET; load average $START_LOAD"

for ((round = 1; round <= ROUNDS; round++)); do
  echo "round $round/$ROUNDS"
  # a. durable single-event append, 50 connections
  bench_rb a eventful "$round" "$EV_PID" "$N_ADD" "$N_ADD" \
    -p "$EV_PORT" -a "$KEY" -c "$CLIENTS" -n "$N_ADD" -r "$STREAMS" ADD "$ADD_JSON"
  bench_rb a redis "$round" "$RD_PID" "$N_ADD" 0 \
    -p "$RD_PORT" -c "$CLIENTS" -n "$N_ADD" -r "$STREAMS" XADD 'b:__rand_int__' '*' p "$PAYLOAD"
  bench_pg a "$round"
  # b. the same, pipelined 16 deep
  bench_rb b eventful "$round" "$EV_PID" "$N_PIPE" "$N_PIPE" \
    -p "$EV_PORT" -a "$KEY" -c "$CLIENTS" -n "$N_PIPE" -P "$PIPELINE" -r "$STREAMS" ADD "$ADD_JSON"
  bench_rb b redis "$round" "$RD_PID" "$N_PIPE" 0 \
    -p "$RD_PORT" -c "$CLIENTS" -n "$N_PIPE" -P "$PIPELINE" -r "$STREAMS" XADD 'b:__rand_int__' '*' p "$PAYLOAD"
  # c. read 100 events of a 1,000-event stream
  bench_rb c eventful "$round" "$EV_PID" "$N_GET" 0 \
    -p "$EV_PORT" -a "$KEY" -c "$CLIENTS" -n "$N_GET" GET "$GET_JSON"
  bench_rb c redis "$round" "$RD_PID" "$N_GET" 0 \
    -p "$RD_PORT" -c "$CLIENTS" -n "$N_GET" XRANGE g:1 - + COUNT 100
done

# --- report --------------------------------------------------------------------------------------

git_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || git_rev="$git_rev (working tree has local changes)"
redis_ver=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
pg_ver=$("$PG_BIN/postgres" --version | awk '{ print $3 }')
ev_ver=$("$EVENTFULD" --version 2>/dev/null | head -n 1 || echo unknown)
ev_durability=$(ev_cli INFO | tr -d '\r' | sed -n 's/^durability://p')

report() {
  cat <<EOF
EventfulDB benchmark, $START_TIME .. $(date -u +%Y-%m-%dT%H:%M:%SZ)
eventful $ev_ver (commit $git_rev, durability: $ev_durability) | redis $redis_ver (appendonly yes, appendfsync always) | PostgreSQL $pg_ver (fsync on, synchronous_commit on)
$(nproc) CPUs, client and servers on the same machine; load average before $START_LOAD, after $(cut -d' ' -f1-3 /proc/loadavg)
BENCH_SCALE=$SCALE ROUNDS=$ROUNDS; $CLIENTS connections everywhere; payload ${#PAYLOAD} bytes; streams random among $STREAMS
Values are medians over rounds; "rounds ops/s" lists each round. server/client: CPU in % of one core
(max $(nproc)00%); disk: bytes the server had written to disk per op (write_bytes, 4 KiB pages).
EOF
  awk -F'\t' -v diagfile="$DIAG" -v rounds="$ROUNDS" -v n_add="$N_ADD" -v pg_tx="$PG_TX" -v clients="$CLIENTS" \
    -v n_pipe="$N_PIPE" -v n_get="$N_GET" -v pipeline="$PIPELINE" '
    function median(list,    a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function add(k, v) { L[k] = (k in L) ? L[k] " " v : v }
    {
      k = $1 SUBSEP $2; seen[k] = 1
      add(k SUBSEP "ops", $4); add(k SUBSEP "p50", $5); add(k SUBSEP "p99", $6)
      add(k SUBSEP "srv", $7); add(k SUBSEP "cli", $8); add(k SUBSEP "wr", $9)
      R[$1, $2, $3] = $4
      if ($10 != "") notes[$1] = notes[$1] "  note: " $2 " round " $3 ": " $10 "\n"
    }
    function row(sc, peer, label,    k, i, rl) {
      k = sc SUBSEP peer
      if (!(k in seen)) return
      rl = ""
      for (i = 1; i <= rounds; i++) rl = rl sprintf("%s%.0f", i > 1 ? " " : "", R[sc, peer, i])
      printf "%-34s %10.0f %9.2f %9.2f  %5.0f%% %5.0f%% %7.0f   %s\n", label, median(L[k SUBSEP "ops"]),
        median(L[k SUBSEP "p50"]), median(L[k SUBSEP "p99"]), median(L[k SUBSEP "srv"]), median(L[k SUBSEP "cli"]),
        median(L[k SUBSEP "wr"]), rl
    }
    function ratio(sc, peer, label, target,    a, b, i, rl, r, verdict) {
      if (!((sc SUBSEP peer) in seen)) return
      a = median(L[sc SUBSEP "eventful" SUBSEP "ops"]); b = median(L[sc SUBSEP peer SUBSEP "ops"])
      rl = ""
      for (i = 1; i <= rounds; i++) rl = rl sprintf(" %.2f", R[sc, peer, i] > 0 ? R[sc, "eventful", i] / R[sc, peer, i] : 0)
      r = b > 0 ? a / b : 0
      verdict = target > 0 ? sprintf("   target >= %.1fx: %s", target, r >= target ? "met" : "NOT met") : ""
      printf "  ratio %-18s %6.2fx   (per round:%s)%s\n", label, r, rl, verdict
    }
    function diag(sc,    line, parts) {
      while ((getline line < diagfile) > 0) { split(line, parts, "\t"); if (parts[1] == sc) print parts[2] }
      close(diagfile)
    }
    function header(title) {
      printf "\n%s\n", title
      printf "%-34s %10s %9s %9s  %6s %6s %7s   %s\n", "peer", "ops/s", "p50 ms", "p99 ms", "server", "client", "disk", "rounds ops/s"
    }
    END {
      header(sprintf("a. durable single-event ADD, %d connections (%d requests; pgbench %d x %d tx)", clients, n_add, clients, pg_tx))
      row("a", "eventful", "eventful ADD")
      row("a", "redis", "redis XADD (appendfsync always)")
      row("a", "postgres", "postgres INSERT (sync commit)")
      ratio("a", "redis", "eventful/redis", 1.0)
      ratio("a", "postgres", "eventful/postgres", 5.0)
      printf "%s", notes["a"]
      diag("a")
      header(sprintf("b. ADD pipelined %d deep, %d connections (%d requests)", pipeline, clients, n_pipe))
      row("b", "eventful", "eventful ADD -P " pipeline)
      row("b", "redis", "redis XADD -P " pipeline " (always)")
      ratio("b", "redis", "eventful/redis", 0)
      printf "  ratio eventful/postgres       n/a (no pipelined PostgreSQL peer)\n%s", notes["b"]
      diag("b")
      header(sprintf("c. GET 100 events of a 1,000-event stream, %d connections (%d requests)", clients, n_get))
      row("c", "eventful", "eventful GET limit 100")
      row("c", "redis", "redis XRANGE COUNT 100")
      ratio("c", "redis", "eventful/redis", 0.5)
      printf "  ratio eventful/postgres       n/a (no PostgreSQL read peer)\n%s", notes["c"]
    }' "$RAW"
}

mkdir -p "$RESULTS_DIR"
out="$RESULTS_DIR/$(date +%Y%m%d-%H%M%S).txt"
echo
report | tee "$out"
echo
echo "bench: table written to $out"
