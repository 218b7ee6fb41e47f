-- heliosdb_encrypted: indexes, VACUUM, VACUUM FULL, CLUSTER, ANALYZE,
-- TRUNCATE, ALTER TABLE rewrites, SET ACCESS METHOD both ways, reloptions,
-- and the kinds of relation the access method can back.
\set VERBOSITY terse
CREATE TABLE tam_ddl (id int, k text, n int, pad text)
	USING heliosdb_encrypted;
-- An index built before the load, maintained by inserts.
CREATE INDEX tam_ddl_n ON tam_ddl (n);
INSERT INTO tam_ddl SELECT g, 'k' || g, g % 100, repeat('p', g % 30)
FROM generate_series(1, 3000) g;

-- Indexes built after the load: unique, partial, expression, hash, brin,
-- gin, gist.
CREATE UNIQUE INDEX tam_ddl_id ON tam_ddl (id);
CREATE INDEX tam_ddl_partial ON tam_ddl (k) WHERE n = 7;
CREATE INDEX tam_ddl_expr ON tam_ddl (lower(k || 'X'));
CREATE INDEX tam_ddl_hash ON tam_ddl USING hash (k);
CREATE INDEX tam_ddl_brin ON tam_ddl USING brin (id);
CREATE INDEX tam_ddl_gin ON tam_ddl USING gin (string_to_array(k, 'k'));
CREATE INDEX tam_ddl_gist ON tam_ddl USING gist (int4range(id, id + n, '[]'));
CREATE UNIQUE INDEX tam_ddl_bad ON tam_ddl (n);
INSERT INTO tam_ddl VALUES (1, 'again', 1, '');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM tam_ddl WHERE k = 'k707' AND n = 7;
SELECT id FROM tam_ddl WHERE k = 'k707' AND n = 7;
SELECT count(*) FROM tam_ddl WHERE n = 7;
EXPLAIN (COSTS OFF) SELECT id FROM tam_ddl WHERE lower(k || 'X') = 'k42x';
SELECT id FROM tam_ddl WHERE lower(k || 'X') = 'k42x';
SELECT id FROM tam_ddl WHERE k = 'k2999';
SELECT count(*) FROM tam_ddl WHERE id BETWEEN 10 AND 19;
SELECT id FROM tam_ddl WHERE string_to_array(k, 'k') @> ARRAY['1234'];
EXPLAIN (COSTS OFF) SELECT id FROM tam_ddl WHERE int4range(id, id + n, '[]') @> 2990;
SELECT count(*), min(id), max(id) FROM tam_ddl
WHERE int4range(id, id + n, '[]') @> 2990;
DROP INDEX tam_ddl_gist;
RESET enable_seqscan;

-- amcheck agrees that every row version is in the unique index.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
RESET client_min_messages;
SELECT bt_index_check('tam_ddl_id', true), bt_index_check('tam_ddl_expr', true),
	   bt_index_check('tam_ddl_partial', true);

-- CREATE INDEX CONCURRENTLY (concurrent writers: isolation spec tam_cic).
UPDATE tam_ddl SET pad = pad || 'u' WHERE id % 10 = 0;
CREATE INDEX CONCURRENTLY tam_ddl_cic ON tam_ddl (pad);
CREATE UNIQUE INDEX CONCURRENTLY tam_ddl_cic_u ON tam_ddl (upper(k));
SELECT indisvalid FROM pg_index
WHERE indexrelid IN ('tam_ddl_cic'::regclass, 'tam_ddl_cic_u'::regclass);
SELECT bt_index_check('tam_ddl_cic', true), bt_index_check('tam_ddl_cic_u', true);
INSERT INTO tam_ddl VALUES (5000, 'K42', 1, NULL);
DROP INDEX tam_ddl_cic, tam_ddl_cic_u;

-- VACUUM, ANALYZE, VACUUM FULL, CLUSTER keep every row readable.
DELETE FROM tam_ddl WHERE id % 3 = 0;
VACUUM tam_ddl;
ANALYZE tam_ddl;
SELECT reltuples FROM pg_class WHERE relname = 'tam_ddl';
SELECT attname, n_distinct FROM pg_stats
WHERE tablename = 'tam_ddl' AND attname IN ('id', 'n') ORDER BY attname;
VACUUM (FULL, ANALYZE) tam_ddl;
SELECT count(*), sum(id), sum(n) FROM tam_ddl;
CLUSTER tam_ddl USING tam_ddl_n;
SELECT count(*), sum(id), sum(n) FROM tam_ddl;
SELECT n FROM tam_ddl LIMIT 3;
SELECT id, k FROM tam_ddl WHERE id = 2000;
SELECT bt_index_check('tam_ddl_id', true);

