#!/usr/bin/env bash
# test/bench/tenant_rls/run.sh: cost of tenant isolation by RLS.
#
# 1M rows for 100 tenants, primary key (tenant_id, id).  A point query and a
# range query run through the heliosdb_tenant_isolation policy with the
# tenant set and, as the baseline, with a literal tenant id and row level
# security disabled; both as the same ordinary role.  Each variant runs in a PL/pgSQL
# loop with cached plans; the best of several rounds is reported, in
# microseconds per query, with the ratio policy/literal (target <= 1.05).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. test/lib.sh

hdb_throwaway_cluster bench-rls

psql -X -q -v ON_ERROR_STOP=1 -f test/bench/tenant_rls/bench.sql
