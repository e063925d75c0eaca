#!/usr/bin/env bash
# rotad benchmarks: builds release binaries into target/bench, starts everything on loopback,
# runs the parts asked for and prints a markdown table (figure, target, met). docs/BENCHMARKS.md
# explains the method and records a run.
#
#   bench/run.sh                                 # everything, SQLite and PostgreSQL
#   bench/run.sh --parts api,scale --backends sqlite
#   bench/run.sh --rotations 2000 --scale-rows 100000 --duration 5   # a quick look
#   bench/run.sh --parts sqlite-ab --duration 3 --warmup 1           # sqlx against rusqlite
#   bench/run.sh --parts sql-rotation --sql-rotations 200            # PostgreSQL and MariaDB passwords
#   bench/run.sh --parts dashboard --duration 5                      # the web dashboard's pages
#
# Needs: cargo, curl, jq, sqlite3 (SQLite parts), psql (PostgreSQL parts; a server reachable at
# --pg-url that can create databases), openssl. Every comparison is made side by side in the
# same run (a ratio), because absolute figures drift between runs on shared machines.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/run.sh [options]
  --parts LIST          api,rotation,scale,dashboard (default: all four); dashboard: the web
                        dashboard's overview and rotation pages with DASHBOARD_ROTATIONS
                        rotations in one project, signed in with a session cookie; sqlite-ab: sqlx's SQLite
                        driver against rusqlite with spawn_blocking (no server; uses --duration,
                        --warmup and --connections as tasks; docs/BENCHMARKS.md); sql-rotation:
                        rotations/s of postgres- and mysql-credentials against the real servers
                        (bench/sql_rotation.sh; MariaDB on 127.0.0.1:3306, root without password)
  --backends LIST       sqlite,postgres (default: both)
  --duration S          measured seconds per API load run (default 8)
  --warmup S            warm-up seconds before each API load run (default 2)
  --connections N       concurrent connections of the API load (default 64)
  --rotations N         rotations made due at once in the rotation part (default 10000)
  --concurrency N       ROTAD_SCHEDULER_CONCURRENCY of the rotation runs (default 32, rotad's default)
  --high-concurrency N  a second 50 ms run at this concurrency (default 256; 0 to skip)
  --scale-rows N        rotations in the scale part's store (default 1000000)
  --sql-rotations N     rotations per provider in the sql-rotation part (default 500)
  --dashboard-rotations N  rotations in the dashboard part's project (default 1000)
  --dashboard-connections N  concurrent connections of the dashboard load (default 8)
  --pg-url URL          PostgreSQL server, without a database (default postgres://postgres@127.0.0.1:5432)
  --out FILE            also write the table to FILE
  --keep                keep the work directory (logs, databases) after the run
  --no-build            use the binaries already in target/bench/release
  --bin-dir DIR         use the binaries in DIR instead (implies --no-build; e.g. a debug
                        build for a quick check that a part works; its figures mean little)
  -h, --help            this text
EOF
}

PARTS=api,rotation,scale,dashboard
BACKENDS=sqlite,postgres
DURATION=8
WARMUP=2
CONNECTIONS=64
ROTATIONS=10000
CONCURRENCY=32
HIGH_CONCURRENCY=256
SCALE_ROWS=1000000
SQL_ROTATIONS=500
DASHBOARD_ROTATIONS=1000
DASHBOARD_CONNECTIONS=8
PG_URL=postgres://postgres@127.0.0.1:5432
OUT=
KEEP=0
BUILD=1
BIN_DIR=
IDLE_SECS=5

while [[ $# -gt 0 ]]; do
    case "$1" in
        --parts) PARTS=$2; shift 2 ;;
        --backends) BACKENDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --rotations) ROTATIONS=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --high-concurrency) HIGH_CONCURRENCY=$2; shift 2 ;;
        --scale-rows) SCALE_ROWS=$2; shift 2 ;;
        --sql-rotations) SQL_ROTATIONS=$2; shift 2 ;;
        --dashboard-rotations) DASHBOARD_ROTATIONS=$2; shift 2 ;;
        --dashboard-connections) DASHBOARD_CONNECTIONS=$2; shift 2 ;;
        --pg-url) PG_URL=${2%/}; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --bin-dir) BIN_DIR=$2; BUILD=0; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

