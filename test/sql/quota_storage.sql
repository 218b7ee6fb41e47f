-- Storage quotas: tenant schemas, usage refresh, the tenant_usage view,
-- refusal of writes over quota (53100) while reads and deletes still run,
-- tables created and filled in the same transaction, shared tables.
\set VERBOSITY terse
SELECT heliosdb.tenant_create('st-a') IS NOT NULL AS created;
SELECT heliosdb.tenant_create('st-b', 200000) IS NOT NULL AS created;
CREATE SCHEMA st_a;
CREATE SCHEMA st_b;
CREATE SCHEMA st_free;

-- Schemas and their failure paths.
SELECT heliosdb.tenant_add_schema('st-a', 'st_a');
SELECT heliosdb.tenant_add_schema('st-a', 'st_a');
SELECT heliosdb.tenant_add_schema('st-b', 'st_b');
SELECT heliosdb.tenant_add_schema('st-b', 'st_a');
SELECT heliosdb.tenant_add_schema('st-none', 'st_free');
SELECT heliosdb.tenant_add_schema('st-a', 'st_missing');
SELECT heliosdb.tenant_add_schema('st-a', 'pg_catalog');
SELECT heliosdb.tenant_add_schema('st-a', 'heliosdb');
SELECT heliosdb.tenant_add_schema('st-a', NULL);
SELECT heliosdb.tenant_remove_schema('st-b', 'st_a');
SELECT heliosdb.tenant_remove_schema('st-a', 'st_free');
SELECT schema_name, tenant FROM heliosdb.tenant_schema ORDER BY 1;
-- Other sessions learn of changes at commit, which PREPARE would bypass.
BEGIN;
SELECT heliosdb.tenant_add_schema('st-a', 'st_free');
PREPARE TRANSACTION 'regress_quota_schema';
SELECT count(*) FROM heliosdb.tenant_schema WHERE schema_name = 'st_free';

-- Usage: every relation of the tenant's schemas, all forks, indexes, TOAST.
CREATE TABLE st_a.notes (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = off);
INSERT INTO st_a.notes SELECT g, repeat('a', 100) FROM generate_series(1, 200) g;
CREATE TABLE st_b.notes (id int, body text) WITH (autovacuum_enabled = off);
INSERT INTO st_b.notes VALUES (1, 'b');
SELECT heliosdb.quota_refresh() >= 2 AS refreshed;
SELECT tenant, used_bytes = pg_total_relation_size('st_a.notes') AS exact,
	   quota_bytes, refreshed_at <= now() AS refreshed
FROM heliosdb.tenant_usage WHERE tenant = 'st-a';
SELECT tenant, used_bytes, used_bytes = pg_total_relation_size('st_b.notes') AS exact,
	   quota_bytes, percent, refreshed_at IS NOT NULL AS refreshed
FROM heliosdb.tenant_usage WHERE tenant = 'st-b';
SHOW heliosdb.default_storage_quota;

-- st-a over quota: every way of adding data is refused with 53100.
SELECT heliosdb.tenant_set_quota('st-a', 1000, NULL);
CREATE FUNCTION public.st_insert() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO st_a.notes VALUES (1000, 'via function');
END $$;
INSERT INTO st_a.notes VALUES (1001, 'x');
\echo :LAST_ERROR_SQLSTATE
UPDATE st_a.notes SET body = 'y' WHERE id = 1;
WITH w AS (INSERT INTO st_a.notes VALUES (1002, 'cte') RETURNING id) SELECT 1;
SELECT public.st_insert();
COPY st_a.notes FROM '/dev/null';
CREATE INDEX ON st_a.notes (body);
CREATE TABLE st_a.copy AS SELECT * FROM st_a.notes;
SELECT * INTO st_a.copy2 FROM st_a.notes;
CREATE MATERIALIZED VIEW st_a.mv AS SELECT 1 AS x;
-- The error says who, how much and what to do.
\set VERBOSITY default
INSERT INTO st_a.notes VALUES (1003, 'x');
\set VERBOSITY terse

