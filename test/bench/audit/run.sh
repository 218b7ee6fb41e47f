#!/usr/bin/env bash
# test/bench/audit/run.sh: pgbench throughput with no audit, with heliosdb's
# audit (database sink, all event types) and with pgAudit (pgaudit.log =
# 'all', server log), in one run on fresh clusters, and the ratios.
#
#   HDB_PG_BINDIR=... bash test/bench/audit/run.sh
#
# Settings (environment): BENCH_SECONDS (15), BENCH_CLIENTS (2),
# BENCH_SCALE (10), BENCH_FSYNC (on).  The figures are noisy on a shared
# machine: compare the ratios of one run, not runs with each other.
set -euo pipefail

cd "$(dirname "$0")/../../.."
. test/lib.sh

seconds=${BENCH_SECONDS:-15}
clients=${BENCH_CLIENTS:-2}
scale=${BENCH_SCALE:-10}
fsync=${BENCH_FSYNC:-on}


hdb_install_packages
exec 9>"/tmp/heliosdb-test$(echo "$PG_BINDIR" | tr / _).lock"
flock 9
hdb_build_install

# pgAudit comes from Debian; a private copy of PostgreSQL needs its files.
pkglib=$("$PG_CONFIG" --pkglibdir)
share=$("$PG_CONFIG" --sharedir)
if [ ! -f "$pkglib/pgaudit.so" ]; then
	cp /usr/lib/postgresql/15/lib/pgaudit.so "$pkglib/"
	cp /usr/share/postgresql/15/extension/pgaudit* "$share/extension/"
fi

work=$(mktemp -d /tmp/heliosdb-bench.XXXXXX)
chmod 755 "$work"
trap 'hdb_cluster_stop "$work/c"; rm -rf "$work"' EXIT

# run MODE PGBENCH-ARGS...: prints the TPS of one pgbench run.
run() {
	local mode=$1
	shift
	hdb_cluster_stop "$work/c"
	rm -rf "$work/c"
	hdb_cluster_start "$work/c" >/dev/null
	{
		echo "fsync = $fsync"
		echo "log_min_messages = warning"
		case $mode in
		none) echo "shared_preload_libraries = ''" ;;
		heliosdb)
			echo "shared_preload_libraries = 'heliosdb'"
			echo "heliosdb.audit_events = 'all'"
			echo "heliosdb.audit_destination = 'database'"
			;;
		pgaudit)
			echo "shared_preload_libraries = 'pgaudit'"
			echo "pgaudit.log = 'all'"
			;;
		esac
	} >>"$work/c/data/postgresql.conf"
	hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/c/data" -l "$work/c/server.log" -w restart >/dev/null
	case $mode in
	heliosdb) psql -q -X -d postgres -c 'CREATE EXTENSION heliosdb' ;;
	pgaudit) psql -q -X -d postgres -c 'CREATE EXTENSION pgaudit' ;;
	esac
	pgbench -q -i -s "$scale" postgres >/dev/null 2>&1
	pgbench -n -c "$clients" -j "$clients" -T "$seconds" "$@" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
	if [ "$mode" = heliosdb ]; then
		psql -X -A -t -d postgres -c 'SELECT heliosdb.audit_flush(120000)' >/dev/null
		psql -X -A -t -d postgres \
			-c "SELECT 'heliosdb records stored: ' || count(*) FROM heliosdb.audit_log" >&2
	fi
}

printf 'pgbench: %s clients, %s s per run, scale %s, fsync %s\n' \
	"$clients" "$seconds" "$scale" "$fsync"
for workload in tpcb select-only; do
	args=()
	[ "$workload" = select-only ] && args=(-S)
	declare -A tps=()
	for mode in none heliosdb pgaudit; do
		tps[$mode]=$(run "$mode" "${args[@]}")
	done
	printf '%-12s none %10.1f tps | heliosdb %10.1f tps (%.2fx) | pgaudit %10.1f tps (%.2fx)\n' \
		"$workload" "${tps[none]}" \
		"${tps[heliosdb]}" "$(echo "${tps[heliosdb]} / ${tps[none]}" | bc -l)" \
		"${tps[pgaudit]}" "$(echo "${tps[pgaudit]} / ${tps[none]}" | bc -l)"
	unset tps
done