export PGOPTIONS='--client-min-messages=warning'
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR="$ROOT/target/bench"
BIN="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rotad-bench.XXXXXX")
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
PIDS=()
PG_DBS=()
USED_PORTS=()
START_SECONDS=$SECONDS

log() { printf '[%4ds] %s\n' $((SECONDS - START_SECONDS)) "$*" >&2; }
die() { log "error: $*"; exit 1; }
has() { [[ ",$1," == *",$2,"* ]]; }

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for db in "${PG_DBS[@]}"; do
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [[ $KEEP == 1 || $status != 0 ]]; then
        rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm 2>/dev/null || true
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in cargo curl jq openssl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
# The sqlite-ab part needs no database server.
SERVER_PARTS=0
for p in api rotation scale sql-rotation dashboard; do has "$PARTS" "$p" && SERVER_PARTS=1; done
[[ $SERVER_PARTS == 0 ]] && BACKENDS=
has "$BACKENDS" sqlite && { command -v sqlite3 >/dev/null || die "sqlite3 is required for --backends sqlite"; }
if has "$BACKENDS" postgres; then
    command -v psql >/dev/null || die "psql is required for --backends postgres"
    psql -q "$PG_URL/postgres" -Atc 'SELECT 1' >/dev/null || die "cannot reach PostgreSQL at $PG_URL"
fi

if [[ $BUILD == 1 ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release --quiet -p rotad -p dbt-cloud-emulator -p rotad-bench-driver)
fi
DRIVER="$BIN/driver"
for b in rotad dbt-cloud-emulator driver; do [[ -x "$BIN/$b" ]] || die "$BIN/$b missing"; done

# ---------------------------------------------------------------------------------------------
# helpers

# Sets PORT to a loopback port nothing listens on and this run has not handed out, below the
# kernel's ephemeral range (where an outgoing connection may hold a port nothing listens on).
free_port() {
    local p low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    ((low > 12000)) || low=32768
    for _ in $(seq 500); do
        p=$((10000 + RANDOM % (low - 10000)))
        [[ " ${USED_PORTS[*]} " == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+=("$p")
            PORT=$p
            return
        fi
    done
    die "no free port found"
}

now_ms() { date +%s%3N; }

# Stops one process this script started, by pid: SIGTERM, then SIGKILL after 30 s.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=()
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# record PART BACKEND FIGURE VALUE TARGET MET
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; log "$1/$2: $3 = $4 (target $5: $6)"; }

# check VALUE OP LIMIT -> yes / **no**
check() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= l) : (v <= l); print (ok ? "yes" : "**no**") }'; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0) ? 100 * a / b : 0 }'; }

# new_db BACKEND NAME: sets DB_URL (and DB_FILE or DB_NAME) for a fresh, empty database.
new_db() {
    if [[ $1 == sqlite ]]; then
        DB_FILE="$WORK/$2.db"
        rm -f "$DB_FILE" "$DB_FILE-wal" "$DB_FILE-shm"
        DB_URL="sqlite://$DB_FILE"
    else
        DB_NAME="rotad_bench_$$_$2"
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" >/dev/null
        PG_DBS+=("$DB_NAME")
        DB_URL="$PG_URL/$DB_NAME"
    fi
}

# sql BACKEND STATEMENTS: runs SQL against the current database, prints rows tab-separated.
sql() {
    if [[ $1 == sqlite ]]; then
        sqlite3 -cmd '.timeout 30000' -separator $'\t' "$DB_FILE" "$2"
    else
        psql -q -X -v ON_ERROR_STOP=1 -At -F $'\t' "$DB_URL" -c "$2"
    fi
}

