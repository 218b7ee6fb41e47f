-- pgTAP: the API-key API's shape, privileges and the SQLSTATE of every
-- refusal.
BEGIN;
SELECT plan(57);

-- Objects and signatures.
SELECT has_table('heliosdb', 'apikey', 'key table exists');
SELECT has_view('heliosdb', 'apikeys', 'apikeys view exists');
SELECT columns_are('heliosdb', 'apikeys',
	ARRAY['key_id', 'name', 'role', 'tenant', 'created_at', 'expires_at',
		  'last_used_at', 'status', 'failed_attempts', 'permissions']);
SELECT col_is_pk('heliosdb', 'apikey', 'key_id', 'key id is the primary key');
SELECT hasnt_column('heliosdb', 'apikey', 'api_key', 'the key itself is not a column');
SELECT function_returns('heliosdb', 'apikey_create', ARRAY['text', 'name', 'text', 'interval'], 'setof record');
SELECT function_returns('heliosdb', 'login_apikey', ARRAY['text', 'boolean'], 'setof record');
SELECT function_returns('heliosdb', 'apikey_revoke', ARRAY['text'], 'void');
SELECT function_returns('heliosdb', 'apikey_rotate', ARRAY['text', 'interval'], 'setof record');
SELECT is_definer('heliosdb', 'apikey_create', ARRAY['text', 'name', 'text', 'interval']);
SELECT is_definer('heliosdb', 'apikey_revoke', ARRAY['text']);
SELECT is_definer('heliosdb', 'apikey_rotate', ARRAY['text', 'interval']);
SELECT isnt_definer('heliosdb', 'login_apikey', ARRAY['text', 'boolean']);
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'heliosdb.login_apikey(text, boolean)'::regprocedure),
		  'u'::"char", 'login_apikey() is parallel unsafe');
SELECT is((SELECT array_agg(DISTINCT s ORDER BY s) FROM pg_proc p, unnest(p.proconfig) s
		   WHERE p.pronamespace = 'heliosdb'::regnamespace AND p.prosecdef
			 AND p.proname LIKE '%apikey%'),
		  ARRAY['search_path=pg_catalog, pg_temp'], 'definer functions pin search_path');

-- Privileges.
SELECT function_privs_are('heliosdb', 'apikey_create', ARRAY['text', 'name', 'text', 'interval'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot create keys');
SELECT function_privs_are('heliosdb', 'apikey_revoke', ARRAY['text'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot revoke keys');
SELECT function_privs_are('heliosdb', 'apikey_rotate', ARRAY['text', 'interval'],
						  'public', ARRAY[]::text[], 'PUBLIC cannot rotate keys');
SELECT function_privs_are('heliosdb', '_apikey_rotate', ARRAY['text', 'interval'],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_apikey_store', ARRAY['text', 'name', 'uuid', 'interval'],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_apikey_generate', ARRAY[]::text[],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_apikey_generate', ARRAY[]::text[],
						  'heliosdb_admin', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_apikey_permissions', ARRAY['name'],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', 'apikey_create', ARRAY['text', 'name', 'text', 'interval'],
						  'heliosdb_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('heliosdb', 'apikey_rotate', ARRAY['text', 'interval'],
						  'heliosdb_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('heliosdb', 'login_apikey', ARRAY['text', 'boolean'],
						  'public', ARRAY['EXECUTE'], 'anyone may log in with a key');
SELECT table_privs_are('heliosdb', 'apikey', 'public', ARRAY[]::text[], 'PUBLIC has no access to key hashes');
SELECT table_privs_are('heliosdb', 'apikey', 'heliosdb_admin', ARRAY[]::text[], 'admins see no key hashes');
SELECT table_privs_are('heliosdb', 'apikeys', 'public', ARRAY[]::text[]);
SELECT table_privs_are('heliosdb', 'apikeys', 'heliosdb_admin', ARRAY['SELECT']);

CREATE ROLE regress_aktap_plain;
CREATE ROLE regress_aktap_admin IN ROLE heliosdb_admin;
SELECT throws_ok($$SET LOCAL ROLE regress_aktap_plain; SELECT * FROM heliosdb.apikey_create('x')$$,
				 '42501', NULL, 'a plain role cannot create keys');
SELECT throws_ok($$SET LOCAL ROLE regress_aktap_plain; SELECT * FROM heliosdb.apikeys$$,
				 '42501', NULL, 'a plain role cannot list keys');
SELECT lives_ok($$SET LOCAL ROLE regress_aktap_admin; SELECT * FROM heliosdb.apikey_create('x')$$,
				'a heliosdb_admin member creates keys');

-- Creation errors.
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_create('')$$, '22023', NULL, 'empty name');
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_create('x', 'regress_aktap_nobody')$$,
				 '42704', 'role "regress_aktap_nobody" does not exist', 'unknown role');
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_create('x', tenant => 'aktap-nowhere')$$,
				 '42704', 'tenant "aktap-nowhere" does not exist', 'unknown tenant');
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_create('x', ttl => '-1 hour')$$,
				 '22023', 'ttl must be positive', 'negative ttl');
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_create('x', ttl => NULL)$$,
				 '22023', 'ttl must not be null', 'null ttl');

