-- Tenant isolation by row level security: enable_tenant_isolation, the
-- automatic isolation of new tables, cross-tenant writes, parallel scans.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT heliosdb.tenant_create('iso-a') AS a_id \gset
SELECT heliosdb.tenant_create('iso-b') AS b_id \gset
CREATE ROLE regress_iso_owner;
CREATE ROLE regress_iso_app;
GRANT CREATE ON SCHEMA public TO regress_iso_owner;

-- A new table with a uuid tenant_id column is isolated at CREATE TABLE.
SET ROLE regress_iso_owner;
CREATE TABLE orders (
	id int PRIMARY KEY,
	tenant_id uuid NOT NULL DEFAULT heliosdb.current_tenant_id(),
	item text
);
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO regress_iso_app;
RESET ROLE;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'orders'::regclass;
SELECT polname, polcmd, pg_get_expr(polqual, polrelid) AS using_expr,
	   pg_get_expr(polwithcheck, polrelid) AS check_expr
FROM pg_policy WHERE polrelid = 'orders'::regclass;
SELECT indexrelid::regclass AS tenant_index FROM pg_index
WHERE indrelid = 'orders'::regclass AND indkey[0] = 2;

-- Each tenant writes and sees its own rows only.
SELECT heliosdb.set_tenant('iso-a');
SET ROLE regress_iso_app;
INSERT INTO orders (id, item) VALUES (1, 'a-anvil'), (2, 'a-rocket');
RESET ROLE;
SELECT heliosdb.set_tenant('iso-b');
SET ROLE regress_iso_app;
INSERT INTO orders (id, item) VALUES (3, 'b-widget');
SELECT id, item FROM orders ORDER BY id;
RESET ROLE;
SELECT heliosdb.set_tenant('iso-a');
SET ROLE regress_iso_app;
SELECT id, item FROM orders ORDER BY id;

-- Cross-tenant writes are refused with 42501 and counted.
RESET ROLE;
SELECT cross_tenant_denied AS denied_before FROM heliosdb.isolation_stats() \gset
SET ROLE regress_iso_app;
SELECT pg_temp.outcome(format($$INSERT INTO orders VALUES (4, %L, 'forged')$$, :'b_id'));
SELECT pg_temp.outcome(format($$UPDATE orders SET tenant_id = %L WHERE id = 1$$, :'b_id'));
SELECT pg_temp.outcome(format($$INSERT INTO orders VALUES (3, %L, 'x') ON CONFLICT (id) DO UPDATE SET item = 'y'$$, :'a_id'));
-- (Upserting a row of one's own tenant works.)
INSERT INTO orders VALUES (1, :'a_id', 'x') ON CONFLICT (id) DO UPDATE SET item = 'y';
-- A refusal at the top level counts too.
INSERT INTO orders VALUES (5, :'b_id', 'forged');
-- Other tenants' rows can be neither changed nor removed: they are not seen.
UPDATE orders SET item = 'hijacked' WHERE id = 3;
DELETE FROM orders WHERE id = 3;
RESET ROLE;
SELECT cross_tenant_denied - :denied_before AS denied FROM heliosdb.isolation_stats();

-- The owner is subject to the policy too (FORCE ROW LEVEL SECURITY).
SET ROLE regress_iso_owner;
SELECT id, item FROM orders ORDER BY id;
RESET ROLE;

-- Superusers bypass RLS, so they see every row.
SELECT id, item FROM orders ORDER BY id;

-- Without a context, tenant tables show no rows and take no writes.
SELECT heliosdb.reset_context();
SET ROLE regress_iso_app;
SELECT count(*) AS visible_without_tenant FROM orders;
SELECT pg_temp.outcome($$INSERT INTO orders (id, item) VALUES (9, 'orphan')$$);
SELECT pg_temp.outcome(format($$INSERT INTO orders VALUES (9, %L, 'orphan')$$, :'a_id'));
RESET ROLE;

-- The policy can use the tenant index.
SELECT heliosdb.set_tenant('iso-a');
SET enable_seqscan = off;
SET ROLE regress_iso_app;
EXPLAIN (COSTS OFF) SELECT item FROM orders;
RESET ROLE;
RESET enable_seqscan;

-- Parallel workers see the leader's tenant.
CREATE TABLE big (tenant_id uuid NOT NULL, n int);
INSERT INTO big SELECT CASE WHEN g % 3 = 0 THEN :'a_id'::uuid ELSE :'b_id'::uuid END, g
FROM generate_series(1, 30000) g;
GRANT SELECT ON big TO regress_iso_app;
DROP INDEX big_tenant_id_idx;
ANALYZE big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET ROLE regress_iso_app;
EXPLAIN (COSTS OFF) SELECT count(*) FROM big;
SELECT count(*) AS a_rows_in_parallel FROM big;
RESET ROLE;
SELECT heliosdb.set_tenant('iso-b');
SET ROLE regress_iso_app;
SELECT count(*) AS b_rows_in_parallel FROM big;
RESET ROLE;
SELECT heliosdb.reset_context();
SET ROLE regress_iso_app;
SELECT count(*) AS none_in_parallel FROM big;
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- enable_tenant_isolation is idempotent.
CREATE TABLE manual (org uuid, note text);
SELECT heliosdb.enable_tenant_isolation('manual', 'org');
SELECT heliosdb.enable_tenant_isolation('manual', 'org');
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'manual'::regclass;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'manual'::regclass;
-- An existing index that leads with the column is used.
CREATE TABLE with_index (tenant_id uuid, k int);
SELECT count(*) AS auto_indexes FROM pg_index WHERE indrelid = 'with_index'::regclass;
SELECT heliosdb.enable_tenant_isolation('with_index');
SELECT count(*) AS indexes_after FROM pg_index WHERE indrelid = 'with_index'::regclass;

-- Bad arguments.
CREATE TABLE textual (tenant_id text, note text);
CREATE VIEW a_view AS SELECT 1 AS tenant_id;
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('manual', 'nosuch')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('textual')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('a_view')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation(NULL)$$);
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('manual', NULL)$$);
-- Only the table's owner may enable isolation.
SET ROLE regress_iso_app;
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('textual')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.enable_tenant_isolation('manual', 'org')$$);
RESET ROLE;
SELECT relrowsecurity FROM pg_class WHERE oid = 'textual'::regclass;

-- Automatic isolation: CREATE TABLE AS, SELECT INTO, and the off switch.
CREATE TABLE copied AS SELECT * FROM orders;
SELECT * INTO copied_too FROM orders;
SELECT relname, relrowsecurity FROM pg_class
WHERE relname IN ('copied', 'copied_too') ORDER BY relname;
SET heliosdb.auto_tenant_isolation = off;
CREATE TABLE unmanaged (tenant_id uuid);
RESET heliosdb.auto_tenant_isolation;
SELECT relrowsecurity FROM pg_class WHERE oid = 'unmanaged'::regclass;
SET ROLE regress_iso_owner;
SELECT pg_temp.outcome($$SET heliosdb.auto_tenant_isolation = off$$);
RESET ROLE;

DROP TABLE orders, big, manual, with_index, textual, copied, copied_too, unmanaged;
DROP VIEW a_view;
REVOKE CREATE ON SCHEMA public FROM regress_iso_owner;
DROP ROLE regress_iso_owner;
DROP ROLE regress_iso_app;
SELECT heliosdb.reset_context();
SELECT heliosdb.tenant_drop('iso-a');
SELECT heliosdb.tenant_drop('iso-b');