# start_emulator LATENCY_MS: sets EMU_URL and EMU_PID.
start_emulator() {
    free_port
    "$BIN/dbt-cloud-emulator" --listen "127.0.0.1:$PORT" --latency-ms "$1" \
        >"$WORK/emulator-$PORT.log" 2>&1 &
    EMU_PID=$!
    PIDS+=("$EMU_PID")
    EMU_URL="http://127.0.0.1:$PORT"
    "$DRIVER" wait-up --url "$EMU_URL/_emulator/info" --timeout-secs 30 >/dev/null
}

# start_rotad BACKEND CONCURRENCY: serves DB_URL; sets ROTAD_URL, METRICS_URL, ROTAD_PID and
# STARTUP_S (spawn until GET /api/status answers).
start_rotad() {
    local api metrics t0
    free_port; api=$PORT
    free_port; metrics=$PORT
    t0=$(now_ms)
    env ROTAD_LISTEN="127.0.0.1:$api" ROTAD_METRICS_LISTEN="127.0.0.1:$metrics" \
        ROTAD_DATABASE_URL="$DB_URL" ROTAD_ENCRYPTION_KEY="$ENCRYPTION_KEY" \
        ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS=true ROTAD_SCHEDULER_POLL_INTERVAL=200ms \
        ROTAD_SCHEDULER_CONCURRENCY="$2" ROTAD_ROTATION_MAX_ATTEMPTS=5 RUST_LOG=warn \
        "$BIN/rotad" serve >>"$WORK/rotad-$1.log" 2>&1 &
    ROTAD_PID=$!
    PIDS+=("$ROTAD_PID")
    ROTAD_URL="http://127.0.0.1:$api"
    METRICS_URL="http://127.0.0.1:$metrics"
    STARTUP_S=$("$DRIVER" wait-up --url "$ROTAD_URL/api/status" --since-unix-ms "$t0" \
        --timeout-secs 120 | jq -r .seconds)
}

# setup N: bootstraps the current rotad with N rotations; sets STATE, TOKEN, PROJECT.
setup() {
    STATE="$WORK/state-$ROTAD_PID.json"
    "$DRIVER" setup --rotad "$ROTAD_URL" --emulator "$EMU_URL" --rotations "$1" \
        --concurrency 32 --out "$STATE" >"$WORK/setup-$ROTAD_PID.json"
    TOKEN=$(jq -r .token "$STATE")
    PROJECT=$(jq -r .project "$STATE")
}

# rotations_metric RESULT: rotad_rotations_total{result=RESULT} of the current rotad.
rotations_metric() {
    curl -fsS "$METRICS_URL/metrics" |
        awk -v r="rotad_rotations_total{result=\"$1\"}" '$1 == r { n = $2 } END { printf "%d", n }'
}

# ---------------------------------------------------------------------------------------------
# part 1: API throughput and latency against a minimal axum baseline

