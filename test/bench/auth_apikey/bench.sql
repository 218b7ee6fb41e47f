-- Benchmark body for test/bench/auth_apikey/run.sh.
\set rounds 5
\set n 5000
SET client_min_messages = warning;
CREATE EXTENSION heliosdb;
SELECT heliosdb.tenant_create('bench') \g /dev/null
CREATE TABLE bench_key AS
	SELECT * FROM heliosdb.apikey_create('bench', 'heliosdb_user', 'bench');
SELECT api_key AS key, 'hdb_sk_' || key_id || repeat('q', 32) AS wrong
	FROM bench_key \gset

CREATE FUNCTION logout_only(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..n LOOP
		PERFORM heliosdb.logout();
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
CREATE FUNCTION login_logout(key text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..n LOOP
		PERFORM heliosdb.login_apikey(key, true);
		PERFORM heliosdb.logout();
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
CREATE FUNCTION wrong_secret(key text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..n LOOP
		BEGIN
			PERFORM heliosdb.login_apikey(key, true);
		EXCEPTION WHEN invalid_password THEN
			NULL;
		END;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
-- Wrong secrets must not lock the key during the benchmark.
SET heliosdb.apikey_max_failed_attempts = 1000;

CREATE TEMP TABLE r (what text, us float8);
SELECT login_logout(:'key', 100) \g /dev/null
SELECT format('INSERT INTO r SELECT ''base'', logout_only(%s); '
			  'INSERT INTO r SELECT ''login'', login_logout(%L, %s);',
			  :n, :'key', :n)
	FROM generate_series(1, :rounds) \gexec
SELECT format('INSERT INTO r SELECT ''wrong'', wrong_secret(%L, 100);', :'wrong')
	FROM generate_series(1, 3) \gexec

SELECT format('server side, best of %s rounds: login %s us (login+logout %s us, logout %s us); '
			  'wrong secret (counted, fsynced) %s us',
			  :rounds,
			  round((min(us) FILTER (WHERE what = 'login') -
					 min(us) FILTER (WHERE what = 'base'))::numeric, 1),
			  round(min(us) FILTER (WHERE what = 'login')::numeric, 1),
			  round(min(us) FILTER (WHERE what = 'base')::numeric, 1),
			  round(min(us) FILTER (WHERE what = 'wrong')::numeric, 1)) AS result
	FROM r \g (format=unaligned tuples_only)
