#!/usr/bin/env bash
# test/bench/audit/cost.sh: the cost of one audit record, counted rather
# than timed (wall-clock figures on a shared 2-core machine are noise).
#
#   HDB_PG_BINDIR=... bash test/bench/audit/cost.sh
#
# 1. WAL: pgbench TPC-B transactions (5 records each) with and without
#    audit, on a plain server; WAL bytes per transaction, after the writer
#    has stored every record, over the number of records.
# 2. Instructions: the same server run under callgrind (every process,
#    forked children included).  One session runs COST_TX TPC-B
#    transactions with audit off, another the same with audit on; the
#    difference per record is the audited backend's cost.  The writer's
#    whole run over the records it stored is the writer's cost.
#
# Settings (environment): COST_TX (400 TPC-B transactions), COST_WAL_TX
# (2000).
set -euo pipefail

cd "$(dirname "$0")/../../.."
. test/lib.sh

ntx=${COST_TX:-400}
nwaltx=${COST_WAL_TX:-2000}

hdb_install_packages
exec 9>"/tmp/heliosdb-test$(echo "$PG_BINDIR" | tr / _).lock"
flock 9
hdb_build_install >/dev/null

work=$(mktemp -d /tmp/heliosdb-cost.XXXXXX)
chmod 755 "$work"
trap 'hdb_cluster_stop "$work/c"; [ -n "${COST_DEBUG:-}" ] || rm -rf "$work"' EXIT
hdb_cluster_start "$work/c" >/dev/null
cat >>"$work/c/data/postgresql.conf" <<EOF
heliosdb.audit_events = 'all'
heliosdb.audit_destination = 'database'
heliosdb.audit_queue_size = '64MB'
autovacuum = off
checkpoint_timeout = '1h'
max_wal_size = '4GB'
full_page_writes = off
EOF
hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/c/data" -l "$work/c/server.log" -w restart >/dev/null
psql -q -X -d postgres -c 'CREATE EXTENSION heliosdb'
pgbench -q -i -s 1 postgres >/dev/null 2>&1
# Many branches and tellers, so that no row is updated often enough for
# its update chain to make one run costlier than the next.
psql -q -X -d postgres <<'SQL'
SET heliosdb.audit_enabled = off;
INSERT INTO pgbench_branches SELECT g, 0 FROM generate_series(2, 20000) g;
INSERT INTO pgbench_tellers SELECT g, 1, 0 FROM generate_series(11, 20000) g;
VACUUM ANALYZE;
SQL

# A TPC-B script for psql: n transactions with fixed pseudo-random keys.
tpcb() {
	awk -v n="$1" 'BEGIN {
		srand(42);
		for (i = 0; i < n; i++) {
			a = int(rand() * 100000) + 1; t = int(rand() * 20000) + 1;
			b = int(rand() * 20000) + 1;
			d = int(rand() * 10000) - 5000;
			print "BEGIN;";
			printf "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d;\n", d, a;
			printf "SELECT abalance FROM pgbench_accounts WHERE aid = %d;\n", a;
			printf "UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d;\n", d, t;
			printf "UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = %d;\n", d, b;
			printf "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, %d, %d, CURRENT_TIMESTAMP);\n", t, b, a, d;
			print "END;";
		}
	}'
}
tpcb "$nwaltx" >"$work/wal.sql"
tpcb "$ntx" >"$work/cg.sql"
chmod 644 "$work"/*.sql

# Queries of this script are not audited themselves.
q() { PGOPTIONS="-c heliosdb.audit_enabled=off" psql -X -A -t -d postgres -c "$1"; }
lsn() { q 'SELECT pg_current_wal_insert_lsn()'; }
stored() { q 'SELECT count(*) FROM heliosdb.audit_log'; }
flush() { q 'SELECT heliosdb.audit_flush(600000)' >/dev/null; }

# 1. WAL per record
flush
for mode in off on; do
	q 'VACUUM pgbench_accounts, pgbench_tellers, pgbench_branches' >/dev/null
	n0=$(stored)
	l0=$(lsn)
	PGOPTIONS="-c heliosdb.audit_enabled=$mode" psql -q -X -d postgres -f "$work/wal.sql" >/dev/null
	flush
	l1=$(lsn)
	n1=$(stored)
	wal[$([ $mode = on ] && echo 1 || echo 0)]=$(q "SELECT '$l1'::pg_lsn - '$l0'::pg_lsn")
	recs=$((n1 - n0))
done
echo "WAL: $nwaltx TPC-B transactions: ${wal[0]} bytes without audit, ${wal[1]} with ($recs records)"
echo "WAL per transaction: $((wal[0] / nwaltx)) without audit, $((wal[1] / nwaltx)) with;" \
	"per record: $(( (wal[1] - wal[0]) / recs )) bytes"

# 2. instructions, under callgrind
hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/c/data" -m fast -w stop >/dev/null
mkdir "$work/cg" && chown "$HDB_PGUSER" "$work/cg"
# Counted: sessions (PostgresMain) and the writer's storing of what it
# takes off its ring (store_batch), not start-up or maintenance.
hdb_as_pguser valgrind --tool=callgrind --callgrind-out-file="$work/cg/cg.%p" \
	--toggle-collect=PostgresMain --toggle-collect=store_batch \
	"$PG_BINDIR/postgres" -D "$work/c/data" >"$work/c/valgrind.log" 2>&1 &
for _ in $(seq 120); do
	q 'SELECT 1' >/dev/null 2>&1 && break
	sleep 1
done
flush
n0=$(stored)
wpid=$(q 'SELECT worker_pid FROM heliosdb.audit_stats()')
# The writer waits behind a lock on audit_state while the sessions run,
# then stores their records in full batches, as under load.
coproc LOCKER { PGOPTIONS="-c heliosdb.audit_enabled=off" psql -q -X -d postgres; }
echo "BEGIN; LOCK heliosdb.audit_state; SELECT 'locked';" >&"${LOCKER[1]}"
read -r _ <&"${LOCKER[0]}"
for mode in off on; do
	q 'VACUUM pgbench_accounts, pgbench_tellers, pgbench_branches' >/dev/null
	{ echo "SELECT pg_backend_pid();"; cat "$work/cg.sql"; } >"$work/run.sql"
	pid=$(PGOPTIONS="-c heliosdb.audit_enabled=$mode" psql -q -X -A -t -d postgres -f "$work/run.sql" | sed -n 1p)
	eval "pid_$mode=$pid"
done
echo "COMMIT;" >&"${LOCKER[1]}"
exec {LOCKER[1]}>&-
wait "$LOCKER_PID"
flush
n1=$(stored)
hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/c/data" -m fast -w stop >/dev/null
wait
total() { sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1" | tail -1; }
i_off=$(total "$work/cg/cg.$pid_off")
i_on=$(total "$work/cg/cg.$pid_on")
wfile="$work/cg/cg.$wpid"
i_w=$(total "$wfile")
recs=$((n1 - n0))
echo "instructions: backend $ntx TPC-B transactions: $i_off without audit, $i_on with ($recs records)"
echo "instructions per record: backend $(( (i_on - i_off) / recs )), writer $(( i_w / recs ))"
if [ -n "${COST_KEEP:-}" ]; then
	mkdir -p "$COST_KEEP"
	cp "$work/cg/cg.$pid_off" "$COST_KEEP/backend_off"
	cp "$work/cg/cg.$pid_on" "$COST_KEEP/backend_on"
	cp "$wfile" "$COST_KEEP/writer"
	echo "callgrind files in $COST_KEEP"
fi