# load_pair BACKEND NAME TARGET_PCT URL METHOD BODY: baseline and rotad, ABBA order.
load_pair() {
    local backend=$1 name=$2 target=$3 url=$4 method=$5 body=$6
    local size port base_pid out="$WORK/load-$backend-$name.jsonl"
    local args=(--method "$method" --token "$TOKEN" --connections "$CONNECTIONS"
        --duration "$DURATION" --warmup "$WARMUP")
    [[ -n $body ]] && args+=(--body "$body")
    # The baseline answers a body as large as rotad's answer.
    local curl_args=(-fsS -X "$method" -H "Authorization: Bearer $TOKEN")
    [[ -n $body ]] && curl_args+=(-H 'Content-Type: application/json' --data "${body//\{n\}/0}")
    size=$(curl "${curl_args[@]}" "$url" | wc -c)
    free_port; port=$PORT
    "$DRIVER" baseline --listen "127.0.0.1:$port" --body-bytes "$size" >"$WORK/baseline-$port.log" 2>&1 &
    base_pid=$!
    PIDS+=("$base_pid")
    "$DRIVER" wait-up --url "http://127.0.0.1:$port/" --timeout-secs 30 >/dev/null
    local path=${url#http://*/}
    : >"$out"
    for who in baseline rotad rotad baseline; do
        local u=$url
        [[ $who == baseline ]] && u="http://127.0.0.1:$port/$path"
        "$DRIVER" load --url "$u" "${args[@]}" --label "$who" >>"$out"
    done
    stop_pid "$base_pid"
    local b_rps r_rps r_p99 r_p50 bad b_p99
    b_rps=$(jq -s '[.[] | select(.label == "baseline") | .rps] | add / length' "$out")
    r_rps=$(jq -s '[.[] | select(.label == "rotad") | .rps] | add / length' "$out")
    r_p50=$(jq -s '[.[] | select(.label == "rotad") | .p50_ms] | max' "$out")
    r_p99=$(jq -s '[.[] | select(.label == "rotad") | .p99_ms] | max' "$out")
    b_p99=$(jq -s '[.[] | select(.label == "baseline") | .p99_ms] | max' "$out")
    bad=$(jq -s '[.[] | .non_2xx + .errors] | add' "$out")
    local pct
    pct=$(ratio "$r_rps" "$b_rps")
    local met="—"
    [[ $target != - ]] && met=$(check "$pct" '>=' "$target")
    [[ $bad != 0 ]] && met="**no** ($bad failed requests)"
    record api "$backend" "$name: req/s, % of baseline" \
        "$(fmt "$r_rps") = $pct% of $(fmt "$b_rps") (${size} B body)" \
        "$([[ $target != - ]] && echo "≥ $target%" || echo "—")" "$met"
    API_RPS=$r_rps
    API_P50=$r_p50
    API_P99=$r_p99
    API_BASE_P99=$b_p99
}

part_api() {
    local backend=$1
    log "api/$backend: starting"
    new_db "$backend" api
    start_emulator 0
    start_rotad "$backend" 32
    setup 1
    local id secret
    id=$(jq -r '.rotations[0]' "$STATE")
    local rot_url="$ROTAD_URL/api/v2/secret-rotations/dbt-service-token/$id"
    secret="$ROTAD_URL/api/v3/secrets/raw/ROT_000000?workspaceId=$PROJECT&environment=dev&secretPath=/"

    # The targets of issue 12: reads at 40% of the baseline on SQLite and 25% on PostgreSQL,
    # PATCH at 3,000/s and 1,500/s with p99 <= 30 ms on both.
    local read_pct=40 patch_rps=3000
    [[ $backend == postgres ]] && read_pct=25 patch_rps=1500

    load_pair "$backend" "GET rotation" "$read_pct" "$rot_url" GET ""
    record api "$backend" "GET rotation: p50 / p99 latency" \
        "$(fmt "$API_P50" 2) / $(fmt "$API_P99" 2) ms (baseline p99 $(fmt "$API_BASE_P99" 2) ms)" \
        "p99 ≤ 5 ms" "$(check "$API_P99" '<=' 5)"

    load_pair "$backend" "PATCH rotation" - "$rot_url" PATCH '{"description": "bench {n}"}'
    record api "$backend" "PATCH rotation: req/s" "$(fmt "$API_RPS")" "≥ $patch_rps" \
        "$(check "$API_RPS" '>=' "$patch_rps")"
    record api "$backend" "PATCH rotation: p50 / p99 latency" \
        "$(fmt "$API_P50" 2) / $(fmt "$API_P99" 2) ms" "p99 ≤ 30 ms" "$(check "$API_P99" '<=' 30)"

    load_pair "$backend" "GET secret (raw)" "$read_pct" "$secret" GET ""
    record api "$backend" "GET secret: p50 / p99 latency" \
        "$(fmt "$API_P50" 2) / $(fmt "$API_P99" 2) ms" "—" "—"

    record api "$backend" "rotad resident memory after the load" "$(rss_mb "$ROTAD_PID") MB (peak $(hwm_mb "$ROTAD_PID") MB)" "—" "—"
    stop_pid "$ROTAD_PID"
    stop_pid "$EMU_PID"
}

# ---------------------------------------------------------------------------------------------
# part 2: rotation throughput against the emulator, and the emulator-only bound

# rotation_run BACKEND NAME LATENCY_MS CONCURRENCY TARGET
rotation_run() {
    local backend=$1 name=$2 latency=$3 conc=$4 target=$5
    if [[ $conc != "$ROTAD_CONC" ]]; then
        stop_pid "$ROTAD_PID"
        start_rotad "$backend" "$conc"
        ROTAD_CONC=$conc
    fi
    curl -fsS -X PUT -H 'Content-Type: application/json' --data "{\"ms\": $latency}" \
        "$EMU_URL/_emulator/latency" >/dev/null
    curl -fsS -X DELETE "$EMU_URL/_emulator/calls" >/dev/null
    local before failed_before t0 out calls="$WORK/calls-$backend-$latency-$conc.json"
    failed_before=$(rotations_metric failed)
    before=$(($(rotations_metric success) + failed_before))
    t0=$(now_ms)
    sql "$backend" "UPDATE secret_rotations SET next_rotation_at = $((t0 - 1000))" >/dev/null
    out=$("$DRIVER" wait-rotations --metrics "$METRICS_URL" --target $((before + ROTATIONS)) \
        --since-unix-ms "$t0" --timeout-secs 900 --label "$name")
    curl -fsS "$EMU_URL/_emulator/calls" >"$calls"
    local secs failed rate
    secs=$(jq -r .seconds <<<"$out")
    failed=$(($(jq -r .failed <<<"$out") - failed_before))
    rate=$(awk -v n="$ROTATIONS" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
    local bound
    bound=$("$DRIVER" emu-bound --emulator "$EMU_URL" --calls "$calls" --jobs "$ROTATIONS" \
        --concurrency "$conc" --label "emu-bound $name" | jq -r .per_second)
    local per_job
    per_job=$(jq -r --arg n "$ROTATIONS" '[to_entries[] | select(.key != "any") | .value] | add / ($n | tonumber) | . * 10 | round / 10' "$calls")
    local met="—"
    [[ $target != - ]] && met=$(check "$rate" '>=' "$target")
    [[ $failed != 0 ]] && met="$met ($failed failed)"
    record rotation "$backend" "$name: rotations/s, % of emulator-only bound" \
        "$rate = $(ratio "$rate" "$bound")% of $(fmt "$bound" 1) ($ROTATIONS in $(fmt "$secs" 1) s; $per_job dbt calls each)" \
        "$([[ $target != - ]] && echo "≥ $target/s" || echo "—")" "$met"
}

part_rotation() {
    local backend=$1
    log "rotation/$backend: creating $ROTATIONS rotations"
    new_db "$backend" rot
    start_emulator 0
    start_rotad "$backend" "$CONCURRENCY"
    ROTAD_CONC=$CONCURRENCY
    setup "$ROTATIONS"
    record rotation "$backend" "creating rotations through the API (32 clients)" \
        "$(jq -r '.per_second | . * 10 | round / 10' "$WORK/setup-$ROTAD_PID.json")/s" "—" "—"
    local zero_ms_target=-
    # Issue 12: 500/s on SQLite, 400/s on PostgreSQL.
    [[ $backend == sqlite ]] && zero_ms_target=500
    [[ $backend == postgres ]] && zero_ms_target=400
    rotation_run "$backend" "first rotation, 0 ms, concurrency $CONCURRENCY" 0 "$CONCURRENCY" -
    rotation_run "$backend" "0 ms per dbt call, concurrency $CONCURRENCY" 0 "$CONCURRENCY" "$zero_ms_target"
    rotation_run "$backend" "50 ms per dbt call, concurrency $CONCURRENCY" 50 "$CONCURRENCY" 200
    if [[ $HIGH_CONCURRENCY != 0 ]]; then
        rotation_run "$backend" "50 ms per dbt call, concurrency $HIGH_CONCURRENCY" 50 "$HIGH_CONCURRENCY" 200
    fi
    stop_pid "$ROTAD_PID"
    stop_pid "$EMU_PID"
}

# ---------------------------------------------------------------------------------------------
# part 3: scale: a store of SCALE_ROWS rotations

# seed BACKEND ID COUNT: copies rotation ID COUNT times (new ids and names, due in the future).
seed() {
    local backend=$1 id=$2 count=$3 far=$(($(now_ms) + 3600 * 1000)) cols exprs=() c
    if [[ $backend == sqlite ]]; then
        cols=$(sql sqlite "SELECT name FROM pragma_table_info('secret_rotations') ORDER BY cid")
    else
        cols=$(sql postgres "SELECT column_name FROM information_schema.columns \
            WHERE table_name = 'secret_rotations' ORDER BY ordinal_position")
    fi
    for c in $cols; do
        case $c in
            id) if [[ $backend == sqlite ]]; then
                    exprs+=("'00000000-0000-4000-8000-' || printf('%012d', g.i)")
                else
                    exprs+=("'00000000-0000-4000-8000-' || lpad(g.i::text, 12, '0')")
                fi ;;
            name) exprs+=("'bulk-' || g.i") ;;
            # Spread over the next 30 days, none due.
            next_rotation_at) exprs+=("$far + g.i * 2592") ;;
            lease_owner | lease_expires_at) exprs+=("NULL") ;;
            *) exprs+=("r.$c") ;;
        esac
    done
    local list select
    list=$(echo $cols | tr ' ' ',')
    select=$(IFS=,; echo "${exprs[*]}")
    if [[ $backend == sqlite ]]; then
        sql sqlite "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $count)
            INSERT INTO secret_rotations ($list) SELECT $select FROM g,
            (SELECT * FROM secret_rotations WHERE id = '$id') r;"
    else
        sql postgres "INSERT INTO secret_rotations ($list) SELECT $select
            FROM generate_series(1::bigint, $count) AS g(i),
            (SELECT * FROM secret_rotations WHERE id = '$id') r; ANALYZE secret_rotations;"
    fi
}

