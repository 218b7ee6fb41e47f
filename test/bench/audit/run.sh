#!/usr/bin/env bash
# test/bench/audit/run.sh: pgbench throughput with no audit, with heliosdb's
# audit (database sink, all event types) and with pgAudit (pgaudit.log =
# 'all', server log), in one run on fresh clusters, and the ratios.
#
#   HDB_PG_BINDIR=... bash test/bench/audit/run.sh
#
# Settings (environment): BENCH_SECONDS (15), BENCH_CLIENTS (2),
# BENCH_SCALE (10), BENCH_FSYNC (on), BENCH_ROUNDS (3), BENCH_WORKLOADS
# ("tpcb select-only").  The three modes run in turn, BENCH_ROUNDS times,
# and the medians are compared: with fsync on, a virtual disk's flush
# time varies more between runs than audit costs.  The server CPU time
# per transaction varies less.
set -euo pipefail

cd "$(dirname "$0")/../../.."
. test/lib.sh

seconds=${BENCH_SECONDS:-15}
clients=${BENCH_CLIENTS:-2}
scale=${BENCH_SCALE:-10}
fsync=${BENCH_FSYNC:-on}
rounds=${BENCH_ROUNDS:-3}
workloads=${BENCH_WORKLOADS:-tpcb select-only}


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

# CPU time (clock ticks) used so far by the server: the postmaster, its
# reaped children and its live children.
server_ticks() {
	/usr/bin/python3 - "$(head -1 "$work/c/data/postmaster.pid")" <<'PY'
import os, sys
pm = sys.argv[1]
def fields(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()
f = fields(pm)
ticks = sum(int(x) for x in f[11:15])
for d in os.listdir("/proc"):
    if d.isdigit():
        f = fields(d)
        if f and f[1] == pm:
            ticks += int(f[11]) + int(f[12])
print(ticks)
PY
}

# run MODE PGBENCH-ARGS...: prints the TPS of one pgbench run and the
# server's CPU time per transaction in microseconds (records included:
# heliosdb's writer stores them before the second reading).
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
		heliosdb | heliosdb_sync_ro)
			echo "shared_preload_libraries = 'heliosdb'"
			echo "heliosdb.audit_events = 'all'"
			echo "heliosdb.audit_destination = 'database'"
			# records of read-only transactions flushed at their commit
			[ "$mode" = heliosdb_sync_ro ] && echo "heliosdb.audit_sync_read_only = on"
			;;
		pgaudit)
			echo "shared_preload_libraries = 'pgaudit'"
			echo "pgaudit.log = 'all'"
			;;
		esac
	} >>"$work/c/data/postgresql.conf"
	hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/c/data" -l "$work/c/server.log" -w restart >/dev/null
	case $mode in
	heliosdb*) psql -q -X -d postgres -c 'CREATE EXTENSION heliosdb' ;;
	pgaudit) psql -q -X -d postgres -c 'CREATE EXTENSION pgaudit' ;;
	esac
	pgbench -q -i -s "$scale" postgres >/dev/null 2>&1
	local t0 out writer w0 r0
	if [ "$mode" != none ] && [ "$mode" != pgaudit ]; then
		psql -X -A -t -d postgres -c 'SELECT heliosdb.audit_flush(120000)' >/dev/null
		writer=$(psql -X -A -t -d postgres -c \
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'heliosdb audit writer'")
		w0=$(awk '{ print $14 + $15 }' "/proc/$writer/stat")
		r0=$(psql -X -A -t -d postgres -c 'SELECT count(*) FROM heliosdb.audit_log')
	fi
	t0=$(server_ticks)
	out=$(pgbench -n -c "$clients" -j "$clients" -T "$seconds" "$@" postgres 2>/dev/null)
	if [ "$mode" != none ] && [ "$mode" != pgaudit ]; then
		psql -X -A -t -d postgres -c 'SELECT heliosdb.audit_flush(120000)' >/dev/null
	fi
	local t1 tx
	sleep 1 # let the postmaster reap the sessions' processes
	t1=$(server_ticks)
	tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	if [ "$mode" != none ] && [ "$mode" != pgaudit ]; then
		# The writer's own CPU time per record: less noisy than the rest.
		local w1 r1
		w1=$(awk '{ print $14 + $15 }' "/proc/$writer/stat")
		r1=$(psql -X -A -t -d postgres -c 'SELECT count(*) FROM heliosdb.audit_log')
		printf 'heliosdb records stored: %d, writer CPU per record: %.1f us\n' \
			"$((r1 - r0))" \
			"$(echo "($w1 - $w0) * 1000000 / $(getconf CLK_TCK) / ($r1 - $r0)" | bc -l)" >&2
	fi
	echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')" \
		"$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / tx ))"
}

# median N...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf 'pgbench: %s clients, %s s per run, scale %s, fsync %s, %s rounds\n' \
	"$clients" "$seconds" "$scale" "$fsync" "$rounds"
for workload in $workloads; do
	args=()
	modes="none heliosdb pgaudit"
	# A read-only transaction's records cost a WAL flush at its commit
	# only with heliosdb.audit_sync_read_only on: show both.
	[ "$workload" = select-only ] && args=(-S) && modes="$modes heliosdb_sync_ro"
	declare -A tps=() cpu=()
	for round in $(seq "$rounds"); do
		for mode in $modes; do
			read -r t c < <(run "$mode" "${args[@]}")
			tps[$mode]="${tps[$mode]:-} $t"
			cpu[$mode]="${cpu[$mode]:-} $c"
			printf '%-12s round %d %-14s %9.1f tps %6d us CPU per transaction\n' \
				"$workload" "$round" "$mode" "$t" "$c"
		done
	done
	for mode in $modes; do
		# shellcheck disable=SC2086
		tps[$mode]=$(median ${tps[$mode]})
		# shellcheck disable=SC2086
		cpu[$mode]=$(printf "%.0f" "$(median ${cpu[$mode]})")
	done
	printf '%-12s median: none %9.1f tps | heliosdb %9.1f tps (%.2fx) | pgaudit %9.1f tps (%.2fx)\n' \
		"$workload" "${tps[none]}" \
		"${tps[heliosdb]}" "$(echo "${tps[heliosdb]} / ${tps[none]}" | bc -l)" \
		"${tps[pgaudit]}" "$(echo "${tps[pgaudit]} / ${tps[none]}" | bc -l)"
	printf '%-12s median server CPU per transaction: none %d us | heliosdb %d us (+%d) | pgaudit %d us (+%d)\n' \
		"" "${cpu[none]}" "${cpu[heliosdb]}" "$((cpu[heliosdb] - cpu[none]))" \
		"${cpu[pgaudit]}" "$((cpu[pgaudit] - cpu[none]))"
	if [ -n "${tps[heliosdb_sync_ro]:-}" ]; then
		printf '%-12s median with heliosdb.audit_sync_read_only = on: heliosdb %9.1f tps (%.2fx), %d us CPU (+%d)\n' \
			"" "${tps[heliosdb_sync_ro]}" "$(echo "${tps[heliosdb_sync_ro]} / ${tps[none]}" | bc -l)" \
			"${cpu[heliosdb_sync_ro]}" "$((cpu[heliosdb_sync_ro] - cpu[none]))"
	fi
	unset tps cpu
done
