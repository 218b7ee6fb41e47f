-- Benchmark body for test/bench/tenant_rls/run.sh.
\set rounds 6
SET client_min_messages = warning;
CREATE EXTENSION heliosdb;
SET heliosdb.auto_tenant_isolation = off;

SELECT heliosdb.tenant_create('t' || g) FROM generate_series(0, 99) g \g /dev/null
-- The usual multi-tenant key leads with the tenant: PRIMARY KEY (tenant_id,
-- id).  (With a separate key on id alone the planner prefers it plus a
-- filter for the policy's function but the composite index for a literal,
-- and the benchmark would compare two plans rather than the policy's cost.)
CREATE TABLE docs (id int NOT NULL, tenant_id uuid NOT NULL, amount int, body text);
INSERT INTO docs
SELECT g, t.id, g % 1000, md5(g::text)
FROM generate_series(1, 1000000) g
JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM heliosdb.tenants) t
  ON t.n = g % 100;
ALTER TABLE docs ADD PRIMARY KEY (tenant_id, id);
SELECT heliosdb.enable_tenant_isolation('docs') \g /dev/null
VACUUM ANALYZE docs;
CREATE ROLE bench_app;
GRANT SELECT ON docs TO bench_app;
SELECT id AS t42 FROM heliosdb.tenants WHERE name = 't42' \gset

-- Point query: one row by id.  Range query: the tenant's rows among 10,000 ids.
CREATE FUNCTION point_rls(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); v int;
BEGIN
	FOR i IN 1..n LOOP
		SELECT amount INTO v FROM docs WHERE id = 42 + 100 * (i % 9000);
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
CREATE FUNCTION point_literal(n int, tid uuid) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); v int;
BEGIN
	FOR i IN 1..n LOOP
		SELECT amount INTO v FROM docs WHERE id = 42 + 100 * (i % 9000) AND tenant_id = tid;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
CREATE FUNCTION range_rls(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); v bigint;
BEGIN
	FOR i IN 1..n LOOP
		SELECT sum(amount) INTO v FROM docs WHERE id BETWEEN 10000 * (i % 90) AND 10000 * (i % 90) + 9999;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
CREATE FUNCTION range_literal(n int, tid uuid) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); v bigint;
BEGIN
	FOR i IN 1..n LOOP
		SELECT sum(amount) INTO v FROM docs WHERE id BETWEEN 10000 * (i % 90) AND 10000 * (i % 90) + 9999 AND tenant_id = tid;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;

-- Sanity: both variants see the same rows.
SELECT heliosdb.set_tenant('t42') \g /dev/null
SET ROLE bench_app;
SELECT count(*) AS rls_rows FROM docs \gset
RESET ROLE;
SELECT count(*) AS literal_rows FROM docs WHERE tenant_id = :'t42' \gset
SELECT CASE WHEN :rls_rows = :literal_rows AND :rls_rows = 10000 THEN 'same rows' ELSE 'MISMATCH' END AS sanity \gset
\echo sanity: :sanity (:rls_rows rows through the policy)

CREATE TEMP TABLE timing (kind text, variant text, us float8);
GRANT ALL ON timing TO bench_app;
-- Both variants run as the same ordinary role; the baseline runs with row
-- level security disabled on the table.  Rounds alternate which variant
-- goes first.
SELECT format($$
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	SET ROLE bench_app;
	INSERT INTO timing SELECT 'point', 'rls', point_rls(20000);
	INSERT INTO timing SELECT 'range', 'rls', range_rls(2000);
	RESET ROLE;
$$) AS rls_sql \gset
SELECT format($$
	ALTER TABLE docs DISABLE ROW LEVEL SECURITY;
	SET ROLE bench_app;
	INSERT INTO timing SELECT 'point', 'literal', point_literal(20000, %1$L);
	INSERT INTO timing SELECT 'range', 'literal', range_literal(2000, %1$L);
	RESET ROLE;
$$, :'t42') AS literal_sql \gset
\o /dev/null
SELECT CASE WHEN g % 2 = 0 THEN :'rls_sql' || :'literal_sql'
			ELSE :'literal_sql' || :'rls_sql' END
FROM generate_series(1, :rounds) g \gexec
\o

ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
\echo
\echo 'tenant_rls: 1M rows, 100 tenants; best of' :rounds 'rounds, microseconds per query'
SELECT kind,
	   round(min(us) FILTER (WHERE variant = 'rls')::numeric, 2) AS rls_us,
	   round(min(us) FILTER (WHERE variant = 'literal')::numeric, 2) AS literal_us,
	   round((min(us) FILTER (WHERE variant = 'rls') /
			  min(us) FILTER (WHERE variant = 'literal'))::numeric, 3) AS ratio,
	   1.05 AS target
FROM timing GROUP BY kind ORDER BY kind;