-- Logins.  A helper that logs in and out again, so that pgTAP keeps
-- running as the session user.
CREATE FUNCTION pg_temp.login_role(key text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	SELECT l.role INTO r FROM heliosdb.login_apikey(key, true) l;
	PERFORM heliosdb.logout();
	RETURN r;
END
$$;
CREATE TEMP TABLE k AS SELECT * FROM heliosdb.apikey_create('tap', 'heliosdb_service');
SELECT is(pg_temp.login_role((SELECT api_key FROM k)), 'heliosdb_service', 'login with a fresh key');
SELECT is(current_user::text, session_user::text, 'helper logged out again');
SELECT throws_ok($$SELECT * FROM heliosdb.login_apikey('hdb_sk_x')$$,
				 '28000', 'malformed API key', 'malformed key');
SELECT throws_ok($$SELECT * FROM heliosdb.login_apikey(NULL)$$,
				 '28000', 'no API key was given', 'null key');
SELECT throws_ok($$SELECT * FROM heliosdb.login_apikey('hdb_sk_' || repeat('q', 44))$$,
				 '28P01', 'invalid API key', 'unknown key id');
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey('hdb_sk_%s%s')$$,
						(SELECT key_id FROM k), repeat('q', 32)),
				 '28P01', 'invalid API key', 'wrong secret');
CREATE TEMP TABLE e AS SELECT * FROM heliosdb.apikey_create('tap expired');
UPDATE heliosdb.apikey SET expires_at = now() - interval '1 hour',
	created_at = now() - interval '2 hours' WHERE key_id = (SELECT key_id FROM e);
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey(%L)$$, (SELECT api_key FROM e)),
				 '28000', 'API key has expired', 'expired key');
CREATE TEMP TABLE r AS SELECT * FROM heliosdb.apikey_create('tap revoked');
SELECT heliosdb.apikey_revoke((SELECT key_id FROM r));
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey(%L)$$, (SELECT api_key FROM r)),
				 '28000', 'API key has been revoked', 'revoked key');
SELECT throws_ok(format($$SELECT * FROM heliosdb.apikey_rotate(%L)$$, (SELECT key_id FROM r)),
				 '55000', NULL, 'a revoked key cannot be rotated');
SELECT throws_ok($$SELECT * FROM heliosdb.apikey_rotate('aktapnothing')$$,
				 '42704', NULL, 'unknown key cannot be rotated');
SELECT throws_ok($$SELECT heliosdb.apikey_revoke('aktapnothing')$$,
				 '42704', NULL, 'unknown key cannot be revoked');

-- Rotation overlap (without the warning of a key about to expire).
SET LOCAL heliosdb.apikey_expiry_warning = 0;
CREATE TEMP TABLE n AS SELECT * FROM heliosdb.apikey_rotate((SELECT key_id FROM k), '1 hour');
SELECT is(pg_temp.login_role((SELECT api_key FROM k)), 'heliosdb_service', 'old key works during the grace');
SELECT is(pg_temp.login_role((SELECT api_key FROM n)), 'heliosdb_service', 'new key works');
UPDATE heliosdb.apikey SET grace_until = now() - interval '1 second' WHERE key_id = (SELECT key_id FROM k);
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey(%L)$$, (SELECT api_key FROM k)),
				 '28000', 'API key has expired', 'old key refused after the grace');
SELECT is(pg_temp.login_role((SELECT api_key FROM n)), 'heliosdb_service', 'new key still works');

-- Lockout (limit lowered for the test).
SET LOCAL heliosdb.apikey_max_failed_attempts = 2;
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey('hdb_sk_%s%s')$$,
						(SELECT key_id FROM n), repeat('q', 32)), '28P01');
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey('hdb_sk_%s%s')$$,
						(SELECT key_id FROM n), repeat('q', 32)), '28P01', NULL,
				 'the attempt that reaches the limit is still a wrong secret');
SELECT throws_ok(format($$SELECT * FROM heliosdb.login_apikey(%L)$$, (SELECT api_key FROM n)),
				 '28000', 'API key is locked', 'locked key refuses the right secret');
SELECT is((SELECT status FROM heliosdb.apikeys WHERE key_id = (SELECT key_id FROM n)), 'locked');

SELECT * FROM finish();
ROLLBACK;