-- Reads and deletes still run, so the tenant can clean up; other tenants
-- and schemas are not affected.
SELECT count(*) FROM st_a.notes;
DELETE FROM st_a.notes WHERE id > 100;
TRUNCATE st_a.notes;
INSERT INTO st_b.notes VALUES (2, 'b');
CREATE TABLE st_free.t AS SELECT 1 AS x;
CREATE TEMP TABLE st_temp AS SELECT 1 AS x;

-- Raising the quota lets writes through again.
SELECT heliosdb.tenant_set_quota('st-a', NULL, NULL);
INSERT INTO st_a.notes VALUES (1, 'back');

-- A table created and filled in this very transaction counts at once,
-- though no refresh can see it yet (st-b's quota is 200000 bytes).
BEGIN;
CREATE TABLE st_b.big AS SELECT g AS id, repeat('b', 200) AS body
	FROM generate_series(1, 2000) g;
INSERT INTO st_b.notes VALUES (3, 'b');
ROLLBACK;
BEGIN;
CREATE TABLE st_b.big AS SELECT g AS id, repeat('b', 200) AS body
	FROM generate_series(1, 2000) g;
\set VERBOSITY default
CREATE TABLE st_b.big2 AS SELECT 1 AS x;
\set VERBOSITY terse
ROLLBACK;
-- A savepoint rolled back takes its table with it.
BEGIN;
SAVEPOINT s;
CREATE TABLE st_b.big AS SELECT g AS id, repeat('b', 200) AS body
	FROM generate_series(1, 2000) g;
ROLLBACK TO SAVEPOINT s;
INSERT INTO st_b.notes VALUES (4, 'b');
COMMIT;

-- Shared tables with tenant isolation: writes under a tenant's context
-- count against that tenant; the tenant's share of the table's size (by
-- rows) is part of its usage.
CREATE TABLE public.st_shared (id int, tenant_id uuid NOT NULL DEFAULT heliosdb.current_tenant_id(), body text);
SELECT heliosdb.set_tenant('st-a');
INSERT INTO public.st_shared (id, body) SELECT g, 'a' FROM generate_series(1, 30) g;
SELECT heliosdb.set_tenant('st-b');
INSERT INTO public.st_shared (id, body) SELECT g, 'b' FROM generate_series(1, 10) g;
SELECT heliosdb.reset_context();
SELECT heliosdb.quota_refresh() >= 2 AS refreshed;
SELECT u.tenant,
	   u.used_bytes - pg_total_relation_size('st_a.notes') AS shared_share,
	   (pg_total_relation_size('public.st_shared') * 30 / 40) AS expected
FROM heliosdb.tenant_usage u WHERE u.tenant = 'st-a';
SELECT heliosdb.tenant_set_quota('st-a', 1000, NULL);
SELECT heliosdb.set_tenant('st-a');
INSERT INTO public.st_shared (id, body) VALUES (99, 'a');
SELECT count(*) FROM public.st_shared;
DELETE FROM public.st_shared WHERE id = 1;
SELECT heliosdb.set_tenant('st-b');
INSERT INTO public.st_shared (id, body) VALUES (99, 'b');
SELECT heliosdb.reset_context();
-- Without a tenant context a superuser's write is nobody's.
INSERT INTO public.st_shared (id, tenant_id, body)
	SELECT 100, id, 'admin' FROM heliosdb.tenant WHERE name = 'st-a';

-- A schema given back no longer counts.
SELECT heliosdb.tenant_remove_schema('st-a', 'st_a');
INSERT INTO st_a.notes VALUES (2, 'free again');

-- Only administrators refresh and see usage.
CREATE ROLE regress_quota_user;
SET ROLE regress_quota_user;
SELECT heliosdb.quota_refresh();
SELECT * FROM heliosdb.tenant_usage;
SELECT heliosdb.tenant_add_schema('st-a', 'st_a');
RESET ROLE;
DROP ROLE regress_quota_user;

-- Dropping a tenant drops its schema registrations.
SELECT heliosdb.tenant_drop('st-b');
SELECT count(*) FROM heliosdb.tenant_schema WHERE tenant = 'st-b';

DROP FUNCTION public.st_insert();
DROP TABLE public.st_shared;
DROP SCHEMA st_a CASCADE;
DROP SCHEMA st_b CASCADE;
DROP SCHEMA st_free CASCADE;
SELECT heliosdb.tenant_drop('st-a');