part_scale() {
    local backend=$1 due=10
    log "scale/$backend: empty server"
    new_db "$backend" scale
    start_emulator 0
    start_rotad "$backend" 32
    record scale "$backend" "start-up, empty store (first start: migrations)" "$(fmt "$STARTUP_S" 3) s" "—" "—"
    sleep "$IDLE_SECS"
    local rss
    rss=$(rss_mb "$ROTAD_PID")
    record scale "$backend" "resident memory, idle, empty store" "$rss MB" "≤ 30 MB" "$(check "$rss" '<=' 30)"
    setup "$due"
    stop_pid "$ROTAD_PID"

    log "scale/$backend: seeding $SCALE_ROWS rotations"
    local t0 id
    id=$(jq -r '.rotations[0]' "$STATE")
    t0=$SECONDS
    seed "$backend" "$id" $((SCALE_ROWS - due))
    # The real rotations (whose sealed columns match their ids) are the due ones.
    sql "$backend" "UPDATE secret_rotations SET next_rotation_at = $(($(now_ms) - 1000)) WHERE name LIKE 'rot-%'" >/dev/null
    local total size
    total=$(sql "$backend" "SELECT COUNT(*) FROM secret_rotations")
    if [[ $backend == sqlite ]]; then
        size=$(du -m "$DB_FILE" | cut -f1)
    else
        size=$(sql postgres "SELECT pg_database_size(current_database()) / 1048576")
    fi
    log "scale/$backend: $total rotations, ${size} MB, seeded in $((SECONDS - t0)) s"

    # The plan of the scheduler's claim, for the record.
    local now plan
    now=$(now_ms)
    local claim_select="SELECT id FROM secret_rotations WHERE is_auto_rotation_enabled \
AND next_rotation_at IS NOT NULL AND next_rotation_at <= $now \
AND (lease_owner IS NULL OR lease_expires_at < $now) ORDER BY next_rotation_at LIMIT 32"
    if [[ $backend == sqlite ]]; then
        plan=$(sql sqlite "EXPLAIN QUERY PLAN $claim_select" | tr '\t' ' ')
    else
        plan=$(sql postgres "EXPLAIN (ANALYZE, COSTS OFF) $claim_select FOR UPDATE SKIP LOCKED")
    fi
    printf '%s\n' "$plan" >"$WORK/plan-$backend.txt"
    log "scale/$backend: claim plan: $(tr '\n' ' ' <"$WORK/plan-$backend.txt")"

    local probe p50 p99 max first
    probe=$("$DRIVER" claim-time --database-url "$DB_URL" --limit 32 --repeat 50 --label "claim at $total")
    echo "$probe" >"$WORK/claim-$backend.json"
    p50=$(jq -r .claim_p50_ms <<<"$probe")
    p99=$(jq -r .claim_p99_ms <<<"$probe")
    max=$(jq -r .claim_max_ms <<<"$probe")
    first=$(jq -r .claim_first_ms <<<"$probe")
    record scale "$backend" "due-rotation claim at $total rotations ($due due): p50 / p99 / first" \
        "$(fmt "$p50" 2) / $(fmt "$p99" 2) / $(fmt "$first" 2) ms (due count $(jq -r .stats_p50_ms <<<"$probe") ms)" \
        "≤ 5 ms" "$(check "$p50" '<=' 5)"

    start_rotad "$backend" 32
    record scale "$backend" "start-up with $total rotations" "$(fmt "$STARTUP_S" 3) s" "≤ 2 s" "$(check "$STARTUP_S" '<=' 2)"
    local rotated
    rotated=$("$DRIVER" wait-rotations --metrics "$METRICS_URL" --target "$due" \
        --timeout-secs 120 --label "due at scale" |
        jq -r '"\(.succeeded) ok, \(.failed) failed, \(.seconds * 100 | round / 100) s after start-up answered"')
    record scale "$backend" "the $due due rotations, run by the scheduler" "$rotated" "—" "—"
    sleep "$IDLE_SECS"
    rss=$(rss_mb "$ROTAD_PID")
    record scale "$backend" "resident memory, idle, $total rotations" "$rss MB (store ${size} MB)" "≤ 100 MB" "$(check "$rss" '<=' 100)"
    stop_pid "$ROTAD_PID"
    stop_pid "$EMU_PID"
    if [[ $backend == sqlite ]]; then rm -f "$DB_FILE" "$DB_FILE-wal" "$DB_FILE-shm"; fi
}

