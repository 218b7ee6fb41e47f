#!/usr/bin/env bash
# test/run_all.sh: set up and run every heliosdb test suite.
#
#   pg_regress  test/sql -> expected/
#   isolation   test/isolation/specs -> test/isolation/expected/
#   pgTAP       test/pgtap/*.sql with pg_prove
#   TAP         test/t/*.pl with PostgreSQL::Test::Cluster
#
# Run as root on a fresh Debian bookworm machine: it installs the packages
# it needs, builds and installs heliosdb, and runs clusters as the postgres
# user.  Exits non-zero when any tier fails.
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
. test/lib.sh

hdb_install_packages

# Parallel checkouts on one machine share the installed library: take turns.
exec 9>"/tmp/heliosdb-test$(echo "$PG_BINDIR" | tr / _).lock"
flock 9

hdb_build_install

work=$(mktemp -d /tmp/heliosdb-test.XXXXXX)
chmod 755 "$work"
cleanup() {
	hdb_cluster_stop "$work/cluster"
	rm -rf "$work"
}
trap cleanup EXIT

failed=()
hdb_cluster_start "$work/cluster"

# JWT fixtures: keys and tokens made by an independent JOSE implementation
# (test/jwt/make_tokens.py, PyJWT) into a folder the server can read.
# pg_regress and pgTAP tests find it through HDB_JWT_FIXTURES: they load the
# tokens with "\getenv fx HDB_JWT_FIXTURES" and "\i :fx/tokens.psql", and
# point heliosdb.jwt_key_file at the key files in it.  To run one of them
# by hand, generate a folder the same way and export the variable.
hdb_log "JWT fixtures"
/usr/bin/python3 test/jwt/make_tokens.py "$work/jwt"
export HDB_JWT_FIXTURES="$work/jwt"

hdb_log "pg_regress and isolation"
rm -rf results output_iso regression.diffs regression.out
if ! make -s PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS=; then
	failed+=(regress/isolation)
	for f in regression.diffs output_iso/regression.diffs; do
		[ -f "$f" ] && cat "$f"
	done
fi

hdb_log "pgTAP"
createdb heliosdb_pgtap
psql -q -X -d heliosdb_pgtap -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION heliosdb'
pg_prove -d heliosdb_pgtap test/pgtap/*.sql || failed+=(pgtap)

hdb_cluster_stop "$work/cluster"

# TAP tests run initdb themselves, so they run as the postgres user in a
# copy of the tree that user can write.
hdb_log "TAP"
copy="$work/tree"
mkdir "$copy"
tar -C "$top" --exclude=.git --exclude=results --exclude=output_iso -cf - . | tar -C "$copy" -xf -
[ "$(id -u)" -eq 0 ] && chown -R "$HDB_PGUSER" "$copy"
if ! hdb_as_pguser make -s -C "$copy" PG_CONFIG="$PG_CONFIG" installcheck \
	REGRESS= ISOLATION= PROVE_FLAGS=--verbose; then
	failed+=(tap)
	for f in "$copy"/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && { echo "---- $f"; tail -n 60 "$f"; }
	done
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED tiers: ${failed[*]}"
	exit 1
fi
echo "all test tiers passed"
