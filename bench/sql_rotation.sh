# bench/run.sh's part `sql-rotation` (sourced by it; uses its helpers): rotations/s of the
# database credentials providers against the real servers, PostgreSQL (--pg-url) and MariaDB
# (127.0.0.1:3306, root without a password, through the `mariadb` client). Per provider:
# SQL_ROTATIONS rotations, each over two users of its own, made due at once and run by the
# scheduler; each rotation is one ALTER through the connection's login and one verifying login
# (docs/ARCHITECTURE.md, "Providers"). The users are dropped afterwards.

# sql_admin PROVIDER STATEMENTS: runs statements as the database server's superuser.
sql_admin() {
    if [[ $1 == postgres ]]; then
        psql -q -X -v ON_ERROR_STOP=1 "$PG_URL/postgres" -c "$2" >/dev/null
    else
        mariadb -h 127.0.0.1 -P 3306 -u root --batch -e "$2"
    fi
}

# sql_users PROVIDER PREFIX N: an admin user PREFIX_adm (password $SQL_ADMIN_PASSWORD) and
# users PREFIX_a1..aN, PREFIX_b1..bN it may alter.
sql_users() {
    local provider=$1 prefix=$2 n=$3 i stmts
    if [[ $provider == postgres ]]; then
        stmts="CREATE ROLE ${prefix}_adm LOGIN CREATEROLE PASSWORD '$SQL_ADMIN_PASSWORD';"
        for i in $(seq "$n"); do
            stmts+="CREATE ROLE ${prefix}_a$i LOGIN; CREATE ROLE ${prefix}_b$i LOGIN;"
            stmts+="GRANT ${prefix}_a$i, ${prefix}_b$i TO ${prefix}_adm WITH ADMIN OPTION;"
        done
    else
        stmts="CREATE USER '${prefix}_adm'@'%' IDENTIFIED BY '$SQL_ADMIN_PASSWORD';"
        stmts+="GRANT CREATE USER ON *.* TO '${prefix}_adm'@'%';"
        for i in $(seq "$n"); do
            stmts+="CREATE USER '${prefix}_a$i'@'%' IDENTIFIED BY 'x-$RANDOM$RANDOM';"
            stmts+="CREATE USER '${prefix}_b$i'@'%' IDENTIFIED BY 'x-$RANDOM$RANDOM';"
        done
    fi
    sql_admin "$provider" "$stmts"
}

sql_drop_users() {
    local provider=$1 prefix=$2 n=$3 i list=
    if [[ $provider == postgres ]]; then
        for i in $(seq "$n"); do list+="${prefix}_a$i, ${prefix}_b$i, "; done
        sql_admin postgres "DROP ROLE IF EXISTS $list${prefix}_adm" || true
    else
        for i in $(seq "$n"); do list+="'${prefix}_a$i'@'%', '${prefix}_b$i'@'%', "; done
        sql_admin mysql "DROP USER IF EXISTS $list'${prefix}_adm'@'%'" || true
    fi
}

# api METHOD PATH [BODY]: the current rotad's answer (JSON), failing on a non-2xx.
sql_api() {
    local args=(-fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
    [[ -n ${3:-} ]] && args+=(--data "$3")
    curl "${args[@]}" "$ROTAD_URL$2"
}

part_sql_rotation() {
    local backend=$1 provider port database prefix i conn id t0 out secs failed rate before
    new_db "$backend" sqlrot
    start_rotad "$backend" "$CONCURRENCY"
    TOKEN=$(curl -fsS -X POST -H 'Content-Type: application/json' \
        --data '{"email": "bench@example.com", "password": "bench-password-1234", "organization": "bench"}' \
        "$ROTAD_URL/api/v1/admin/bootstrap" | jq -r .identity.credentials.token)
    PROJECT=$(sql_api POST /api/v2/workspace '{"projectName": "sql-bench"}' | jq -r .project.id)
    SQL_ADMIN_PASSWORD="Bench-$(openssl rand -hex 12)"
    for provider in postgres mysql; do
        prefix="rotad_bench_${provider:0:2}_$$"
        if [[ $provider == postgres ]]; then
            port=${PG_URL##*:}
            database=postgres
        else
            command -v mariadb >/dev/null || die "the mariadb client is required for --parts sql-rotation"
            port=3306
            database=
        fi
        log "sql-rotation/$backend: $SQL_ROTATIONS $provider-credentials rotations"
        sql_users "$provider" "$prefix" "$SQL_ROTATIONS"
        conn=$(sql_api POST "/api/v1/app-connections/$provider" "{\"name\": \"bench-$provider\",
            \"method\": \"username-and-password\", \"credentials\": {\"host\": \"127.0.0.1\",
            \"port\": $port, \"database\": \"$database\", \"username\": \"${prefix}_adm\",
            \"password\": \"$SQL_ADMIN_PASSWORD\", \"sslEnabled\": false}}" | jq -r .appConnection.id)
        for i in $(seq "$SQL_ROTATIONS"); do
            sql_api POST "/api/v2/secret-rotations/$provider-credentials" "{\"name\": \"$provider-$i\",
                \"projectId\": \"$PROJECT\", \"connectionId\": \"$conn\", \"environment\": \"dev\",
                \"secretPath\": \"/\", \"isAutoRotationEnabled\": true, \"rotationInterval\": 30,
                \"parameters\": {\"username1\": \"${prefix}_a$i\", \"username2\": \"${prefix}_b$i\"},
                \"secretsMapping\": {\"username\": \"${provider^^}_USER_$i\",
                \"password\": \"${provider^^}_PASSWORD_$i\"}}" >/dev/null
        done
        before=$(($(rotations_metric success) + $(rotations_metric failed)))
        failed=$(rotations_metric failed)
        t0=$(now_ms)
        sql "$backend" "UPDATE secret_rotations SET next_rotation_at = $((t0 - 1000))
            WHERE connection_id = '$conn'" >/dev/null
        out=$("$DRIVER" wait-rotations --metrics "$METRICS_URL" --target $((before + SQL_ROTATIONS)) \
            --since-unix-ms "$t0" --timeout-secs 600 --label "sql $provider")
        secs=$(jq -r .seconds <<<"$out")
        failed=$(($(jq -r .failed <<<"$out") - failed))
        rate=$(awk -v n="$SQL_ROTATIONS" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
        record sql-rotation "$backend" "$provider-credentials: rotations/s, concurrency $CONCURRENCY" \
            "$rate ($SQL_ROTATIONS in $(fmt "$secs" 1) s)" "—" \
            "$([[ $failed == 0 ]] && echo "—" || echo "**no** ($failed failed)")"
        sql_drop_users "$provider" "$prefix" "$SQL_ROTATIONS"
    done
    stop_pid "$ROTAD_PID"
}