# ---------------------------------------------------------------------------------------------
# part 5: the web dashboard's pages with DASHBOARD_ROTATIONS rotations in one project

# dashboard_load BACKEND NAME URL: p50 / p99 of a page, signed in with the session cookie.
dashboard_load() {
    local backend=$1 name=$2 url=$3 out
    out=$("$DRIVER" load --url "$url" --cookie "$COOKIE" --connections "$DASHBOARD_CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" --label "dashboard $name")
    echo "$out" >>"$WORK/dashboard-$backend.jsonl"
    local p50 p99 rps bad
    p50=$(jq -r .p50_ms <<<"$out")
    p99=$(jq -r .p99_ms <<<"$out")
    rps=$(jq -r .rps <<<"$out")
    bad=$(jq -r '.non_2xx + .errors' <<<"$out")
    local met
    met=$(check "$p99" '<=' 50)
    [[ $bad != 0 ]] && met="**no** ($bad failed requests)"
    record dashboard "$backend" "$name ($DASHBOARD_ROTATIONS rotations, $DASHBOARD_CONNECTIONS connections): p50 / p99" \
        "$(fmt "$p50" 2) / $(fmt "$p99" 2) ms ($(fmt "$rps") pages/s)" "p99 ≤ 50 ms" "$met"
}

