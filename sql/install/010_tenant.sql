-- Tenancy: registry, session security context, tenant isolation.

CREATE TABLE @extschema@.tenant (
	id				uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	name			text COLLATE "C" NOT NULL,
	storage_quota	bigint,
	qps_limit		integer,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT tenant_pkey PRIMARY KEY (id),
	CONSTRAINT tenant_name_key UNIQUE (name),
	CONSTRAINT tenant_name_check CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	CONSTRAINT tenant_storage_quota_check CHECK (storage_quota >= 0),
	CONSTRAINT tenant_qps_limit_check CHECK (qps_limit > 0)
);
REVOKE ALL ON @extschema@.tenant FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tenant', '');

CREATE FUNCTION @extschema@._tenant_registry_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'hdb_tenant_registry_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._tenant_registry_changed() FROM PUBLIC;

CREATE TRIGGER tenant_registry_changed
	AFTER UPDATE OR DELETE OR TRUNCATE ON @extschema@.tenant
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();

CREATE VIEW @extschema@.tenants AS
	SELECT id, name, storage_quota, qps_limit, created_at
	FROM @extschema@.tenant;
REVOKE ALL ON @extschema@.tenants FROM PUBLIC;
GRANT SELECT ON @extschema@.tenants TO heliosdb_admin;

CREATE FUNCTION @extschema@.tenant_create(name text,
										  storage_quota bigint DEFAULT NULL,
										  qps_limit integer DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id uuid;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'tenant name must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid tenant name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Tenant names are 1 to 63 characters of a-z, 0-9, "_" and "-", starting with a letter or digit.';
	END IF;
	IF storage_quota < 0 THEN
		RAISE EXCEPTION 'storage quota must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF qps_limit <= 0 THEN
		RAISE EXCEPTION 'QPS limit must be positive'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO @extschema@.tenant (name, storage_quota, qps_limit)
		VALUES (tenant_create.name, tenant_create.storage_quota,
				tenant_create.qps_limit)
		RETURNING id INTO new_id;
	RETURN new_id;
EXCEPTION
	WHEN unique_violation THEN
		RAISE EXCEPTION 'tenant "%" already exists', name
			USING ERRCODE = 'unique_violation';
END
$$;

CREATE FUNCTION @extschema@.tenant_drop(name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'tenant name must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	DELETE FROM @extschema@.tenant t WHERE t.name = tenant_drop.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.tenant_create(text, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.tenant_drop(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_create(text, bigint, integer) TO heliosdb_admin;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_drop(text) TO heliosdb_admin;

-- Session security context.  The readers are STABLE and PARALLEL SAFE so
-- that "tenant_id = heliosdb.current_tenant_id()" can use an index and run
-- in parallel workers (which read the leader's context).

CREATE FUNCTION @extschema@.current_tenant_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'hdb_current_tenant_id'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.current_tenant()
RETURNS text
AS 'MODULE_PATHNAME', 'hdb_current_tenant'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.current_user_id()
RETURNS text
AS 'MODULE_PATHNAME', 'hdb_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.set_tenant(name text, local boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'hdb_set_tenant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.reset_context()
RETURNS void
AS 'MODULE_PATHNAME', 'hdb_reset_context'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.session_context(OUT source text, OUT tenant text,
											OUT tenant_id uuid, OUT user_id text,
											OUT local boolean,
											OUT expires_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'hdb_session_context'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.isolation_stats(OUT cross_tenant_denied bigint,
											OUT registry_generation bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'hdb_isolation_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@.isolation_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.isolation_stats() TO heliosdb_admin;

-- Tenant isolation by row level security.  SECURITY INVOKER: only the
-- table's owner can run the ALTER TABLE and CREATE POLICY it issues.
CREATE FUNCTION @extschema@.enable_tenant_isolation(tbl regclass,
													tenant_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col_num int2;
	col_type regtype;
BEGIN
	IF tbl IS NULL OR tenant_column IS NULL THEN
		RAISE EXCEPTION 'table and tenant column must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class
				   WHERE oid = tbl AND relkind IN ('r', 'p')) THEN
		RAISE EXCEPTION '"%" is not a table', tbl
			USING ERRCODE = 'wrong_object_type';
	END IF;

	SELECT a.attnum, a.atttypid INTO col_num, col_type
	FROM pg_attribute a
	WHERE a.attrelid = tbl AND a.attname = tenant_column
	  AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist',
			tenant_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF col_type <> 'uuid'::regtype THEN
		RAISE EXCEPTION 'tenant column "%" of relation "%" must be of type uuid',
			tenant_column, tbl
			USING ERRCODE = 'datatype_mismatch',
				  DETAIL = pg_catalog.format('The column is of type %s.', col_type);
	END IF;

	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
	EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);

	IF NOT EXISTS (SELECT 1 FROM pg_policy
				   WHERE polrelid = tbl
					 AND polname = 'heliosdb_tenant_isolation') THEN
		EXECUTE pg_catalog.format(
			'CREATE POLICY heliosdb_tenant_isolation ON %s FOR ALL '
			'USING (%2$I = @extschema@.current_tenant_id()) '
			'WITH CHECK (%2$I = @extschema@.current_tenant_id())',
			tbl, tenant_column);
	END IF;

	IF NOT EXISTS (SELECT 1 FROM pg_index
				   WHERE indrelid = tbl AND indkey[0] = col_num) THEN
		EXECUTE pg_catalog.format('CREATE INDEX ON %s (%I)', tbl, tenant_column);
	END IF;
END
$$;

-- Automatic isolation of new tables that have a uuid column "tenant_id".
-- Tables that belong to an extension (its own install script) are left alone.
CREATE FUNCTION @extschema@._auto_tenant_isolation()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cmd record;
BEGIN
	IF NOT pg_catalog.current_setting('heliosdb.auto_tenant_isolation')::boolean THEN
		RETURN;
	END IF;
	FOR cmd IN
		SELECT c.objid
		FROM pg_catalog.pg_event_trigger_ddl_commands() c
		WHERE c.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
		  AND c.object_type = 'table'
		  AND EXISTS (SELECT 1 FROM pg_attribute a
					  WHERE a.attrelid = c.objid AND a.attname = 'tenant_id'
						AND a.atttypid = 'uuid'::regtype
						AND a.attnum > 0 AND NOT a.attisdropped)
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
						  WHERE d.classid = 'pg_class'::regclass
							AND d.objid = c.objid AND d.deptype = 'e')
	LOOP
		PERFORM @extschema@.enable_tenant_isolation(cmd.objid::regclass, 'tenant_id');
		RAISE NOTICE 'tenant isolation enabled on table %', cmd.objid::regclass;
	END LOOP;
END
$$;

CREATE EVENT TRIGGER heliosdb_auto_tenant_isolation
	ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
	EXECUTE FUNCTION @extschema@._auto_tenant_isolation();
