-- Authentication: API keys.
--
-- A key is "hdb_sk_" followed by 44 base62 characters: the first 12 are the
-- key id (not secret, used to find the row), the other 32 the secret.  The
-- table keeps the SHA-256 of the whole key, never the key itself.  Lockout
-- state (failed attempts, locks) lives in shared memory and in a state file
-- of the data directory, not here, because a failed login rolls back its
-- transaction (see src/auth/apikey_lockout.c).

CREATE TABLE @extschema@.apikey (
	key_id			text COLLATE "C" NOT NULL,
	name			text NOT NULL,
	key_hash		bytea NOT NULL,
	role			name NOT NULL,
	tenant_id		uuid,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at		timestamptz NOT NULL,
	last_used_at	timestamptz,
	revoked_at		timestamptz,
	grace_until		timestamptz,
	replaced_by		text COLLATE "C",
	CONSTRAINT apikey_pkey PRIMARY KEY (key_id),
	CONSTRAINT apikey_key_id_check CHECK (key_id ~ '^[0-9A-Za-z]{12}$'),
	CONSTRAINT apikey_key_hash_check CHECK (pg_catalog.length(key_hash) = 32),
	CONSTRAINT apikey_tenant_fkey FOREIGN KEY (tenant_id)
		REFERENCES @extschema@.tenant (id) ON DELETE CASCADE
);
CREATE INDEX apikey_tenant_id_idx ON @extschema@.apikey (tenant_id);
REVOKE ALL ON @extschema@.apikey FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.apikey', '');

-- Connection-time login (startup option heliosdb.api_key) checks keys
-- against a copy in shared memory, as the connection hook cannot read this
-- table.  The copy of a database's keys is refreshed when a transaction
-- that changed them commits (see src/auth/apikey_conn.c).
CREATE FUNCTION @extschema@._apikey_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'hdb_apikey_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._apikey_changed() FROM PUBLIC;
-- Row triggers mark a transaction that changed keys (none fire when a
-- tenant without keys is dropped); TRUNCATE marks it too; the statement
-- trigger after INSERT checks that the keys still fit.
CREATE TRIGGER apikey_changed
	AFTER INSERT OR DELETE
		OR UPDATE OF key_id, key_hash, role, tenant_id, expires_at,
					 revoked_at, grace_until, replaced_by
	ON @extschema@.apikey
	FOR EACH ROW EXECUTE FUNCTION @extschema@._apikey_changed();
CREATE TRIGGER apikey_truncated
	AFTER TRUNCATE ON @extschema@.apikey
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._apikey_changed();
CREATE TRIGGER apikey_inserted
	AFTER INSERT ON @extschema@.apikey
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._apikey_changed();

-- Refresh that copy at commit by hand: after a restore that bypassed the
-- trigger, or when the state file was lost.
CREATE FUNCTION @extschema@.apikey_sync()
RETURNS void
AS 'MODULE_PATHNAME', 'hdb_apikey_sync'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@.apikey_sync() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.apikey_sync() TO heliosdb_admin;
-- Forget keys a former installation of the extension in this database
-- left in the copy.
SELECT @extschema@.apikey_sync();

