-- Statement rate limits: per-tenant buckets, the global bucket, nesting,
-- exemptions, live limit changes, status view, privileges.
--
-- Limits are PGC_SIGHUP settings: the test changes them with ALTER SYSTEM
-- and waits (statement by statement, up to 10 s, as a backend reloads its
-- configuration between statements) until this session sees them.  Rates
-- are tiny (0.001/s: no refill during the test) or huge (1e6/s: always
-- refilled), so that outcomes do not depend on timing.
\set VERBOSITY terse
SELECT heliosdb.rate_limit_reset();
CREATE ROLE regress_quota_app;
CREATE ROLE regress_quota_exempt;
CREATE ROLE regress_quota_vip IN ROLE regress_quota_exempt;
SELECT heliosdb.tenant_create('quota-a') IS NOT NULL AS created;
SELECT heliosdb.tenant_create('quota-b') IS NOT NULL AS created;
SELECT heliosdb.tenant_create('quota-c') IS NOT NULL AS created;
CREATE FUNCTION public.regress_quota_nested() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	n int := 0;
BEGIN
	FOR i IN 1..10 LOOP
		EXECUTE 'SELECT 1';
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION public.regress_quota_nested() TO regress_quota_app;

-- Defaults and contexts.
SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('heliosdb.default_qps_limit', 'heliosdb.rate_limit_per_apikey',
			   'heliosdb.rate_limit_per_ip', 'heliosdb.rate_limit_global',
			   'heliosdb.rate_limit_burst', 'heliosdb.rate_limit_exempt_roles',
			   'heliosdb.rate_limit_max_entries', 'heliosdb.ban_after_violations',
			   'heliosdb.ban_duration', 'heliosdb.connection_rate_per_ip')
ORDER BY name;

-- Bad values are refused.
ALTER SYSTEM SET heliosdb.rate_limit_burst = 0;
ALTER SYSTEM SET heliosdb.default_qps_limit = -1;
ALTER SYSTEM SET heliosdb.rate_limit_exempt_roles = 'a,,b';
SET heliosdb.rate_limit_global = 1;

ALTER SYSTEM SET heliosdb.default_qps_limit = 0.001;
ALTER SYSTEM SET heliosdb.rate_limit_burst = 3;
ALTER SYSTEM SET heliosdb.rate_limit_global = 0;
ALTER SYSTEM SET heliosdb.rate_limit_exempt_roles = 'regress_quota_exempt';
SELECT pg_reload_conf();
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_sleep(0.02) WHERE current_setting(%L) <> %L',
			  'heliosdb.rate_limit_exempt_roles', 'regress_quota_exempt')
FROM generate_series(1, 500) \gexec
\o
\set ECHO all
SHOW heliosdb.default_qps_limit;
SHOW heliosdb.rate_limit_burst;
SHOW heliosdb.rate_limit_exempt_roles;

-- Superusers are exempt: no bucket is even created.
SELECT heliosdb.set_tenant('quota-a');
SELECT 1 AS su1;
SELECT 2 AS su2;
SELECT 3 AS su3;
SELECT 4 AS su4;
SELECT count(*) AS tenant_buckets FROM heliosdb.rate_limit_status
WHERE kind = 'tenant';

-- A plain role acting for quota-a gets 3 statements (the burst), then 53400.
-- Utility statements count; transaction control does not.
SET ROLE regress_quota_app;
SELECT 1 AS a1;
SHOW work_mem;
SELECT 3 AS a3;
SELECT 4 AS a4;
\echo :LAST_ERROR_SQLSTATE
SHOW work_mem;
BEGIN;
SELECT 5 AS a5;
ROLLBACK;
RESET ROLE;
\c -

-- Another tenant has its own bucket.
SELECT heliosdb.set_tenant('quota-b');
SET ROLE regress_quota_app;
SELECT 'b' AS b1;
\c -

-- A function, a DO block and EXPLAIN ANALYZE count once however many
-- statements run inside them.
SELECT heliosdb.set_tenant('quota-c');
SET ROLE regress_quota_app;
SELECT public.regress_quota_nested() AS nested;
DO $$ BEGIN FOR i IN 1..10 LOOP PERFORM 1; EXECUTE 'SELECT 1'; END LOOP; END $$;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT public.regress_quota_nested();
SELECT 'over' AS c4;
\c -

