-- heliosdb_encrypted: DML, RETURNING system columns, ON CONFLICT, MERGE,
-- COPY both ways, row locks, foreign keys, TOAST and every scan path.
\set VERBOSITY terse
CREATE TABLE tam_dml (id int PRIMARY KEY, v text, n numeric)
	USING heliosdb_encrypted;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname = 'tam_dml';

-- INSERT ... RETURNING system columns: xmin is the inserting transaction.
BEGIN;
INSERT INTO tam_dml VALUES (1, 'one', 1.5), (2, 'two', NULL), (3, NULL, 3)
	RETURNING id, ctid, xmin::text = pg_current_xact_id()::text AS xmin_is_mine,
			  xmax::text = '0' AS no_xmax, tableoid::regclass;
COMMIT;
SELECT * FROM tam_dml ORDER BY id;

-- UPDATE and DELETE with RETURNING.
BEGIN;
UPDATE tam_dml SET v = 'uno' WHERE id = 1
	RETURNING id, v, ctid <> '(0,1)' AS moved,
			  xmin::text = pg_current_xact_id()::text AS xmin_is_mine;
COMMIT;
DELETE FROM tam_dml WHERE id = 2 RETURNING *;
SELECT * FROM tam_dml ORDER BY id;

-- ON CONFLICT: DO NOTHING, DO UPDATE, and a unique violation.
INSERT INTO tam_dml VALUES (1, 'dup', 0) ON CONFLICT DO NOTHING;
INSERT INTO tam_dml VALUES (1, 'dup', 0), (4, 'four', 4)
	ON CONFLICT (id) DO UPDATE SET v = tam_dml.v || '+' || excluded.v
	RETURNING *;
INSERT INTO tam_dml VALUES (1, 'again', 0);
SELECT * FROM tam_dml ORDER BY id;

-- Under REPEATABLE READ, ON CONFLICT checks the conflicting row is visible.
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO tam_dml VALUES (4, 'four', 4)
	ON CONFLICT (id) DO UPDATE SET v = 'rr ' || excluded.v RETURNING *;
INSERT INTO tam_dml VALUES (4, 'four', 4)
	ON CONFLICT (id) DO UPDATE SET v = 'rr again' RETURNING *;
ROLLBACK;

-- MERGE.
MERGE INTO tam_dml t USING (VALUES (3, 'three'), (5, 'five')) s(id, v)
	ON t.id = s.id
	WHEN MATCHED THEN UPDATE SET v = s.v
	WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v, s.id);
SELECT * FROM tam_dml ORDER BY id;

-- COPY in and out.
COPY tam_dml FROM STDIN;
10	ten	10.5
11	\N	11
12	twelve	\N
\.
COPY tam_dml TO STDOUT;
COPY (SELECT id, v FROM tam_dml WHERE id >= 10 ORDER BY id) TO STDOUT (FORMAT csv);
COPY tam_dml FROM STDIN;
10	duplicate	0
\.
SELECT count(*) FROM tam_dml;

-- Bulk load through COPY's multi-insert path, then read back.
CREATE TABLE tam_dml_bulk (id int, payload text) USING heliosdb_encrypted;
COPY tam_dml_bulk (id) FROM PROGRAM 'seq 1 5000';
SELECT count(*), sum(id), count(payload) FROM tam_dml_bulk;
UPDATE tam_dml_bulk SET payload = md5(id::text);
INSERT INTO tam_dml_bulk SELECT g, md5(g::text) FROM generate_series(5001, 10000) g;
SELECT count(*), sum(id), count(DISTINCT payload) FROM tam_dml_bulk;

-- Row locks and foreign keys.
CREATE TABLE tam_dml_child (id int REFERENCES tam_dml (id) ON DELETE CASCADE)
	USING heliosdb_encrypted;
INSERT INTO tam_dml_child VALUES (1), (3);
INSERT INTO tam_dml_child VALUES (99);
BEGIN;
SELECT id, v FROM tam_dml WHERE id = 1 FOR UPDATE;
SELECT id, v FROM tam_dml WHERE id = 3 FOR SHARE;
SELECT id FROM tam_dml WHERE id = 4 FOR NO KEY UPDATE SKIP LOCKED;
COMMIT;
DELETE FROM tam_dml WHERE id = 3;
SELECT * FROM tam_dml_child ORDER BY id;

-- Values large enough to be compressed and moved to TOAST.
INSERT INTO tam_dml VALUES (20, repeat('compressible ', 20000), 20),
	(21, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g), 21);
SELECT id, length(v), md5(v) FROM tam_dml WHERE id >= 20 ORDER BY id;
SELECT pg_relation_size(reltoastrelid) > 0 AS toast_used,
	   (SELECT a.amname FROM pg_class t JOIN pg_am a ON a.oid = t.relam
		WHERE t.oid = c.reltoastrelid) AS toast_am
FROM pg_class c WHERE relname = 'tam_dml';
UPDATE tam_dml SET n = 22 WHERE id = 21 RETURNING id, md5(v);

