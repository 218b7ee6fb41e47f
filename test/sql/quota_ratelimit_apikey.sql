-- The per-API-key rate limit: sessions logged in with an API key share one
-- bucket per key, whatever their tenant's own limit; another key has its own.
-- Rates as in quota_ratelimit: 0.001/s (no refill during the test) or high.
\set VERBOSITY terse
SELECT heliosdb.rate_limit_reset();
ALTER SYSTEM SET heliosdb.default_qps_limit = 1000000;
ALTER SYSTEM SET heliosdb.rate_limit_per_apikey = 0.001;
ALTER SYSTEM SET heliosdb.rate_limit_burst = 3;
ALTER SYSTEM SET heliosdb.rate_limit_global = 0;
SELECT pg_reload_conf();
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_sleep(0.02) WHERE current_setting(%L) <> %L',
			  'heliosdb.rate_limit_per_apikey', '0.001')
FROM generate_series(1, 500) \gexec
\o
\set ECHO all
SHOW heliosdb.rate_limit_per_apikey;

CREATE ROLE regress_rlkey_role;
SELECT heliosdb.tenant_create('rlkey-t') IS NOT NULL AS created;
SELECT api_key AS key_one FROM heliosdb.apikey_create('rl-one', 'regress_rlkey_role', 'rlkey-t') \gset
SELECT api_key AS key_two FROM heliosdb.apikey_create('rl-two', 'regress_rlkey_role', 'rlkey-t') \gset

-- Three statements (the burst), then 53400 naming the key, with a hint.
-- (Messages name the random key id: they are checked further down.)
SELECT role, tenant FROM heliosdb.login_apikey(:'key_one');
SELECT 1 AS one;
SELECT 2 AS two;
SELECT 3 AS three;
\set VERBOSITY sqlstate
SELECT 4 AS four;
\set four_error :LAST_ERROR_MESSAGE
\set VERBOSITY terse

-- A new session with the same key shares the empty bucket.
\c -
SELECT role FROM heliosdb.login_apikey(:'key_one');
\set VERBOSITY sqlstate
SELECT 1 AS same_key;
\set VERBOSITY terse

-- Another key of the same tenant has a bucket of its own.
\c -
SELECT role FROM heliosdb.login_apikey(:'key_two');
SELECT 1 AS other_key;

\c -
SELECT :'four_error' = format('rate limit exceeded for API key "%s"', key_id) AS names_key_one
FROM heliosdb.apikeys WHERE name = 'rl-one';
SELECT k.name, s.tokens < 1 AS empty
FROM heliosdb.rate_limit_status s JOIN heliosdb.apikeys k ON k.key_id = s.key
WHERE s.kind = 'apikey' ORDER BY k.name;
\c -
ALTER SYSTEM RESET heliosdb.default_qps_limit;
ALTER SYSTEM RESET heliosdb.rate_limit_per_apikey;
ALTER SYSTEM RESET heliosdb.rate_limit_burst;
ALTER SYSTEM RESET heliosdb.rate_limit_global;
SELECT pg_reload_conf();
SELECT heliosdb.rate_limit_reset();
SELECT heliosdb.tenant_drop('rlkey-t');
DROP ROLE regress_rlkey_role;
