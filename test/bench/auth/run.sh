#!/usr/bin/env bash
# test/bench/auth/run.sh [N]: microseconds per heliosdb.login_jwt() call.
#
# For HS256, RS256 and ES256 it times N logins with N distinct tokens
# ("first": signature verified) and N logins with one token ("cached":
# served from the session's verification cache), each inside one DO block
# in one session, and prints the mean per login.  A login includes what
# login_jwt() always does besides verifying: the tenant lookup, the role
# switch and setting the context.  "baseline" is the same loop calling
# heliosdb.current_tenant() instead, the cost of the loop itself.
#
# Uses the PostgreSQL of HDB_PG_BINDIR (see test/lib.sh); run as root.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. test/lib.sh

n=${1:-2000}
hdb_throwaway_cluster bench-auth

/usr/bin/python3 test/jwt/make_tokens.py "$work/fx"
/usr/bin/python3 test/bench/auth/make_bench_tokens.py "$work/fx" "$n" "$work/tokens.csv"
chmod 644 "$work/tokens.csv"
secret=$(cat "$work/fx/secret.txt")

psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE EXTENSION heliosdb;
SELECT heliosdb.tenant_create('bench') IS NULL;
CREATE ROLE bench_app;
CREATE TABLE bench_tokens (alg text, token text);
COPY bench_tokens FROM '$work/tokens.csv' WITH (FORMAT csv);
ALTER SYSTEM SET heliosdb.jwt_secret = '$secret';
ALTER SYSTEM SET heliosdb.jwt_key_file = '$work/fx/jwks.json';
SELECT pg_reload_conf();
SQL
sleep 1

echo "heliosdb.login_jwt(): microseconds per login, $n logins each"
printf '%-8s %10s %10s\n' alg first cached
psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE FUNCTION pg_temp.bench(which text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	toks text[];
	t0 timestamptz;
	first float8;
	cached float8;
	n int;
BEGIN
	SELECT array_agg(token) INTO toks FROM bench_tokens WHERE alg = which;
	n := array_length(toks, 1);
	t0 := clock_timestamp();
	FOR i IN 1 .. n LOOP
		PERFORM heliosdb.login_jwt(toks[i], local => true);
	END LOOP;
	first := extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
	t0 := clock_timestamp();
	FOR i IN 1 .. n LOOP
		PERFORM heliosdb.login_jwt(toks[1], local => true);
	END LOOP;
	cached := extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
	RETURN format('%-8s %10s %10s', which, round(first::numeric, 1),
				  round(cached::numeric, 1));
END
$$;
CREATE FUNCTION pg_temp.baseline(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1 .. n LOOP
		PERFORM heliosdb.current_tenant();
	END LOOP;
	RETURN format('%-8s %10s', 'baseline',
				  round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / n)::numeric, 1));
END
$$;
SELECT pg_temp.bench('HS256');
SELECT pg_temp.bench('RS256');
SELECT pg_temp.bench('ES256');
SELECT pg_temp.baseline(10000);
SQL
