-- API key logins: success, the context they establish, and every refusal.
\set VERBOSITY terse
SELECT heliosdb.tenant_create('akl-acme') IS NOT NULL AS created;
CREATE ROLE regress_akl_plain;
CREATE ROLE regress_akl_app IN ROLE heliosdb_user;
SELECT * FROM heliosdb.apikey_create('login', 'heliosdb_user', 'akl-acme', '30 days') \gset k_

-- Success: the key's id, tenant, role and end of life; the session acts
-- for them until logout().
SELECT key_id = :'k_key_id' AS same_id, tenant, role,
	   expires_at = :'k_expires_at'::timestamptz AS same_expiry
	FROM heliosdb.login_apikey(:'k_api_key');
SELECT current_user, source, tenant, user_id = :'k_key_id' AS user_is_key,
	   local, expires_at = :'k_expires_at'::timestamptz AS same_expiry
	FROM heliosdb.session_context();
SELECT heliosdb.logout();
SELECT current_user, source FROM heliosdb.session_context();
SELECT last_used_at IS NOT NULL AS used FROM heliosdb.apikeys WHERE key_id = :'k_key_id';

-- local => true ends with the transaction.
BEGIN;
SELECT role FROM heliosdb.login_apikey(:'k_api_key', true);
SELECT current_user, source, local FROM heliosdb.session_context();
COMMIT;
SELECT current_user, source FROM heliosdb.session_context();
SELECT * FROM heliosdb.login_apikey(:'k_api_key', NULL);

-- A login in a transaction that rolls back leaves nothing behind.
BEGIN;
SELECT role FROM heliosdb.login_apikey(:'k_api_key');
ROLLBACK;
SELECT current_user, source FROM heliosdb.session_context();

-- Keys without tenant; a role that belongs to a seed group.
SELECT * FROM heliosdb.apikey_create('app', 'regress_akl_app') \gset a_
SELECT tenant, role FROM heliosdb.login_apikey(:'a_api_key', true);

-- Malformed keys are refused without being echoed.
SELECT * FROM heliosdb.login_apikey(NULL);
SELECT * FROM heliosdb.login_apikey('');
SELECT * FROM heliosdb.login_apikey('hdb_sk_tooshort');
SELECT * FROM heliosdb.login_apikey('hdb_pk_' || substr(:'k_api_key', 8));
SELECT * FROM heliosdb.login_apikey(:'k_api_key' || 'x');
SELECT * FROM heliosdb.login_apikey(substr(:'k_api_key', 1, 50) || '-');
SELECT * FROM heliosdb.login_apikey(substr(:'k_api_key', 1, 50) || 'é');

-- A wrong secret and an unknown key id get the same answer.
SELECT * FROM heliosdb.login_apikey('hdb_sk_' || :'k_key_id' || repeat('A', 32));
SELECT * FROM heliosdb.login_apikey('hdb_sk_' || repeat('Z', 44));
SELECT failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';
-- The right secret clears the count.
SELECT role FROM heliosdb.login_apikey(:'k_api_key', true);
SELECT failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';

-- Revoked.
SELECT * FROM heliosdb.apikey_create('revoked') \gset r_
SELECT heliosdb.apikey_revoke(:'r_key_id');
SELECT * FROM heliosdb.login_apikey(:'r_api_key');

-- Expired.
SELECT * FROM heliosdb.apikey_create('expired') \gset e_
UPDATE heliosdb.apikey SET created_at = now() - interval '2 days',
	expires_at = now() - interval '1 second' WHERE key_id = :'e_key_id';
SELECT * FROM heliosdb.login_apikey(:'e_api_key');

-- Rotation: both keys work during the grace, the old one not after it.
SELECT * FROM heliosdb.apikey_rotate(:'k_key_id', '1 hour') \gset n_
SELECT key_id = :'k_key_id' AS old_key, tenant, role
	FROM heliosdb.login_apikey(:'k_api_key', true);
SELECT key_id = :'n_key_id' AS new_key, tenant, role
	FROM heliosdb.login_apikey(:'n_api_key', true);