-- ALTER TABLE ... TYPE rewrites into a new relation file, same OID.
SELECT relfilenode AS before_rewrite FROM pg_class WHERE relname = 'tam_ddl' \gset
ALTER TABLE tam_ddl ALTER COLUMN n TYPE bigint, ADD COLUMN extra text DEFAULT 'x';
SELECT relfilenode <> :before_rewrite AS new_file FROM pg_class WHERE relname = 'tam_ddl';
SELECT count(*), sum(id), sum(n), count(extra) FROM tam_ddl;
SELECT id, k, n, extra FROM tam_ddl WHERE id = 2000;
ALTER TABLE tam_ddl ADD COLUMN later int;
ALTER TABLE tam_ddl DROP COLUMN pad;
UPDATE tam_ddl SET later = 5 WHERE id = 2000;
SELECT * FROM tam_ddl WHERE id IN (2000, 2001) ORDER BY id;
SELECT count(*) AS keys_of_table FROM heliosdb.table_key
WHERE relid = 'tam_ddl'::regclass;

-- SET TABLESPACE copies the encrypted pages as they are.
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE tam_ddl_space LOCATION '';
RESET allow_in_place_tablespaces;
ALTER TABLE tam_ddl SET TABLESPACE tam_ddl_space;
SELECT count(*), sum(id) FROM tam_ddl;
SELECT k FROM tam_ddl WHERE id = 1000;
ALTER TABLE tam_ddl SET TABLESPACE pg_default;
DROP TABLESPACE tam_ddl_space;

-- TRUNCATE, then the table is used again.
TRUNCATE tam_ddl;
SELECT count(*) FROM tam_ddl;
INSERT INTO tam_ddl (id, k, n) VALUES (1, 'after truncate', 1);
SELECT id, k FROM tam_ddl;

-- SET ACCESS METHOD both ways.
CREATE TABLE tam_ddl_heap (id int PRIMARY KEY, v text);
INSERT INTO tam_ddl_heap SELECT g, 'v' || g FROM generate_series(1, 500) g;
ALTER TABLE tam_ddl_heap SET ACCESS METHOD heliosdb_encrypted;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname = 'tam_ddl_heap';
SELECT count(*), sum(id) FROM tam_ddl_heap;
SELECT v FROM tam_ddl_heap WHERE id = 250;
ALTER TABLE tam_ddl_heap SET ACCESS METHOD heap;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname = 'tam_ddl_heap';
SELECT count(*), sum(id) FROM tam_ddl_heap;

-- A parallel index rebuild after SET ACCESS METHOD: its workers find the
-- data key that the leader created in the same transaction.
CREATE TABLE tam_ddl_par (id int PRIMARY KEY, v text) WITH (parallel_workers = 2);
INSERT INTO tam_ddl_par SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
SET parallel_setup_cost = 0;
ALTER TABLE tam_ddl_par SET ACCESS METHOD heliosdb_encrypted;
BEGIN;
CREATE TABLE tam_ddl_par2 (id int, v text) USING heliosdb_encrypted
	WITH (parallel_workers = 2);
INSERT INTO tam_ddl_par2 SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX tam_ddl_par2_v ON tam_ddl_par2 (v);
COMMIT;
RESET max_parallel_maintenance_workers;
RESET min_parallel_table_scan_size;
RESET parallel_setup_cost;
SELECT bt_index_check('tam_ddl_par_pkey', true), bt_index_check('tam_ddl_par2_v', true);
SELECT id FROM tam_ddl_par2 WHERE v = md5('777');
DROP TABLE tam_ddl_par, tam_ddl_par2;

-- fillfactor from reloptions is honoured: half-full pages.
CREATE TABLE tam_ddl_ff50 (id int, pad text) USING heliosdb_encrypted
	WITH (fillfactor = 50);
CREATE TABLE tam_ddl_ff100 (id int, pad text) USING heliosdb_encrypted;
INSERT INTO tam_ddl_ff50 SELECT g, repeat('f', 100) FROM generate_series(1, 2000) g;
INSERT INTO tam_ddl_ff100 SELECT g, repeat('f', 100) FROM generate_series(1, 2000) g;
SELECT pg_relation_size('tam_ddl_ff50') > 1.8 * pg_relation_size('tam_ddl_ff100')
	AS fillfactor_used;
