-- Administration of encrypted tables: encrypt_table, rotate_table_key,
-- rotate_keys, encryption_status, and the refusal to publish them.
\set VERBOSITY terse
CREATE TABLE tam_admin (id int PRIMARY KEY, v text, gone text);
INSERT INTO tam_admin SELECT g, 'v' || g, 'dropped data' FROM generate_series(1, 200) g;
CREATE INDEX tam_admin_v ON tam_admin (v);

-- encrypt_table: a rewrite into the encrypted access method.
SELECT heliosdb.encrypt_table('tam_admin');
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname = 'tam_admin';
SELECT heliosdb.encrypt_table('tam_admin');
CREATE VIEW tam_admin_view AS SELECT 1 AS one;
SELECT heliosdb.encrypt_table('tam_admin_view');
CREATE TABLE tam_admin_parted (a int) PARTITION BY LIST (a);
SELECT heliosdb.encrypt_table('tam_admin_parted');
SELECT heliosdb.encrypt_table('no_such_table');
SELECT table_name, key_version, is_current, row_count
FROM heliosdb.encryption_status();

-- rotate_table_key: a new version, every row re-encrypted with it.
ALTER TABLE tam_admin DROP COLUMN gone;
SELECT heliosdb.rotate_table_key('tam_admin');
SELECT table_name, key_version, is_current, row_count
FROM heliosdb.encryption_status();
SELECT count(*), sum(id) FROM tam_admin;
SET enable_seqscan = off;
SELECT id FROM tam_admin WHERE v = 'v123';
RESET enable_seqscan;
-- new rows use the new key too
INSERT INTO tam_admin VALUES (1000, 'new');
SELECT table_name, key_version, row_count FROM heliosdb.encryption_status();
SELECT heliosdb.rotate_table_key('tam_admin_view');
CREATE TABLE tam_admin_plain (a int);
SELECT heliosdb.rotate_table_key('tam_admin_plain');
-- only the owner may rotate
CREATE ROLE regress_admin_other;
SET ROLE regress_admin_other;
SELECT heliosdb.rotate_table_key('tam_admin');
SELECT * FROM heliosdb.encryption_status();
SELECT heliosdb.rotate_master_key();
RESET ROLE;

-- rotate_keys: every encrypted table, with progress notices.
CREATE TABLE tam_admin_second (a int) USING heliosdb_encrypted;
INSERT INTO tam_admin_second VALUES (1);
CALL heliosdb.rotate_keys();
SELECT table_name, key_version, row_count FROM heliosdb.encryption_status()
WHERE is_current;
SELECT a FROM tam_admin_second;
BEGIN;
CALL heliosdb.rotate_keys();
ROLLBACK;

-- rotate_master_key with the master key unchanged re-wraps nothing.
SELECT heliosdb.rotate_master_key();

-- Publications never include encrypted tables, whichever comes first.
SET client_min_messages = error;
CREATE PUBLICATION tam_admin_pub FOR TABLE tam_admin;
CREATE PUBLICATION tam_admin_pub FOR TABLE tam_admin_plain;
ALTER PUBLICATION tam_admin_pub ADD TABLE tam_admin_second;
ALTER TABLE tam_admin_plain SET ACCESS METHOD heliosdb_encrypted;
CREATE PUBLICATION tam_admin_all FOR ALL TABLES;
CREATE SCHEMA tam_admin_schema;
CREATE PUBLICATION tam_admin_in_schema FOR TABLES IN SCHEMA tam_admin_schema;
CREATE TABLE tam_admin_schema.t (a int) USING heliosdb_encrypted;
CREATE TABLE tam_admin_schema.p (a int) PARTITION BY LIST (a);
CREATE TABLE tam_admin_schema.p1 PARTITION OF tam_admin_schema.p
	FOR VALUES IN (1) USING heliosdb_encrypted;
RESET client_min_messages;
SELECT pubname FROM pg_publication ORDER BY pubname;
SELECT count(*) AS published_tables FROM pg_publication_tables
WHERE pubname = 'tam_admin_pub';

DROP PUBLICATION tam_admin_pub, tam_admin_in_schema;
DROP SCHEMA tam_admin_schema CASCADE;
DROP VIEW tam_admin_view;
DROP TABLE tam_admin, tam_admin_parted, tam_admin_plain, tam_admin_second;
DROP ROLE regress_admin_other;
