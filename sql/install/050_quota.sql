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
