-- API keys: creation, the stored form, revocation, rotation, the view and
-- who may manage keys.
\set VERBOSITY terse
SELECT heliosdb.tenant_create('ak-acme') IS NOT NULL AS created;
CREATE ROLE regress_ak_plain;
CREATE ROLE regress_ak_admin IN ROLE heliosdb_admin;
CREATE ROLE regress_ak_super SUPERUSER;

-- Defaults: heliosdb_readonly, no tenant, 90 days.
SELECT * FROM heliosdb.apikey_create('default key') \gset d_
SELECT :'d_api_key' ~ '^hdb_sk_[0-9A-Za-z]{44}$' AS well_formed,
	   :'d_key_id' = substr(:'d_api_key', 8, 12) AS id_is_prefix,
	   :'d_expires_at'::timestamptz - :'d_created_at'::timestamptz = interval '90 days' AS ttl_90_days;
SELECT name, role, tenant, status, failed_attempts, last_used_at
	FROM heliosdb.apikeys WHERE key_id = :'d_key_id';

-- Only the SHA-256 of the key is stored; neither the key nor its secret
-- part appears anywhere in the table.
SELECT key_hash = sha256(convert_to(:'d_api_key', 'UTF8')) AS hash_of_key
	FROM heliosdb.apikey WHERE key_id = :'d_key_id';
SELECT count(*) AS rows_holding_the_secret FROM heliosdb.apikey a
	WHERE strpos(a::text, substr(:'d_api_key', 20)) > 0
	   OR strpos(encode(a.key_hash, 'escape'), substr(:'d_api_key', 20)) > 0;
-- The key is shown once: no column of the view or table can give it back.
SELECT attname FROM pg_attribute
	WHERE attrelid = 'heliosdb.apikeys'::regclass AND attnum > 0 ORDER BY attnum;

-- Keys are distinct and use the whole base62 alphabet.
CREATE TEMP TABLE many AS
	SELECT k.* FROM generate_series(1, 40) i,
		LATERAL heliosdb.apikey_create('many ' || i) k;
SELECT count(DISTINCT api_key) AS keys, count(DISTINCT key_id) AS ids FROM many;
SELECT count(DISTINCT c) = 62 AS all_62_symbols
	FROM many, regexp_split_to_table(substr(api_key, 8), '') c;
DELETE FROM heliosdb.apikey WHERE key_id IN (SELECT key_id FROM many);

-- Role, tenant and lifetime are kept.
SELECT * FROM heliosdb.apikey_create('acme service', 'heliosdb_service', 'ak-acme', '1 hour') \gset s_
SELECT :'s_expires_at'::timestamptz - :'s_created_at'::timestamptz AS ttl;
SELECT name, role, tenant, status FROM heliosdb.apikeys WHERE key_id = :'s_key_id';

-- Bad arguments.
SELECT * FROM heliosdb.apikey_create(NULL);
SELECT * FROM heliosdb.apikey_create('');
SELECT * FROM heliosdb.apikey_create(repeat('x', 201));
SELECT * FROM heliosdb.apikey_create('k', NULL);
SELECT * FROM heliosdb.apikey_create('k', 'regress_ak_nobody');
SELECT * FROM heliosdb.apikey_create('k', 'regress_ak_super');
SELECT * FROM heliosdb.apikey_create('k', tenant => 'ak-nowhere');
SELECT * FROM heliosdb.apikey_create('k', ttl => NULL);
SELECT * FROM heliosdb.apikey_create('k', ttl => '0');
SELECT * FROM heliosdb.apikey_create('k', ttl => '-1 day');
SELECT * FROM heliosdb.apikey_create('k', ttl => '1 month -40 days');

-- Revocation: unknown keys are errors, a second revocation is harmless.
SELECT heliosdb.apikey_revoke('nosuchkey123');
SELECT heliosdb.apikey_revoke(NULL);
SELECT * FROM heliosdb.apikey_create('to revoke') \gset r_
SELECT heliosdb.apikey_revoke(:'r_key_id');
SELECT heliosdb.apikey_revoke(:'r_key_id');
SELECT status FROM heliosdb.apikeys WHERE key_id = :'r_key_id';

-- Rotation: the new key keeps name, role, tenant and lifetime; the old one
-- is "rotating" until the grace ends, which is its new end of life.
SELECT * FROM heliosdb.apikey_rotate(:'s_key_id', '10 minutes') \gset n_
SELECT :'n_key_id' <> :'s_key_id' AS new_id,
	   :'n_api_key' <> :'s_api_key' AS new_key,
	   :'n_expires_at'::timestamptz - :'n_created_at'::timestamptz AS ttl;
SELECT key_id = :'s_key_id' AS is_old, name, role, tenant, status
	FROM heliosdb.apikeys WHERE key_id IN (:'s_key_id', :'n_key_id')
	ORDER BY is_old;
SELECT expires_at = :'n_created_at'::timestamptz + interval '10 minutes' AS ends_with_grace
	FROM heliosdb.apikeys WHERE key_id = :'s_key_id';
