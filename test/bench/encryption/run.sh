#!/usr/bin/env bash
# test/bench/encryption/run.sh: heliosdb_encrypted against heap, in one run
# on one throwaway server (same settings, same data), printing the ratios
# the TAM issue sets targets for:
#   pgbench TPC-B and select-only TPS (tables converted with SET ACCESS
#   METHOD), COPY of ROWS rows, a sequential scan of them, table size.
#
# Usage (as root, with HDB_PG_BINDIR pointing at PostgreSQL 15):
#   bash test/bench/encryption/run.sh [SCALE] [SECONDS] [ROWS]
# Defaults: scale 10, 15 s per pgbench run, 1,000,000 rows, 3 rounds
# (BENCH_ROUNDS).  The figures are noisy on a shared machine: compare
# ratios within one run.
set -euo pipefail

cd "$(dirname "$0")/../../.."
. test/lib.sh

SCALE=${1:-10}
SECS=${2:-15}
ROWS=${3:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-2}

hdb_throwaway_cluster bench-encryption
# a realistic configuration rather than the test one
cat >>"$work/cluster/data/postgresql.conf" <<CONF
fsync = on
shared_buffers = '256MB'
max_wal_size = '2GB'
CONF
hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$work/cluster/data" -w restart >/dev/null

q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -d "$1" -c "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for db in bench_heap bench_enc; do
	createdb "$db"
	q "$db" 'CREATE EXTENSION heliosdb'
	pgbench -q -i -s "$SCALE" "$db" >/dev/null 2>&1
done
for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
	q bench_enc "ALTER TABLE $t SET ACCESS METHOD heliosdb_encrypted"
done
q bench_enc 'VACUUM ANALYZE'
q bench_heap 'VACUUM ANALYZE'

tps() {
	# start each run from a checkpoint, so none falls into only one of them
	q "$1" CHECKPOINT
	pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" $2 "$1" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# COPY and a sequential scan of ROWS rows of a typical shape
q bench_heap "COPY (SELECT g, md5(g::text), g % 1000, now() FROM generate_series(1, $ROWS) g) TO '$work/cluster/rows.copy'"
# Times are taken inside one session with psql's \timing, so that they
# hold the statement and not the cost of connecting.
copy_ms() {
	q "$1" "DROP TABLE IF EXISTS c; CREATE TABLE c (id int, v text, n int, t timestamptz) USING $2"
	printf '\\timing on\nCOPY c FROM %s\n' "'$work/cluster/rows.copy'" |
		psql -X -q -At -d "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
# the best of three scans, after one that brings the table and the data
# key into this session (parallel workers still start from nothing)
scan_ms() {
	local sql="SELECT count(*), sum(n), max(v) FROM c;"
	printf '%s\n\\timing on\n%s\n%s\n%s\n' "$sql" "$sql" "$sql" "$sql" |
		psql -X -q -At -d "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
		sort -n | head -1
}
# median N...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Each round measures both tables, one right after the other, and takes
# their ratio; the rounds' median ratio is printed, since on a shared
# machine the speed of the same run moves by more than the targets.  The
# table that goes first alternates from round to round.
declare -A r=()
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then first=bench_heap; second=bench_enc
	else first=bench_enc; second=bench_heap; fi
	declare -A v=()
	v[$first.tpcb]=$(tps $first ""); v[$second.tpcb]=$(tps $second "")
	v[$second.sel]=$(tps $second -S); v[$first.sel]=$(tps $first -S)
	v[bench_heap.copy]=$(copy_ms bench_heap heap)
	v[bench_enc.copy]=$(copy_ms bench_enc heliosdb_encrypted)
	q bench_heap 'VACUUM c'; q bench_enc 'VACUUM c'
	v[bench_heap.scan]=$(scan_ms bench_heap); v[bench_enc.scan]=$(scan_ms bench_enc)
	for m in tpcb sel copy scan; do
		r[$m]="${r[$m]:-} $(ratio "${v[bench_enc.$m]}" "${v[bench_heap.$m]}")"
	done
	printf 'round %d: TPC-B %s / %s TPS, select-only %s / %s TPS, COPY %s / %s ms, scan %s / %s ms (heap / encrypted)\n' \
		"$round" "${v[bench_heap.tpcb]}" "${v[bench_enc.tpcb]}" \
		"${v[bench_heap.sel]}" "${v[bench_enc.sel]}" \
		"${v[bench_heap.copy]}" "${v[bench_enc.copy]}" \
		"${v[bench_heap.scan]}" "${v[bench_enc.scan]}"
	unset v
done
size_h=$(q bench_heap "SELECT pg_table_size('pgbench_accounts')")
size_e=$(q bench_enc "SELECT pg_table_size('pgbench_accounts')")
csize_h=$(q bench_heap "SELECT pg_table_size('c')")
csize_e=$(q bench_enc "SELECT pg_table_size('c')")

printf '\n%-34s %-24s %6s %s\n' measure "ratios (encrypted / heap)" median target
row() { printf '%-34s %-24s %6s %s\n' "$1" "$(echo $2)" "$(median $2)" "$3"; }
row "pgbench TPC-B TPS (s=$SCALE, c=$CLIENTS)" "${r[tpcb]}" '>= 0.95'
row "pgbench select-only TPS" "${r[sel]}" '>= 0.95'
row "COPY $ROWS rows (ms)" "${r[copy]}" '<= 2'
row "seq scan $ROWS rows (ms, best of 3)" "${r[scan]}" '<= 1.3'
printf '%-34s %-24s %6s %s\n' "pgbench_accounts size (bytes)" "$size_h / $size_e" "$(ratio "$size_e" "$size_h")" '<= 1.2'
printf '%-34s %-24s %6s %s\n' "COPY table size (bytes)" "$csize_h / $csize_e" "$(ratio "$csize_e" "$csize_h")" '<= 1.2'