-- Scan paths: index, bitmap, TID, TID range, sample, parallel.
CREATE INDEX tam_dml_bulk_id ON tam_dml_bulk (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM tam_dml_bulk WHERE id = 4242;
SELECT * FROM tam_dml_bulk WHERE id = 4242;
SELECT * FROM tam_dml_bulk WHERE id = 7777;
SELECT count(*) FROM tam_dml_bulk WHERE id BETWEEN 100 AND 199;
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM tam_dml_bulk WHERE id < 50;
SELECT count(*), sum(id) FROM tam_dml_bulk WHERE id < 50;
RESET enable_indexscan;
RESET enable_seqscan;
SELECT id FROM tam_dml_bulk
WHERE ctid = (SELECT ctid FROM tam_dml_bulk WHERE id = 4242);
EXPLAIN (COSTS OFF) SELECT count(*) FROM tam_dml_bulk WHERE ctid >= '(0,0)' AND ctid < '(100000,0)';
SELECT count(*) FROM tam_dml_bulk WHERE ctid >= '(0,0)' AND ctid < '(100000,0)';
SELECT count(*) > 0 AS sampled FROM tam_dml_bulk TABLESAMPLE SYSTEM (50) REPEATABLE (7);
SELECT count(*) > 0 AS sampled FROM tam_dml_bulk TABLESAMPLE BERNOULLI (10) REPEATABLE (7);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM tam_dml_bulk WHERE payload LIKE '1%';
SELECT count(*), sum(id) FROM tam_dml_bulk WHERE payload LIKE '1%';
RESET ALL;

-- A cursor moving backwards and a join.
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM tam_dml WHERE id < 10;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
FETCH LAST FROM c;
COMMIT;
SELECT d.id, count(c.id) FROM tam_dml d LEFT JOIN tam_dml_child c USING (id)
GROUP BY d.id ORDER BY d.id;

-- Sequential scans decrypt the rows of a page together: a cursor that moves
-- both ways across many pages, and scans restarted inside a page, read the
-- same rows as heap would.  Rows were inserted in id order, so they are
-- scanned in it.
CREATE TABLE tam_dml_scroll (id int, pad text) USING heliosdb_encrypted;
INSERT INTO tam_dml_scroll SELECT g, repeat('x', g % 50) FROM generate_series(1, 2000) g;
SELECT count(DISTINCT (ctid::text::point)[0]) > 10 AS many_pages FROM tam_dml_scroll;
BEGIN;
DECLARE s SCROLL CURSOR FOR SELECT id, length(pad) FROM tam_dml_scroll;
FETCH 3 FROM s;
FETCH ABSOLUTE 1000 FROM s;
FETCH BACKWARD 2 FROM s;
FETCH LAST FROM s;
FETCH BACKWARD 3 FROM s;
MOVE ABSOLUTE 0 IN s;
FETCH 2 FROM s;
FETCH RELATIVE 500 FROM s;
COMMIT;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT g, x.id FROM generate_series(1, 3) g,
	LATERAL (SELECT id FROM tam_dml_scroll WHERE id % 500 = g LIMIT 2) x
ORDER BY g, x.id;
RESET ALL;
DROP TABLE tam_dml_scroll;

DROP TABLE tam_dml_child, tam_dml, tam_dml_bulk;

-- Row shapes of payload format 2: no nulls, nulls, 32 and more attributes
-- (a two-byte row descriptor), with and without nulls, all read back equal
-- to heap's rows through sequential and index scans and after an update.
SELECT format('CREATE TABLE %I (%s) USING %s', t,
			  string_agg(format('c%s %s', i,
								CASE WHEN i % 3 = 0 THEN 'text' ELSE 'int' END),
						 ', ' ORDER BY i), am)
FROM (VALUES ('tam_dml_wide_h', 'heap'),
			 ('tam_dml_wide_e', 'heliosdb_encrypted')) v(t, am),
	 generate_series(1, 40) i
GROUP BY t, am ORDER BY t \gexec
INSERT INTO tam_dml_wide_h
SELECT r, NULLIF(r, 2), 'x' || r,
	   r, r, CASE WHEN r % 2 = 0 THEN NULL ELSE 'y' END
FROM generate_series(1, 4) r;
SELECT format('INSERT INTO tam_dml_wide_h VALUES (%s)',
			  string_agg(CASE WHEN i % 3 = 0 THEN quote_literal('v' || i)
						 ELSE (100 + i)::text END, ', ' ORDER BY i))
FROM generate_series(1, 40) i \gexec
INSERT INTO tam_dml_wide_e SELECT * FROM tam_dml_wide_h;
UPDATE tam_dml_wide_h SET c39 = 'z' || c1, c31 = NULL WHERE c1 IN (3, 4);
UPDATE tam_dml_wide_e SET c39 = 'z' || c1, c31 = NULL WHERE c1 IN (3, 4);
CREATE INDEX ON tam_dml_wide_e (c1);
SELECT (SELECT array_agg(h::text ORDER BY c1) FROM tam_dml_wide_h h) =
	   (SELECT array_agg(e::text ORDER BY c1) FROM tam_dml_wide_e e)
	   AS wide_rows_equal;
SET enable_seqscan = off;
SELECT c1, c2, c3, c6, c31, c39, c40 FROM tam_dml_wide_e WHERE c1 IN (3, 101)
ORDER BY c1;
RESET enable_seqscan;
CREATE TABLE tam_dml_narrow (a int, b text, c int) USING heliosdb_encrypted;
INSERT INTO tam_dml_narrow VALUES (1, NULL, 3), (NULL, 'x', NULL), (5, 'yy', 6);
ALTER TABLE tam_dml_narrow ADD COLUMN d int DEFAULT 7;
INSERT INTO tam_dml_narrow VALUES (9, 'z', NULL, NULL);
SELECT * FROM tam_dml_narrow ORDER BY a NULLS FIRST;
DROP TABLE tam_dml_wide_h, tam_dml_wide_e, tam_dml_narrow;
