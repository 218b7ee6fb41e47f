-- pgTAP: the quota API's shape, privileges and settings, and the registry
-- side of tenant_set_quota().
BEGIN;
SELECT plan(48);

SELECT function_returns('heliosdb', 'tenant_set_quota', ARRAY['text', 'bigint', 'integer'], 'void');
SELECT is_definer('heliosdb', 'tenant_set_quota', ARRAY['text', 'bigint', 'integer']);
SELECT function_returns('heliosdb', 'unban', ARRAY['inet'], 'boolean');
SELECT function_returns('heliosdb', 'rate_limit_reset', ARRAY[]::text[], 'void');
SELECT has_view('heliosdb', 'rate_limit_status', 'rate_limit_status view exists');
SELECT columns_are('heliosdb', 'rate_limit_status',
	ARRAY['kind', 'key', 'rate', 'burst', 'tokens', 'allowed', 'rejected',
		  'violations', 'banned_until', 'last_seen']);
SELECT is((SELECT proconfig FROM pg_proc
		   WHERE oid = 'heliosdb.tenant_set_quota(text, bigint, integer)'::regprocedure),
		  ARRAY['search_path=pg_catalog, pg_temp'], 'tenant_set_quota pins search_path');

-- Privileges: administrators only.
SELECT function_privs_are('heliosdb', 'tenant_set_quota', ARRAY['text', 'bigint', 'integer'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot set quotas');
SELECT function_privs_are('heliosdb', 'tenant_set_quota', ARRAY['text', 'bigint', 'integer'],
						  'heliosdb_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('heliosdb', 'unban', ARRAY['inet'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot unban');
SELECT function_privs_are('heliosdb', 'unban', ARRAY['inet'],
						  'heliosdb_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('heliosdb', 'rate_limit_reset', ARRAY[]::text[],
						  'public', ARRAY[]::text[], 'PUBLIC cannot reset rate limits');
SELECT table_privs_are('heliosdb', 'rate_limit_status', 'public', ARRAY[]::text[],
					   'PUBLIC cannot see rate limits');
SELECT table_privs_are('heliosdb', 'rate_limit_status', 'heliosdb_admin', ARRAY['SELECT']);

-- Settings: limits reload on SIGHUP, the table size needs a restart.
SELECT is((SELECT context FROM pg_settings WHERE name = 'heliosdb.default_qps_limit'),
		  'sighup', 'default_qps_limit reloads on SIGHUP');
SELECT is((SELECT context FROM pg_settings WHERE name = 'heliosdb.rate_limit_max_entries'),
		  'postmaster', 'rate_limit_max_entries is fixed at start');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'heliosdb.rate_limit_per_apikey'),
		  '1000', 'per-API-key default');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'heliosdb.ban_duration'),
		  '60', 'ban duration default');
SELECT throws_ok($$SET heliosdb.rate_limit_per_ip = 1$$, '55P02', NULL,
				 'limits cannot be changed by a session');

-- tenant_set_quota() writes the registry and checks its arguments.
SELECT lives_ok($$SELECT heliosdb.tenant_create('tap-q')$$, 'tenant created');
SELECT lives_ok($$SELECT heliosdb.tenant_set_quota('tap-q', 1048576, 25)$$, 'quota set');
SELECT results_eq($$SELECT storage_quota, qps_limit FROM heliosdb.tenants WHERE name = 'tap-q'$$,
				  $$VALUES (1048576::bigint, 25)$$, 'registry holds the new limits');
SELECT lives_ok($$SELECT heliosdb.tenant_set_quota('tap-q', NULL, NULL)$$, 'limits back to defaults');
SELECT results_eq($$SELECT storage_quota, qps_limit FROM heliosdb.tenants WHERE name = 'tap-q'$$,
				  $$VALUES (NULL::bigint, NULL::integer)$$, 'NULL means the defaults');
SELECT throws_ok($$SELECT heliosdb.tenant_set_quota('tap-none', 1, 1)$$, '42704',
				 'tenant "tap-none" does not exist');
SELECT throws_ok($$SELECT heliosdb.tenant_set_quota('tap-q', -5, 1)$$, '22023',
				 'storage quota must not be negative');
SELECT throws_ok($$SELECT heliosdb.tenant_set_quota('tap-q', 1, -1)$$, '22023',
				 'QPS limit must be positive');

-- unban() of an address that is not banned, and of a network.
SELECT is(heliosdb.unban('192.0.2.1'), false, 'unknown address was not banned');
SELECT is(heliosdb.unban('2001:db8::1'), false, 'IPv6 address was not banned');
SELECT throws_ok($$SELECT heliosdb.unban('192.0.2.0/24')$$, '22023', 'cannot unban a network');

-- The benchmark helper measures and leaves no entry behind.
SELECT cmp_ok(heliosdb._rate_limit_bench(1000), '>', 0::float8, 'bench helper measures a cost');
SELECT is((SELECT count(*) FROM heliosdb.rate_limit_status WHERE kind = 'bench'), 0::bigint,
		  'bench helper removes its entry');
SELECT throws_ok($$SELECT heliosdb._rate_limit_bench(0)$$, '22023', NULL,
				 'bench helper checks its argument');

-- Storage quotas: shape, privileges, behaviour.
SELECT has_table('heliosdb', 'tenant_schema', 'tenant_schema table exists');
SELECT col_is_pk('heliosdb', 'tenant_schema', 'schema_name', 'a schema belongs to one tenant');
SELECT fk_ok('heliosdb', 'tenant_schema', 'tenant', 'heliosdb', 'tenant', 'name');
SELECT function_returns('heliosdb', 'tenant_add_schema', ARRAY['text', 'name'], 'void');
SELECT function_returns('heliosdb', 'tenant_remove_schema', ARRAY['text', 'name'], 'void');
SELECT function_returns('heliosdb', 'quota_refresh', ARRAY[]::text[], 'integer');
SELECT is_definer('heliosdb', 'quota_refresh', ARRAY[]::text[]);
SELECT columns_are('heliosdb', 'tenant_usage',
	ARRAY['tenant', 'used_bytes', 'quota_bytes', 'percent', 'refreshed_at']);
SELECT table_privs_are('heliosdb', 'tenant_usage', 'public', ARRAY[]::text[],
					   'PUBLIC cannot see usage');
SELECT function_privs_are('heliosdb', 'quota_refresh', ARRAY[]::text[],
						  'heliosdb_admin', ARRAY['EXECUTE']);

CREATE SCHEMA tap_q_data;
CREATE TABLE tap_q_data.t AS SELECT g FROM generate_series(1, 1000) g;
SELECT lives_ok($$SELECT heliosdb.tenant_add_schema('tap-q', 'tap_q_data')$$, 'schema added');
SELECT ok(heliosdb.quota_refresh() >= 1, 'quota_refresh measures tenants');
SELECT is((SELECT used_bytes FROM heliosdb.tenant_usage WHERE tenant = 'tap-q'),
		  pg_total_relation_size('tap_q_data.t'), 'usage is the size of the schema''s tables');
SELECT lives_ok($$SELECT heliosdb.tenant_set_quota('tap-q', 100, NULL)$$, 'tiny quota');
SELECT throws_ok($$INSERT INTO tap_q_data.t VALUES (1)$$, '53100', NULL,
				 'insert over quota is refused');

SELECT * FROM finish();
ROLLBACK;
