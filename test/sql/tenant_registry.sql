-- Tenant registry: tenant_create, tenant_drop, the tenants view, privileges.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT heliosdb.tenant_create('acme') IS NOT NULL AS created;
SELECT heliosdb.tenant_create('globex', 10000000, 50) IS NOT NULL AS created;
SELECT heliosdb.tenant_create('a') IS NOT NULL AS one_char;
SELECT heliosdb.tenant_create(repeat('x', 63)) IS NOT NULL AS longest;
SELECT name, storage_quota, qps_limit, created_at <= now() AS created_in_past
FROM heliosdb.tenants ORDER BY name;
SELECT count(DISTINCT id) AS distinct_ids FROM heliosdb.tenants;

-- Bad names, bad limits, duplicates.
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('Acme')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('-acme')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('_acme')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('ac me')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('acmé')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create(repeat('x', 64))$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create(NULL)$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('ok', -1)$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('ok', NULL, 0)$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('acme')$$);
SELECT count(*) AS still_four FROM heliosdb.tenants;

-- Names with "_" and "-" after the first character are fine.
SELECT heliosdb.tenant_create('acme_eu-1') IS NOT NULL AS created;

-- Dropping.
SELECT heliosdb.tenant_drop('acme_eu-1');
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_drop('acme_eu-1')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_drop(NULL)$$);
SELECT heliosdb.tenant_drop('a');
SELECT heliosdb.tenant_drop(repeat('x', 63));

-- Privileges: only heliosdb_admin members manage or even see tenants.
CREATE ROLE regress_hdb_plain;
CREATE ROLE regress_hdb_admin IN ROLE heliosdb_admin;
SET ROLE regress_hdb_plain;
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_create('plain-made')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.tenant_drop('acme')$$);
SELECT pg_temp.outcome($$SELECT * FROM heliosdb.tenants$$);
SELECT pg_temp.outcome($$SELECT * FROM heliosdb.tenant$$);
SELECT pg_temp.outcome($$DELETE FROM heliosdb.tenant$$);
RESET ROLE;
SET ROLE regress_hdb_admin;
SELECT heliosdb.tenant_create('admin-made') IS NOT NULL AS created;
SELECT name FROM heliosdb.tenants ORDER BY name;
SELECT heliosdb.tenant_drop('admin-made');
RESET ROLE;

-- The registry's columns are constrained even for direct writes.
SELECT pg_temp.outcome($$INSERT INTO heliosdb.tenant (name) VALUES ('Not Valid')$$);

DROP ROLE regress_hdb_plain;
DROP ROLE regress_hdb_admin;
SELECT heliosdb.tenant_drop('acme');
SELECT heliosdb.tenant_drop('globex');
