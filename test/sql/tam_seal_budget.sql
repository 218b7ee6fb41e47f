-- Every row is sealed with a fresh random nonce, so a data key may seal
-- only so many rows (heliosdb.max_rows_per_data_key, 2^31 - 1 by default):
-- then its table moves on to a new data key version by itself.  Rows sealed
-- before stay readable with the old version.
\set VERBOSITY terse
CREATE TABLE tam_budget (id int, v text) USING heliosdb_encrypted;
CREATE VIEW tam_budget_versions AS
SELECT key_version, row_count FROM heliosdb.encryption_status()
WHERE table_name = 'tam_budget'::regclass;

-- the default: 3,000 rows stay with the first version
INSERT INTO tam_budget SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
SELECT * FROM tam_budget_versions ORDER BY 1;

-- a budget of 1,000 rows: a new version about every 1,000 rows sealed, by
-- INSERT, COPY (a batch at a time) and UPDATE alike
SET heliosdb.max_rows_per_data_key = 1000;
INSERT INTO tam_budget SELECT g, md5(g::text) FROM generate_series(3001, 6000) g;
COPY tam_budget (id) FROM PROGRAM 'seq 6001 9000';
SELECT count(*) AS versions, sum(row_count) AS rows,
	   max(row_count) FILTER (WHERE key_version > 1) <= 1010 AS within_budget
FROM tam_budget_versions;
UPDATE tam_budget SET v = 'updated' WHERE id <= 2500;
SELECT count(*) AS versions, sum(row_count) AS rows,
	   max(row_count) FILTER (WHERE key_version > 1) <= 1010 AS within_budget
FROM tam_budget_versions;
SELECT count(*), sum(id), count(DISTINCT v), count(*) FILTER (WHERE v = 'updated')
FROM tam_budget;

-- The leader of a parallel CREATE TABLE ... AS seals in parallel mode, and a
-- read-only transaction may seal rows of a temporary table: no sequence
-- advances there.  The rows are counted at the next block taken, which
-- then moves the table to a new version.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
CREATE TABLE tam_budget_ctas USING heliosdb_encrypted AS SELECT * FROM tam_budget;
CREATE TABLE tam_budget_ctas USING heliosdb_encrypted AS SELECT * FROM tam_budget;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT key_version, row_count FROM heliosdb.encryption_status()
WHERE table_name = 'tam_budget_ctas'::regclass ORDER BY 1;
INSERT INTO tam_budget_ctas VALUES (0, 'after');
SELECT key_version, row_count FROM heliosdb.encryption_status()
WHERE table_name = 'tam_budget_ctas'::regclass ORDER BY 1;

CREATE TEMP TABLE tam_budget_temp (a int) USING heliosdb_encrypted;
BEGIN READ ONLY;
INSERT INTO tam_budget_temp SELECT generate_series(1, 10);
COMMIT;
INSERT INTO tam_budget_temp VALUES (11);
SELECT key_version, row_count FROM heliosdb.encryption_status()
WHERE table_name = 'tam_budget_temp'::regclass ORDER BY 1;
SELECT count(*), sum(a) FROM tam_budget_temp;

-- only a superuser may change the budget
RESET heliosdb.max_rows_per_data_key;
CREATE ROLE regress_budget_user;
SET ROLE regress_budget_user;
SET heliosdb.max_rows_per_data_key = 5000;
RESET ROLE;
SET heliosdb.max_rows_per_data_key = 10;
DROP ROLE regress_budget_user;
DROP TABLE tam_budget_ctas, tam_budget_temp;
DROP VIEW tam_budget_versions;
DROP TABLE tam_budget;
