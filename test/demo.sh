#!/usr/bin/env bash
# test/demo.sh: set up heliosdb and show tenant isolation against a
# throwaway cluster, which is removed afterwards.
#
# Run as root on a fresh Debian bookworm machine: it installs the packages
# it needs, builds and installs heliosdb, starts PostgreSQL 15 as the
# postgres user with heliosdb preloaded, and runs test/demo.sql.
set -euo pipefail

cd "$(dirname "$0")/.."
. test/lib.sh

hdb_throwaway_cluster demo
hdb_log "running test/demo.sql"
psql -X -q -v ON_ERROR_STOP=1 -f test/demo.sql
