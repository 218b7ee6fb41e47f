-- heliosdb_encrypted in the planner: the size estimate charges the
-- decryption of every row (heliosdb.encrypted_row_cost), so that a point
-- query on a small encrypted table uses its index rather than decrypting
-- every row in a sequential scan; at 0 the table is planned as heap.
\set VERBOSITY terse
CREATE TABLE tam_plan (id int PRIMARY KEY, v text) USING heliosdb_encrypted;
CREATE TABLE tam_plan_heap (id int PRIMARY KEY, v text) USING heap;
INSERT INTO tam_plan SELECT g, 'v' || g FROM generate_series(1, 200) g;
INSERT INTO tam_plan_heap SELECT * FROM tam_plan;
VACUUM ANALYZE tam_plan;
VACUUM ANALYZE tam_plan_heap;
SHOW heliosdb.encrypted_row_cost;
EXPLAIN (COSTS OFF) SELECT v FROM tam_plan WHERE id = 42;
EXPLAIN (COSTS OFF) SELECT v FROM tam_plan_heap WHERE id = 42;
SET heliosdb.encrypted_row_cost = 0;
EXPLAIN (COSTS OFF) SELECT v FROM tam_plan WHERE id = 42;
RESET heliosdb.encrypted_row_cost;
-- a scan of the whole table stays a sequential scan
EXPLAIN (COSTS OFF) SELECT count(*), max(v) FROM tam_plan;
SELECT v FROM tam_plan WHERE id = 42;
SET heliosdb.encrypted_row_cost = -1;
DROP TABLE tam_plan, tam_plan_heap;
