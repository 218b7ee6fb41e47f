-- pgTAP: the tenancy API's shape, privileges and behaviour.
BEGIN;
SELECT plan(34);

-- Objects and signatures.
SELECT has_schema('heliosdb');
SELECT has_table('heliosdb', 'tenant', 'registry table exists');
SELECT has_view('heliosdb', 'tenants', 'tenants view exists');
SELECT columns_are('heliosdb', 'tenants',
	ARRAY['id', 'name', 'storage_quota', 'qps_limit', 'created_at']);
SELECT col_is_pk('heliosdb', 'tenant', 'id', 'tenant id is the primary key');
SELECT function_returns('heliosdb', 'tenant_create', ARRAY['text', 'bigint', 'integer'], 'uuid');
SELECT function_returns('heliosdb', 'tenant_drop', ARRAY['text'], 'void');
SELECT function_returns('heliosdb', 'current_tenant_id', ARRAY[]::text[], 'uuid');
SELECT function_returns('heliosdb', 'current_tenant', ARRAY[]::text[], 'text');
SELECT function_returns('heliosdb', 'current_user_id', ARRAY[]::text[], 'text');
SELECT function_returns('heliosdb', 'set_tenant', ARRAY['text', 'boolean'], 'void');
SELECT function_returns('heliosdb', 'reset_context', ARRAY[]::text[], 'void');
SELECT function_returns('heliosdb', 'enable_tenant_isolation', ARRAY['regclass', 'name'], 'void');
SELECT volatility_is('heliosdb', 'current_tenant_id', ARRAY[]::text[], 'stable');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'heliosdb.current_tenant_id()'::regprocedure),
		  's'::"char", 'current_tenant_id() is parallel safe');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'heliosdb.set_tenant(text, boolean)'::regprocedure),
		  'u'::"char", 'set_tenant() is parallel unsafe');
SELECT is_definer('heliosdb', 'tenant_create', ARRAY['text', 'bigint', 'integer']);
SELECT isnt_definer('heliosdb', 'enable_tenant_isolation', ARRAY['regclass', 'name']);

-- Group roles.
SELECT has_role('heliosdb_admin');
SELECT has_role('heliosdb_user');
SELECT has_role('heliosdb_readonly');
SELECT has_role('heliosdb_service');
SELECT is((SELECT bool_or(rolcanlogin) FROM pg_roles
		   WHERE rolname IN ('heliosdb_admin', 'heliosdb_user', 'heliosdb_readonly', 'heliosdb_service')),
		  false, 'group roles cannot log in');

-- Privileges.
SELECT function_privs_are('heliosdb', 'tenant_create', ARRAY['text', 'bigint', 'integer'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot create tenants');
SELECT function_privs_are('heliosdb', 'tenant_create', ARRAY['text', 'bigint', 'integer'],
						  'heliosdb_admin', ARRAY['EXECUTE']);
SELECT table_privs_are('heliosdb', 'tenant', 'public', ARRAY[]::text[], 'PUBLIC has no access to the registry');
SELECT table_privs_are('heliosdb', 'tenants', 'heliosdb_admin', ARRAY['SELECT']);

-- Behaviour.
SELECT lives_ok($$SELECT heliosdb.tenant_create('tap-a')$$, 'tenant_create works');
SELECT throws_ok($$SELECT heliosdb.tenant_create('tap-a')$$, '23505', NULL, 'duplicate tenant');
SELECT throws_ok($$SELECT heliosdb.tenant_create('TAP')$$, '22023', NULL, 'bad tenant name');
SELECT throws_ok($$SELECT heliosdb.set_tenant('tap-none')$$, '42704', 'tenant "tap-none" does not exist');
SELECT lives_ok($$SELECT heliosdb.set_tenant('tap-a', true)$$, 'set_tenant works');
SELECT is(heliosdb.current_tenant_id(),
		  (SELECT id FROM heliosdb.tenants WHERE name = 'tap-a'),
		  'current_tenant_id() is the registry id');
SELECT is(heliosdb.current_tenant(), 'tap-a', 'current_tenant() names it');

SELECT * FROM finish();
ROLLBACK;