part_dashboard() {
    local backend=$1
    log "dashboard/$backend: creating $DASHBOARD_ROTATIONS rotations"
    new_db "$backend" dash
    start_emulator 0
    start_rotad "$backend" 32
    setup "$DASHBOARD_ROTATIONS"
    # Sign in as the admin with its token: the session cookie is the page loads' credential.
    COOKIE=$(curl -fsS -o /dev/null -D - --data-urlencode "accessToken=$TOKEN" "$ROTAD_URL/sign-in" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "set-cookie" { split($2, c, ";"); print c[1] }')
    [[ $COOKIE == rotad_session=* ]] || die "dashboard/$backend: sign-in gave no session cookie"
    local id
    id=$(jq -r '.rotations[0]' "$STATE")
    dashboard_load "$backend" "overview page (/)" "$ROTAD_URL/"
    dashboard_load "$backend" "project page, page 10" "$ROTAD_URL/projects/$PROJECT?page=10"
    dashboard_load "$backend" "rotation page" "$ROTAD_URL/rotations/$id"
    stop_pid "$ROTAD_PID"
    stop_pid "$EMU_PID"
}

# ---------------------------------------------------------------------------------------------
# part 4: sqlx's SQLite driver against rusqlite connections driven with spawn_blocking

part_sqlite_ab() {
    log "sqlite-ab: sqlx against rusqlite, ABBA"
    local out="$WORK/sqlite-ab.jsonl" op what line
    "$DRIVER" sqlite-ab --tasks "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
        --dir "$WORK" >"$out" 2>"$WORK/sqlite-ab.log"
    for op in read write batch; do
        line=$(jq -c --arg op "$op" 'select(.summary and .op == $op)' "$out")
        what=$(jq -r .what <<<"$line")
        record sqlite-ab sqlite "$what: ops/s, p50 / p99, CPU per op: rusqlite vs sqlx" "$(jq -r '
            def f(d): (. * d | round) / d;
            .drivers as $d |
            "\($d.rusqlite.ops_per_s | f(1)) vs \($d.sqlx.ops_per_s | f(1)) ops/s = \(.rusqlite_over_sqlx_ops | f(100))×; " +
            "\($d.rusqlite.p50_ms | f(100)) / \($d.rusqlite.p99_ms | f(100)) vs \($d.sqlx.p50_ms | f(100)) / \($d.sqlx.p99_ms | f(100)) ms; " +
            "\($d.rusqlite.cpu_us_per_op | f(10)) vs \($d.sqlx.cpu_us_per_op | f(10)) µs"' <<<"$line")" "—" "—"
    done
    local errors
    errors=$(jq -s '[.[] | select(.summary | not) | .errors] | add' "$out")
    [[ $errors == 0 ]] || die "sqlite-ab: $errors failed operations (see $WORK/sqlite-ab.log)"
}

# ---------------------------------------------------------------------------------------------

# part 5: the database credentials providers (bench/sql_rotation.sh)
# shellcheck source=bench/sql_rotation.sh
source "$ROOT/bench/sql_rotation.sh"

ENCRYPTION_KEY=$(openssl rand -base64 32)
log "work directory $WORK"
for part in api rotation scale sql-rotation dashboard; do
    has "$PARTS" "$part" || continue
    for backend in sqlite postgres; do
        has "$BACKENDS" "$backend" || continue
        "part_${part//-/_}" "$backend"
    done
done
has "$PARTS" sqlite-ab && part_sqlite_ab

{
    echo "| Part | Backend | Figure | Value | Target | Met |"
    echo "| --- | --- | --- | --- | --- | --- |"
    while IFS=$'\t' read -r part backend figure value target met; do
        echo "| $part | $backend | $figure | $value | $target | $met |"
    done <"$RESULTS"
} >"$WORK/table.md"
log "done in $((SECONDS - START_SECONDS)) s"
echo
echo "Machine: $(nproc) cores, $(awk '/^MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), \
$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r), $(rustc --version)"
echo "Load: duration ${DURATION}s after ${WARMUP}s warm-up, $CONNECTIONS connections; rotations: $ROTATIONS; scale: $SCALE_ROWS rows; sql-rotation: $SQL_ROTATIONS per provider; dashboard: $DASHBOARD_ROTATIONS rotations, $DASHBOARD_CONNECTIONS connections"
[[ -n $BIN_DIR ]] && echo "Binaries: $BIN_DIR (--bin-dir)"
echo
cat "$WORK/table.md"
[[ -n $OUT ]] && cp "$WORK/table.md" "$OUT"
exit 0