-- A fresh key from the CSPRNG, its id and its hash.
CREATE FUNCTION @extschema@._apikey_generate(OUT api_key text, OUT key_id text,
											 OUT key_hash bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'hdb_apikey_generate'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@._apikey_generate() FROM PUBLIC;

-- Failed attempts and locks of this database's keys, from shared memory.
CREATE FUNCTION @extschema@._apikey_lockout(OUT key_id text,
											OUT failed_attempts integer,
											OUT locked_until timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hdb_apikey_lockout'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION @extschema@._apikey_lockout() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._apikey_lockout() TO heliosdb_admin;

-- Permission words a key acting as a role gets (NULL: no key can act so).
CREATE FUNCTION @extschema@._apikey_permissions(role name)
RETURNS text[]
AS 'MODULE_PATHNAME', 'hdb_apikey_permissions'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._apikey_permissions(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._apikey_permissions(name) TO heliosdb_admin;

-- Check the arguments shared by apikey_create() and apikey_rotate() and
-- store a new key; returns what the caller is shown once.
CREATE FUNCTION @extschema@._apikey_store(name text, role name,
										  tenant_id uuid, ttl interval,
										  OUT api_key text, OUT key_id text,
										  OUT created_at timestamptz,
										  OUT expires_at timestamptz)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k record;
BEGIN
	IF ttl IS NULL THEN
		RAISE EXCEPTION 'ttl must not be null'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Every API key expires.';
	END IF;
	created_at := pg_catalog.now();
	expires_at := created_at + ttl;
	IF expires_at <= created_at THEN
		RAISE EXCEPTION 'ttl must be positive'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO k FROM @extschema@._apikey_generate();
	INSERT INTO @extschema@.apikey (key_id, name, key_hash, role, tenant_id,
									created_at, expires_at)
		VALUES (k.key_id, _apikey_store.name, k.key_hash, _apikey_store.role,
				_apikey_store.tenant_id, _apikey_store.created_at,
				_apikey_store.expires_at);
	api_key := k.api_key;
	key_id := k.key_id;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._apikey_store(text, name, uuid, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.apikey_create(name text,
										  role name DEFAULT 'heliosdb_readonly',
										  tenant text DEFAULT NULL,
										  ttl interval DEFAULT '90 days')
RETURNS TABLE (api_key text, key_id text, created_at timestamptz,
			   expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tid uuid;
	super boolean;
BEGIN
	IF name IS NULL OR pg_catalog.length(name) = 0 THEN
		RAISE EXCEPTION 'API key name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.length(name) > 200 THEN
		RAISE EXCEPTION 'API key name is too long'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Names are at most 200 characters.';
	END IF;
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT ro.rolsuper INTO super FROM pg_catalog.pg_roles ro
		WHERE ro.rolname = apikey_create.role;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object';
	END IF;
	IF super THEN
		RAISE EXCEPTION 'API keys cannot act as a superuser role'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Role "%s" is a superuser.', role);
	END IF;
	IF tenant IS NOT NULL THEN
		SELECT t.id INTO tid FROM @extschema@.tenant t
			WHERE t.name = apikey_create.tenant;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'tenant "%" does not exist', tenant
				USING ERRCODE = 'undefined_object';
		END IF;
	END IF;
	RETURN QUERY SELECT * FROM @extschema@._apikey_store(name, role, tid, ttl);
END
$$;

CREATE FUNCTION @extschema@.apikey_revoke(key_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF key_id IS NULL THEN
		RAISE EXCEPTION 'key id must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Revoking twice keeps the first revocation time.
	UPDATE @extschema@.apikey a
		SET revoked_at = COALESCE(a.revoked_at, pg_catalog.now())
		WHERE a.key_id = apikey_revoke.key_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'API key "%" does not exist', key_id
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

-- Rotation without downtime: a new key with the old one's name, role,
-- tenant and lifetime; the old key keeps working until the grace ends.
-- PL/pgSQL cannot take an argument and a result column of the same name
-- (key_id), so apikey_rotate() is a SQL wrapper around _apikey_rotate().
CREATE FUNCTION @extschema@._apikey_rotate(old_key_id text, grace interval)
RETURNS TABLE (api_key text, key_id text, created_at timestamptz,
			   expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	old record;
	r record;
BEGIN
	IF old_key_id IS NULL THEN
		RAISE EXCEPTION 'key id must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF grace IS NULL OR pg_catalog.now() + grace < pg_catalog.now() THEN
		RAISE EXCEPTION 'grace must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The row lock orders a rotation after a concurrent revocation or
	-- rotation of the same key, whose result it then sees.
	SELECT a.* INTO old FROM @extschema@.apikey a
		WHERE a.key_id = old_key_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'API key "%" does not exist', old_key_id
			USING ERRCODE = 'undefined_object';
	END IF;
	IF old.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'cannot rotate API key "%"', old.key_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The key has been revoked.';
	END IF;
	IF old.replaced_by IS NOT NULL THEN
		RAISE EXCEPTION 'cannot rotate API key "%"', old.key_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('The key was already replaced by key "%s".',
											 old.replaced_by),
				  HINT = 'Rotate the replacement instead.';
	END IF;
	IF old.expires_at <= pg_catalog.now() THEN
		RAISE EXCEPTION 'cannot rotate API key "%"', old.key_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The key has expired.',
				  HINT = 'Create a new key with heliosdb.apikey_create().';
	END IF;

	SELECT * INTO r FROM @extschema@._apikey_store(old.name, old.role,
												   old.tenant_id,
												   old.expires_at - old.created_at);
	UPDATE @extschema@.apikey a
		SET grace_until = pg_catalog.now() + grace, replaced_by = r.key_id
		WHERE a.key_id = old.key_id;
	RETURN QUERY SELECT r.api_key, r.key_id, r.created_at, r.expires_at;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._apikey_rotate(text, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.apikey_rotate(key_id text,
										  grace interval DEFAULT '1 day')
RETURNS TABLE (api_key text, key_id text, created_at timestamptz,
			   expires_at timestamptz)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM @extschema@._apikey_rotate($1, $2)
$$;

REVOKE ALL ON FUNCTION @extschema@.apikey_create(text, name, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.apikey_revoke(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.apikey_rotate(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.apikey_create(text, name, text, interval) TO heliosdb_admin;
GRANT EXECUTE ON FUNCTION @extschema@.apikey_revoke(text) TO heliosdb_admin;
GRANT EXECUTE ON FUNCTION @extschema@.apikey_rotate(text, interval) TO heliosdb_admin;

-- Not SECURITY DEFINER: a login switches role, which a security-definer
-- function may not do.  The C function reads the key table as its owner.
CREATE FUNCTION @extschema@.login_apikey(api_key text, local boolean DEFAULT false)
RETURNS TABLE (key_id text, tenant text, role name, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'hdb_login_apikey'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Keys without secrets or hashes.  expires_at is when the key stops
-- working: the end of the grace period for a rotated key; permissions are
-- the words a login with the key gets now (from its role's memberships).
CREATE VIEW @extschema@.apikeys AS
	SELECT a.key_id, a.name, a.role, t.name AS tenant, a.created_at,
		   LEAST(a.expires_at, a.grace_until) AS expires_at,
		   a.last_used_at,
		   CASE
			   WHEN a.revoked_at IS NOT NULL THEN 'revoked'
			   WHEN LEAST(a.expires_at, a.grace_until) <= pg_catalog.now()
				   THEN 'expired'
			   WHEN l.locked_until > pg_catalog.now() THEN 'locked'
			   WHEN a.replaced_by IS NOT NULL THEN 'rotating'
			   ELSE 'active'
		   END AS status,
		   COALESCE(l.failed_attempts, 0) AS failed_attempts,
		   @extschema@._apikey_permissions(a.role) AS permissions
	FROM @extschema@.apikey a
		LEFT JOIN @extschema@.tenant t ON t.id = a.tenant_id
		LEFT JOIN @extschema@._apikey_lockout() l ON l.key_id = a.key_id;
REVOKE ALL ON @extschema@.apikeys FROM PUBLIC;
GRANT SELECT ON @extschema@.apikeys TO heliosdb_admin;