SELECT expires_at = :'n_created_at'::timestamptz + interval '1 hour' AS old_ends_with_grace
	FROM heliosdb.login_apikey(:'k_api_key', true);
UPDATE heliosdb.apikey SET grace_until = now() - interval '1 second'
	WHERE key_id = :'k_key_id';
SELECT * FROM heliosdb.login_apikey(:'k_api_key');
SELECT role FROM heliosdb.login_apikey(:'n_api_key', true);

-- A key about to expire warns.
SELECT * FROM heliosdb.apikey_create('short', ttl => '1 day') \gset s_
SELECT role FROM heliosdb.login_apikey(:'s_api_key', true);
SET heliosdb.apikey_expiry_warning = '1h';
SELECT role FROM heliosdb.login_apikey(:'s_api_key', true);
SET heliosdb.apikey_expiry_warning = 0;
SELECT * FROM heliosdb.apikey_create('short', ttl => '1 minute') \gset s_
SELECT role FROM heliosdb.login_apikey(:'s_api_key', true);
RESET heliosdb.apikey_expiry_warning;

-- The key's role must still exist, must not be a superuser, and the
-- session user must be allowed to become it.
CREATE ROLE regress_akl_gone;
SELECT * FROM heliosdb.apikey_create('gone', 'regress_akl_gone') \gset g_
DROP ROLE regress_akl_gone;
SELECT * FROM heliosdb.login_apikey(:'g_api_key');
CREATE ROLE regress_akl_promoted;
SELECT * FROM heliosdb.apikey_create('promoted', 'regress_akl_promoted') \gset p_
ALTER ROLE regress_akl_promoted SUPERUSER;
SELECT * FROM heliosdb.login_apikey(:'p_api_key');
SET SESSION AUTHORIZATION regress_akl_plain;
SELECT * FROM heliosdb.login_apikey(:'a_api_key');
SELECT current_user, source FROM heliosdb.session_context();
RESET SESSION AUTHORIZATION;

-- Any role may log in with a key: the function is open to PUBLIC and
-- reads the key table as its owner.
GRANT regress_akl_app TO regress_akl_plain;
SET SESSION AUTHORIZATION regress_akl_plain;
SELECT role FROM heliosdb.login_apikey(:'a_api_key');
SELECT current_user, source FROM heliosdb.session_context();
SELECT heliosdb.logout();
SELECT current_user;
RESET SESSION AUTHORIZATION;

-- A hostile search_path in a fresh session (whose login plans are not
-- prepared yet): an "=" on text that is always true changes nothing.
CREATE SCHEMA regress_akl_evil;
CREATE FUNCTION regress_akl_evil.texteq_always(text, text) RETURNS boolean
	LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR regress_akl_evil.= (LEFTARG = text, RIGHTARG = text,
	FUNCTION = regress_akl_evil.texteq_always);
\c
\set VERBOSITY terse
SET search_path = regress_akl_evil, pg_catalog, public;
SELECT 'a'::text = 'b'::text AS evil_operator_in_effect;
SELECT * FROM heliosdb.login_apikey('hdb_sk_' || repeat('Z', 44));
SELECT role FROM heliosdb.login_apikey(:'a_api_key', true);
RESET search_path;
DROP SCHEMA regress_akl_evil CASCADE;

-- last_used_at is written, at most once a minute, and not by a read-only
-- transaction.
SELECT * FROM heliosdb.apikey_create('ro') \gset o_
BEGIN READ ONLY;
SELECT role FROM heliosdb.login_apikey(:'o_api_key', true);
COMMIT;
SELECT last_used_at IS NULL AS not_written FROM heliosdb.apikeys WHERE key_id = :'o_key_id';
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT role FROM heliosdb.login_apikey(:'o_api_key', true);
COMMIT;
SELECT last_used_at IS NOT NULL AS written FROM heliosdb.apikeys WHERE key_id = :'o_key_id';

DELETE FROM heliosdb.apikey;
SELECT heliosdb.tenant_drop('akl-acme');
DROP ROLE regress_akl_plain, regress_akl_app, regress_akl_promoted;