SELECT replaced_by = :'n_key_id' AS linked FROM heliosdb.apikey WHERE key_id = :'s_key_id';
-- A rotated, revoked or expired key cannot be rotated (the messages name
-- the random key id: show the SQLSTATE); bad arguments.
\set VERBOSITY sqlstate
SELECT * FROM heliosdb.apikey_rotate(:'s_key_id');
SELECT * FROM heliosdb.apikey_rotate(:'r_key_id');
\set VERBOSITY terse
SELECT * FROM heliosdb.apikey_rotate('nosuchkey123');
SELECT * FROM heliosdb.apikey_rotate(NULL);
SELECT * FROM heliosdb.apikey_rotate(:'n_key_id', '-1 hour');
SELECT * FROM heliosdb.apikey_rotate(:'n_key_id', NULL);
UPDATE heliosdb.apikey SET created_at = now() - interval '2 days',
	expires_at = now() - interval '1 day' WHERE key_id = :'d_key_id';
SELECT status FROM heliosdb.apikeys WHERE key_id = :'d_key_id';
\set VERBOSITY sqlstate
SELECT * FROM heliosdb.apikey_rotate(:'d_key_id');
\set VERBOSITY terse
-- A zero grace cuts the old key off at once.
SELECT * FROM heliosdb.apikey_rotate(:'n_key_id', '0') \gset z_
SELECT status FROM heliosdb.apikeys WHERE key_id = :'n_key_id';

-- Revoking a rotating key ends its grace at once.
SELECT * FROM heliosdb.apikey_create('grace cut') \gset g_
SELECT key_id AS g2_key_id FROM heliosdb.apikey_rotate(:'g_key_id', '1 day') \gset
SELECT heliosdb.apikey_revoke(:'g_key_id');
SELECT status FROM heliosdb.apikeys WHERE key_id = :'g_key_id';

-- Permission sets: the seed's group roles, roles that belong to one or
-- more of them, and other roles (read only).
CREATE ROLE regress_ak_writer IN ROLE heliosdb_user, heliosdb_service;
CREATE ROLE regress_ak_nested IN ROLE regress_ak_writer;
CREATE ROLE regress_ak_other;
CREATE TEMP TABLE perm_keys AS
	SELECT r AS role_name, k.key_id
	FROM unnest(ARRAY['heliosdb_admin', 'heliosdb_user', 'heliosdb_readonly',
					  'heliosdb_service', 'regress_ak_writer',
					  'regress_ak_nested', 'regress_ak_other']) r,
		LATERAL heliosdb.apikey_create('perm ' || r, r::name) k;
SELECT p.role_name, v.permissions
	FROM perm_keys p JOIN heliosdb.apikeys v USING (key_id) ORDER BY 1;
-- Looked up at each login: they follow role membership changes.
REVOKE heliosdb_service FROM regress_ak_writer;
SELECT v.permissions FROM perm_keys p JOIN heliosdb.apikeys v USING (key_id)
	WHERE p.role_name = 'regress_ak_nested';
DELETE FROM heliosdb.apikey WHERE key_id IN (SELECT key_id FROM perm_keys);
DROP ROLE regress_ak_nested, regress_ak_writer, regress_ak_other;

-- Dropping a tenant drops its keys.
SELECT count(*) FROM heliosdb.apikeys WHERE tenant = 'ak-acme';
SELECT heliosdb.tenant_drop('ak-acme');
SELECT count(*) FROM heliosdb.apikeys WHERE tenant = 'ak-acme';

-- Privileges: members of heliosdb_admin manage keys, others may not even
-- see them.
SELECT * FROM heliosdb.apikey_create('for privileges') \gset p_
SET ROLE regress_ak_plain;
SELECT * FROM heliosdb.apikey_create('plain');
SELECT heliosdb.apikey_revoke(:'p_key_id');
SELECT * FROM heliosdb.apikey_rotate(:'p_key_id');
SELECT count(*) FROM heliosdb.apikeys;
SELECT count(*) FROM heliosdb.apikey;
SELECT * FROM heliosdb._apikey_generate();
SELECT count(*) FROM heliosdb._apikey_lockout();
RESET ROLE;
SET ROLE regress_ak_admin;
SELECT key_id IS NOT NULL AS created FROM heliosdb.apikey_create('by admin');
SELECT key_id IS NOT NULL AS rotated FROM heliosdb.apikey_rotate(:'p_key_id');
SELECT heliosdb.apikey_revoke(:'p_key_id');
SELECT name, status FROM heliosdb.apikeys
	WHERE name IN ('by admin', 'for privileges') ORDER BY name, status;
SELECT count(*) FROM heliosdb.apikey;
SELECT * FROM heliosdb._apikey_generate();
RESET ROLE;

DELETE FROM heliosdb.apikey;
DROP ROLE regress_ak_plain, regress_ak_admin, regress_ak_super;