SELECT kind, key, rate, burst, floor(tokens) AS tokens, allowed, rejected,
	   violations, banned_until, last_seen IS NOT NULL AS seen
FROM heliosdb.rate_limit_status ORDER BY kind, key;

-- tenant_set_quota() changes a tenant's limit for every session once it
-- commits: quota-a gets a huge rate and so refills between statements.
SELECT heliosdb.tenant_set_quota('quota-a', NULL, 1000000);
SELECT name, storage_quota, qps_limit FROM heliosdb.tenants
WHERE name = 'quota-a';
SELECT heliosdb.set_tenant('quota-a');
SET ROLE regress_quota_app;
SELECT 1 AS r1;
SELECT 2 AS r2;
SELECT 3 AS r3;
SELECT 4 AS r4;
SELECT 5 AS r5;
SELECT 6 AS r6;
RESET ROLE;
SELECT key, rate, allowed, rejected FROM heliosdb.rate_limit_status
WHERE kind = 'tenant' AND key = 'quota-a';
SELECT heliosdb.reset_context();

-- The global limit applies to every limited session, with or without a
-- tenant; members of heliosdb.rate_limit_exempt_roles are exempt.
ALTER SYSTEM SET heliosdb.rate_limit_global = 0.001;
SELECT pg_reload_conf();
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_sleep(0.02) WHERE current_setting(%L) <> %L',
			  'heliosdb.rate_limit_global', '0.001')
FROM generate_series(1, 500) \gexec
\o
\set ECHO all
SHOW heliosdb.rate_limit_global;
SET ROLE regress_quota_vip;
SELECT 1 AS vip1;
SELECT 2 AS vip2;
SELECT 3 AS vip3;
SELECT 4 AS vip4;
RESET ROLE;
SET ROLE regress_quota_app;
SELECT 1 AS g1;
SELECT 2 AS g2;
SELECT 3 AS g3;
SELECT 4 AS g4;
\c -
SELECT kind, rate, burst, floor(tokens) AS tokens, allowed, rejected
FROM heliosdb.rate_limit_status WHERE kind = 'global';

-- Limits back to their defaults.
ALTER SYSTEM RESET heliosdb.default_qps_limit;
ALTER SYSTEM RESET heliosdb.rate_limit_burst;
ALTER SYSTEM RESET heliosdb.rate_limit_global;
ALTER SYSTEM RESET heliosdb.rate_limit_exempt_roles;
SELECT pg_reload_conf();
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_sleep(0.02) WHERE current_setting(%L) <> %L',
			  'heliosdb.rate_limit_burst', '200')
FROM generate_series(1, 500) \gexec
\o
\set ECHO all
SHOW heliosdb.rate_limit_burst;
SHOW heliosdb.rate_limit_global;

-- Bad arguments.
SELECT heliosdb.tenant_set_quota('quota-none', NULL, 10);
SELECT heliosdb.tenant_set_quota(NULL, NULL, 10);
SELECT heliosdb.tenant_set_quota('quota-a', -1, 10);
SELECT heliosdb.tenant_set_quota('quota-a', NULL, 0);
SELECT heliosdb.unban('10.0.0.0/8');
SELECT heliosdb.unban('10.1.2.3');
SELECT heliosdb.unban('::ffff:10.1.2.3');
SELECT heliosdb.unban(NULL);

-- Only administrators see and change limits.
SET ROLE regress_quota_app;
SELECT * FROM heliosdb.rate_limit_status;
SELECT heliosdb.tenant_set_quota('quota-a', NULL, 10);
SELECT heliosdb.rate_limit_reset();
SELECT heliosdb.unban('10.1.2.3');
RESET ROLE;

-- rate_limit_reset() forgets every bucket.
SELECT heliosdb.rate_limit_reset();
SELECT kind, allowed, rejected FROM heliosdb.rate_limit_status;

DROP FUNCTION public.regress_quota_nested();
SELECT heliosdb.tenant_drop(t) FROM unnest(ARRAY['quota-a', 'quota-b', 'quota-c']) t;
DROP ROLE regress_quota_vip;
DROP ROLE regress_quota_exempt;
DROP ROLE regress_quota_app;
