#!/usr/bin/env bash
# test/bench/auth_apikey/run.sh: cost of an API key login.
#
# Server side, in PL/pgSQL loops (best of several rounds, microseconds per
# call): login_apikey() plus logout() against logout() alone, so that the
# difference is the login; and a wrong secret, which counts a failure and
# writes the lockout state file with fsync on.  Client side, with pgbench
# over the Unix socket (one client, prepared statements): a login statement
# against SELECT 1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. test/lib.sh

hdb_throwaway_cluster bench-apikey
# Failures are made durable with fsync: measure them as in production.
psql -X -q -c "ALTER SYSTEM SET fsync = on" -c "SELECT pg_reload_conf()" >/dev/null

psql -X -q -v ON_ERROR_STOP=1 -f test/bench/auth_apikey/bench.sql

key=$(psql -X -A -t -c "SELECT api_key FROM bench_key")
secs=${BENCH_SECONDS:-5}
echo "SELECT * FROM heliosdb.login_apikey(:key, true);" >"$work/login.sql"
echo "SELECT 1;" >"$work/select1.sql"
lat() {
	pgbench -n -M prepared -c 1 -T "$secs" -D key="$key" -f "$1" 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
l_login=$(lat "$work/login.sql")
l_base=$(lat "$work/select1.sql")
awk -v a="$l_login" -v b="$l_base" 'BEGIN {
	printf "pgbench, 1 client: login statement %.1f us, SELECT 1 %.1f us, login cost %.1f us\n",
		a * 1000, b * 1000, (a - b) * 1000 }'