ALTER TABLE tam_ddl_ff50 SET (fillfactor = 100);
VACUUM FULL tam_ddl_ff50;
SELECT pg_relation_size('tam_ddl_ff50') = pg_relation_size('tam_ddl_ff100')
	AS fillfactor_reset;

-- Temporary, unlogged and partitioned tables, CREATE TABLE AS, matviews.
CREATE TEMP TABLE tam_ddl_temp (a int) USING heliosdb_encrypted;
INSERT INTO tam_ddl_temp VALUES (1), (2);
SELECT sum(a) FROM tam_ddl_temp;
CREATE UNLOGGED TABLE tam_ddl_unlogged (a int) USING heliosdb_encrypted;
INSERT INTO tam_ddl_unlogged VALUES (3);
SELECT a FROM tam_ddl_unlogged;
CREATE TABLE tam_ddl_parted (a int, b text) PARTITION BY RANGE (a);
CREATE TABLE tam_ddl_part1 PARTITION OF tam_ddl_parted FOR VALUES FROM (0) TO (10)
	USING heliosdb_encrypted;
CREATE TABLE tam_ddl_part2 PARTITION OF tam_ddl_parted FOR VALUES FROM (10) TO (20);
INSERT INTO tam_ddl_parted VALUES (1, 'enc'), (11, 'plain');
UPDATE tam_ddl_parted SET a = 12 WHERE a = 1;
SELECT tableoid::regclass, * FROM tam_ddl_parted ORDER BY a;
CREATE TABLE tam_ddl_ctas USING heliosdb_encrypted AS
	SELECT g AS id FROM generate_series(1, 10) g;
SELECT sum(id) FROM tam_ddl_ctas;
CREATE MATERIALIZED VIEW tam_ddl_mv USING heliosdb_encrypted AS
	SELECT id, id * 2 AS twice FROM tam_ddl_ctas;
REFRESH MATERIALIZED VIEW tam_ddl_mv;
SELECT sum(twice) FROM tam_ddl_mv;

-- Rows from a parallel plan: the data key is made with the table, since a
-- parallel operation cannot write heliosdb.table_key.
CREATE TABLE tam_ddl_src (id int) WITH (parallel_workers = 2);
INSERT INTO tam_ddl_src SELECT generate_series(1, 1000);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF)
CREATE TABLE tam_ddl_pctas USING heliosdb_encrypted AS SELECT id FROM tam_ddl_src;
CREATE TABLE tam_ddl_pctas USING heliosdb_encrypted AS SELECT id FROM tam_ddl_src;
SELECT count(*), sum(id) FROM tam_ddl_pctas;
CREATE MATERIALIZED VIEW tam_ddl_pmv USING heliosdb_encrypted AS
	SELECT id FROM tam_ddl_src;
REFRESH MATERIALIZED VIEW tam_ddl_pmv;
SELECT count(*), sum(id) FROM tam_ddl_pmv;
SET default_table_access_method = heliosdb_encrypted;
SELECT id INTO tam_ddl_pinto FROM tam_ddl_src;
RESET default_table_access_method;
SELECT count(*), sum(id) FROM tam_ddl_pinto;
SELECT count(DISTINCT relid) FROM heliosdb.table_key
WHERE relid IN ('tam_ddl_pctas'::regclass, 'tam_ddl_pmv'::regclass,
				'tam_ddl_pinto'::regclass);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP MATERIALIZED VIEW tam_ddl_pmv;
DROP TABLE tam_ddl_src, tam_ddl_pctas, tam_ddl_pinto;

-- default_table_access_method encrypts every new table.
SET default_table_access_method = heliosdb_encrypted;
CREATE TABLE tam_ddl_default (a int);
RESET default_table_access_method;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname = 'tam_ddl_default';

-- The access method belongs to the extension.
DROP ACCESS METHOD heliosdb_encrypted;

DROP TABLE tam_ddl, tam_ddl_heap, tam_ddl_ff50, tam_ddl_ff100, tam_ddl_temp,
	tam_ddl_unlogged, tam_ddl_parted, tam_ddl_default;
DROP MATERIALIZED VIEW tam_ddl_mv;
DROP TABLE tam_ddl_ctas;
