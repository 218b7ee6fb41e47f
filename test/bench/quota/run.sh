#!/usr/bin/env bash
# test/bench/quota/run.sh: what rate-limit checks cost.
#
# pgbench select-only over TCP (so the per-address bucket applies) as a
# plain role (superusers are exempt), against heliosdb with every limit
# configured but too high ever to trigger, versus heliosdb with every limit
# off (0).  Two workloads: the built-in select-only script (address and
# global buckets), and the same SELECT after heliosdb.set_tenant() in each
# transaction (tenant bucket too; both configurations run the same script).
# First the cost of one bucket check measured inside the server
# (heliosdb._rate_limit_bench()), which the machine's load barely moves.
# Rounds alternate between the configurations; the median TPS of each is
# compared.  Prints TPS, the ratio (target >= 0.98) and the microseconds a
# statement's check costs, derived from the latency difference.
#
# On a shared machine, load from elsewhere changes between rounds; so a
# second comparison runs side by side, at the same time, one pgbench as the
# limited role and one as a role of heliosdb.rate_limit_exempt_roles (the
# hooks run, the buckets are skipped), limits high; the median of the
# per-round ratios is printed.
#
#   HDB_PG_BINDIR=... bash test/bench/quota/run.sh [seconds per round] [rounds]
set -euo pipefail

cd "$(dirname "$0")/../../.."
. test/lib.sh

secs=${1:-10}
rounds=${2:-3}
clients=${HDB_BENCH_CLIENTS:-2}
port=55432

hdb_throwaway_cluster bench-quota
cat >>"$work/cluster/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
CONF
hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/cluster/data" -w restart \
	-l "$work/cluster/server.log" >/dev/null
export PGPORT=$port

psql -q -X -c 'CREATE EXTENSION heliosdb' >/dev/null
pgbench -q -i -s 10 >/dev/null 2>&1
psql -q -X >/dev/null <<'SQL'
CREATE ROLE bench LOGIN IN ROLE heliosdb_admin;
CREATE ROLE bench_free LOGIN IN ROLE heliosdb_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench, bench_free;
SELECT heliosdb.tenant_create('bench');
SQL

cat >"$work/tenant.sql" <<'SCRIPT'
\set aid random(1, 100000 * :scale)
SELECT heliosdb.set_tenant('bench');
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SCRIPT

# configure off|high: every limit off (0), or all set high enough never to
# trigger; new connections see it once the postmaster has reloaded.
configure() {
	local v burst
	if [ "$1" = off ]; then v=0; burst=200; else v=1000000000; burst=1000000000; fi
	psql -q -X >/dev/null <<SQL
ALTER SYSTEM SET heliosdb.default_qps_limit = $v;
ALTER SYSTEM SET heliosdb.rate_limit_per_apikey = $v;
ALTER SYSTEM SET heliosdb.rate_limit_per_ip = $v;
ALTER SYSTEM SET heliosdb.rate_limit_global = $v;
ALTER SYSTEM SET heliosdb.connection_rate_per_ip = $v;
ALTER SYSTEM SET heliosdb.rate_limit_burst = $burst;
ALTER SYSTEM SET heliosdb.rate_limit_exempt_roles = 'bench_free';
SELECT pg_reload_conf();
SQL
	local i
	for i in $(seq 100); do
		[ "$(psql -X -At -c "SELECT current_setting('heliosdb.rate_limit_global')::float8 = $v")" = t ] &&
			return 0
		sleep 0.1
	done
	hdb_die "configuration not reloaded"
}

# tps [-U ROLE] SCRIPT-ARGS...: one pgbench round over TCP (as "bench").
tps() {
	local role=bench
	if [ "$1" = -U ]; then role=$2; shift 2; fi
	pgbench -h 127.0.0.1 -U "$role" -n -c $clients -j $clients -T "$secs" "$@" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bench NAME STATEMENTS-PER-XACT SCRIPT-ARGS...
bench() {
	local name=$1 stmts=$2 off=() high=() r
	shift 2
	for r in $(seq "$rounds"); do
		configure off; off+=("$(tps "$@")")
		configure high; high+=("$(tps "$@")")
	done
	local m_off m_high
	m_off=$(printf '%s\n' "${off[@]}" | median)
	m_high=$(printf '%s\n' "${high[@]}" | median)
	awk -v name="$name" -v off="$m_off" -v high="$m_high" -v c=$clients -v s="$stmts" \
		-v offs="${off[*]}" -v highs="${high[*]}" 'BEGIN {
		printf "%s\n", name
		printf "  limits off : %10.1f tps (rounds: %s)\n", off, offs
		printf "  limits high: %10.1f tps (rounds: %s)\n", high, highs
		printf "  ratio high/off: %.3f (target >= 0.98)\n", high / off
		printf "  check cost: %.2f us per statement\n", (c / high - c / off) * 1e6 / s
	}'
}

# side_by_side NAME STATEMENTS-PER-XACT SCRIPT-ARGS...
side_by_side() {
	local name=$1 stmts=$2 ratios=() r lim free
	shift 2
	configure high
	for r in $(seq "$rounds"); do
		tps -U bench_free "$@" >"$work/free.tps" &
		lim=$(tps -U bench "$@")
		wait
		free=$(cat "$work/free.tps")
		ratios+=("$(awk -v l="$lim" -v f="$free" 'BEGIN {printf "%.4f", l / f}')")
		echo "  round $r: limited $lim tps, exempt $free tps"
	done
	local m
	m=$(printf '%s\n' "${ratios[@]}" | median)
	awk -v name="$name" -v m="$m" -v lim="$lim" -v c=$clients -v s="$stmts" 'BEGIN {
		printf "%s, side by side: median ratio limited/exempt %.3f (target >= 0.98)\n", name, m
		printf "  check cost: %.2f us per statement (from the median ratio and the last limited round)\n",
			(c / lim) * (1 - m) * 1e6 / s
	}'
}

# The bucket check alone, inside the server: no network, no other work.
configure high
for r in $(seq 5); do
	psql -X -At -c 'SELECT heliosdb._rate_limit_bench(1000000)'
done | median | awk '{printf "one bucket check inside the server: %.3f us (median of 5 x 1e6; a statement makes up to 3 such checks plus the global bucket)\n", $1}'

echo "pgbench, $clients clients, ${secs}s x $rounds rounds per configuration, scale 10"
bench "select-only (address + global buckets)" 1 -S
bench "set_tenant + select (tenant + address + global buckets)" 2 -f "$work/tenant.sql"
side_by_side "select-only" 1 -S
side_by_side "set_tenant + select" 2 -f "$work/tenant.sql"
