-- Quotas and rate limits: per-tenant limits in the registry, token-bucket
-- status, bans.

CREATE FUNCTION @extschema@.tenant_set_quota(tenant text,
											 storage_quota bigint,
											 qps_limit integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'tenant name must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF storage_quota < 0 THEN
		RAISE EXCEPTION 'storage quota must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF qps_limit <= 0 THEN
		RAISE EXCEPTION 'QPS limit must be positive'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to use heliosdb.default_qps_limit.';
	END IF;
	UPDATE @extschema@.tenant t
		SET storage_quota = tenant_set_quota.storage_quota,
			qps_limit = tenant_set_quota.qps_limit
		WHERE t.name = tenant_set_quota.tenant;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', tenant
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.tenant_set_quota(text, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_set_quota(text, bigint, integer) TO heliosdb_admin;

CREATE FUNCTION @extschema@._rate_limit_status(OUT kind text, OUT key text,
											   OUT rate float8, OUT burst integer,
											   OUT tokens float8,
											   OUT allowed bigint,
											   OUT rejected bigint,
											   OUT violations integer,
											   OUT banned_until timestamptz,
											   OUT last_seen timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hdb_rate_limit_status'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._rate_limit_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._rate_limit_status() TO heliosdb_admin;

CREATE VIEW @extschema@.rate_limit_status AS
	SELECT kind, key, rate, burst, tokens, allowed, rejected, violations,
		   banned_until, last_seen
	FROM @extschema@._rate_limit_status();
REVOKE ALL ON @extschema@.rate_limit_status FROM PUBLIC;
GRANT SELECT ON @extschema@.rate_limit_status TO heliosdb_admin;

CREATE FUNCTION @extschema@.rate_limit_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'hdb_rate_limit_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@.rate_limit_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rate_limit_reset() TO heliosdb_admin;

CREATE FUNCTION @extschema@.unban(address inet)
RETURNS boolean
AS 'MODULE_PATHNAME', 'hdb_unban'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@.unban(inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.unban(inet) TO heliosdb_admin;

-- Storage quotas.  A tenant owns schemas; its usage is the size of every
-- relation in them plus a row-count share of shared tables with tenant
-- isolation, measured by heliosdb.quota_refresh() and the quota worker.

CREATE TABLE @extschema@.tenant_schema (
	schema_name		name NOT NULL,
	tenant			text COLLATE "C" NOT NULL
					REFERENCES @extschema@.tenant (name)
					ON DELETE CASCADE ON UPDATE CASCADE,
	CONSTRAINT tenant_schema_pkey PRIMARY KEY (schema_name)
);
CREATE INDEX ON @extschema@.tenant_schema (tenant);
REVOKE ALL ON @extschema@.tenant_schema FROM PUBLIC;
GRANT SELECT ON @extschema@.tenant_schema TO heliosdb_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tenant_schema', '');

CREATE FUNCTION @extschema@._tenant_schema_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'hdb_tenant_schema_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._tenant_schema_changed() FROM PUBLIC;

-- Row triggers, so that a statement changing no row (such as the cascade
-- of dropping a tenant without schemas) changes nothing.
CREATE TRIGGER tenant_schema_changed
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tenant_schema
	FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_schema_changed();
CREATE TRIGGER tenant_schema_truncated
	AFTER TRUNCATE ON @extschema@.tenant_schema
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_schema_changed();

CREATE FUNCTION @extschema@.tenant_add_schema(tenant text, schema name)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	owner text;
BEGIN
	IF tenant IS NULL OR schema IS NULL THEN
		RAISE EXCEPTION 'tenant and schema must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.tenant t
				   WHERE t.name = tenant_add_schema.tenant) THEN
		RAISE EXCEPTION 'tenant "%" does not exist', tenant
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema) THEN
		RAISE EXCEPTION 'schema "%" does not exist', schema
			USING ERRCODE = 'invalid_schema_name';
	END IF;
	IF schema IN ('pg_catalog', 'information_schema', 'pg_toast', '@extschema@')
	   OR schema LIKE 'pg\_temp\_%' OR schema LIKE 'pg\_toast\_temp\_%' THEN
		RAISE EXCEPTION 'schema "%" cannot belong to a tenant', schema
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT ts.tenant INTO owner FROM @extschema@.tenant_schema ts
		WHERE ts.schema_name = schema;
	IF owner = tenant THEN
		RETURN;
	ELSIF owner IS NOT NULL THEN
		RAISE EXCEPTION 'schema "%" already belongs to tenant "%"', schema, owner
			USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO @extschema@.tenant_schema (schema_name, tenant)
		VALUES (schema, tenant);
END
$$;

CREATE FUNCTION @extschema@.tenant_remove_schema(tenant text, schema name)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tenant IS NULL OR schema IS NULL THEN
		RAISE EXCEPTION 'tenant and schema must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	DELETE FROM @extschema@.tenant_schema ts
		WHERE ts.schema_name = schema AND ts.tenant = tenant_remove_schema.tenant;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" does not belong to tenant "%"', schema, tenant
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.tenant_add_schema(text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.tenant_remove_schema(text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_add_schema(text, name) TO heliosdb_admin;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_remove_schema(text, name) TO heliosdb_admin;

-- One row per (tenant, piece of usage); the refresh adds them up.  Own
-- schemas: pg_total_relation_size() (all forks, indexes, TOAST) of every
-- table, materialized view and sequence.  Shared tables with the
-- heliosdb_tenant_isolation policy, outside tenant schemas: the table's
-- total size times the tenant's share of its rows (an estimate: rows are
-- assumed to be of equal size).  Every tenant gets a row, 0 if need be.
CREATE FUNCTION @extschema@._quota_usage(OUT tenant text, OUT used_bytes bigint)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pol record;
BEGIN
	RETURN QUERY SELECT t.name::text, 0::bigint FROM @extschema@.tenant t;

	RETURN QUERY
		SELECT ts.tenant::text, sum(pg_total_relation_size(c.oid))::bigint
		FROM @extschema@.tenant_schema ts
		JOIN pg_namespace n ON n.nspname = ts.schema_name
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'S')
		GROUP BY ts.tenant;

	FOR pol IN
		SELECT p.polrelid::regclass AS rel,
			   substring(pg_get_expr(p.polqual, p.polrelid)
						 FROM '^\((.+) = @extschema@\.current_tenant_id\(\)\)$') AS col
		FROM pg_policy p
		JOIN pg_class c ON c.oid = p.polrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE p.polname = 'heliosdb_tenant_isolation'
		  AND n.nspname NOT IN (SELECT ts.schema_name FROM @extschema@.tenant_schema ts)
	LOOP
		CONTINUE WHEN pol.col IS NULL;
		RETURN QUERY EXECUTE format(
			'SELECT t.name::text, (%s::numeric * s.n / s.all_n)::bigint '
			'FROM (SELECT id, n, sum(n) OVER () AS all_n '
			'      FROM (SELECT %s AS id, count(*) AS n FROM %s GROUP BY 1) g) s '
			'JOIN @extschema@.tenant t ON t.id = s.id',
			pg_total_relation_size(pol.rel), pol.col, pol.rel);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._quota_usage() FROM PUBLIC;

CREATE FUNCTION @extschema@.quota_refresh()
RETURNS integer
AS 'MODULE_PATHNAME', 'hdb_quota_refresh'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.quota_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_refresh() TO heliosdb_admin;

CREATE FUNCTION @extschema@._tenant_usage(OUT tenant text, OUT used_bytes bigint,
										  OUT refreshed_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hdb_tenant_usage'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION @extschema@._tenant_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._tenant_usage() TO heliosdb_admin;

CREATE VIEW @extschema@.tenant_usage AS
	SELECT q.tenant, q.used_bytes, q.quota_bytes,
		   round(100.0 * q.used_bytes / NULLIF(q.quota_bytes, 0), 2) AS percent,
		   q.refreshed_at
	FROM (SELECT t.name AS tenant, u.used_bytes,
				 COALESCE(t.storage_quota,
						  pg_catalog.pg_size_bytes(pg_catalog.current_setting('heliosdb.default_storage_quota')))
					 AS quota_bytes,
				 u.refreshed_at
		  FROM @extschema@.tenant t
		  LEFT JOIN @extschema@._tenant_usage() u ON u.tenant = t.name) q;
REVOKE ALL ON @extschema@.tenant_usage FROM PUBLIC;
GRANT SELECT ON @extschema@.tenant_usage TO heliosdb_admin;

-- Cost of one bucket check in microseconds, for test/bench/quota.
CREATE FUNCTION @extschema@._rate_limit_bench(iterations integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'hdb_rate_limit_bench'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION @extschema@._rate_limit_bench(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._rate_limit_bench(integer) TO heliosdb_admin;
