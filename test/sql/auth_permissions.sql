-- Permission words of a token login restrict the session on top of SQL
-- privileges: read, write, delete, create_table, create_view, "*".
\set VERBOSITY terse
\getenv fx HDB_JWT_FIXTURES
\set ECHO none
\i :fx/tokens.psql
\set ECHO all
SET heliosdb.jwt_secret = :'secret';
SELECT heliosdb.tenant_create('jwt-acme') IS NOT NULL AS created;
CREATE ROLE regress_jwt_app;
CREATE SCHEMA perm_s;
GRANT ALL ON SCHEMA perm_s TO regress_jwt_app;
CREATE TABLE perm_s.t (id int PRIMARY KEY, v text);
INSERT INTO perm_s.t VALUES (1, 'one'), (2, 'two');
GRANT ALL ON perm_s.t TO regress_jwt_app;
CREATE VIEW perm_s.v AS SELECT id FROM perm_s.t;
GRANT ALL ON perm_s.v TO regress_jwt_app;
SET search_path = perm_s, public;

-- read only: SELECT, nothing else, even where SQL grants allow it.
SELECT user_id FROM heliosdb.login_jwt(:'perm_read');
SELECT count(*) FROM t;
SELECT count(*) FROM v;
INSERT INTO t VALUES (3, 'three');
UPDATE t SET v = 'uno' WHERE id = 1;
DELETE FROM t WHERE id = 2;
TRUNCATE t;
COPY t FROM stdin;
4	four
\.
COPY t TO stdout;
CREATE TABLE t2 (a int);
CREATE TABLE t3 AS SELECT 1 AS a;
SELECT 1 AS a INTO t4;
CREATE VIEW v2 AS SELECT 1 AS a;
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a;
CREATE INDEX ON t (v);
DROP TABLE t;
-- Session, transaction and catalog statements need no permission.
BEGIN;
SET LOCAL work_mem = '8MB';
SHOW work_mem;
COMMIT;
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE id = 1;
EXPLAIN (COSTS OFF) DELETE FROM t;
SELECT count(*) > 0 AS catalog_readable FROM pg_class;
SELECT heliosdb.current_tenant();
SELECT heliosdb.logout();

-- write: INSERT, UPDATE, MERGE, COPY FROM.
SELECT user_id FROM heliosdb.login_jwt(:'perm_write');
INSERT INTO t VALUES (3, 'three');
UPDATE t SET v = 'uno' WHERE id = 1;
MERGE INTO t USING (VALUES (5, 'five')) s(id, v) ON t.id = s.id
	WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);
MERGE INTO t USING (VALUES (5)) s(id) ON t.id = s.id
	WHEN MATCHED THEN DELETE;
COPY t FROM stdin;
4	four
\.
DELETE FROM t WHERE id = 4;
TRUNCATE t;
SELECT heliosdb.logout();

-- delete: DELETE and TRUNCATE.
SELECT user_id FROM heliosdb.login_jwt(:'perm_delete');
DELETE FROM t WHERE id = 4;
INSERT INTO t VALUES (6, 'six');
SELECT heliosdb.logout();
SELECT id, v FROM t ORDER BY id;
SELECT user_id FROM heliosdb.login_jwt(:'perm_delete');
BEGIN;
TRUNCATE t;
ROLLBACK;
SELECT heliosdb.logout();

-- create_table: CREATE TABLE, CREATE TABLE AS, SELECT INTO.
SELECT user_id FROM heliosdb.login_jwt(:'perm_create_table');
CREATE TABLE t2 (a int);
CREATE TABLE t3 AS SELECT 1 AS a;
SELECT 1 AS a INTO t4;
CREATE VIEW v2 AS SELECT 1 AS a;
DROP TABLE t2;
SELECT heliosdb.logout();
-- A new table with a tenant_id column is isolated automatically, and the
-- statements that isolation runs are not refused.
SELECT user_id FROM heliosdb.login_jwt(:'perm_create_table');
CREATE TABLE t5 (id int, tenant_id uuid);
SELECT heliosdb.logout();
SELECT relrowsecurity FROM pg_class WHERE oid = 'perm_s.t5'::regclass;

-- create_view: CREATE VIEW, CREATE MATERIALIZED VIEW.
SELECT user_id FROM heliosdb.login_jwt(:'perm_create_view');
CREATE VIEW v2 AS SELECT 1 AS a;
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a;
CREATE TABLE t6 (a int);
SELECT heliosdb.logout();

-- An empty set allows nothing; "*" everything (within SQL privileges).
SELECT user_id FROM heliosdb.login_jwt(:'perm_none');
SELECT count(*) FROM t;
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'perm_star');
SELECT count(*) FROM t;
DELETE FROM t WHERE id = 6;
CREATE TABLE t7 (a int);
CREATE INDEX t7_a_idx ON t7 (a);
DROP TABLE t7;
SELECT heliosdb.logout();
-- No permissions claim: SQL privileges alone decide.
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SELECT count(*) FROM t;
DELETE FROM t WHERE id = 3;
SELECT heliosdb.logout();

-- Views owned by others are checked at the view, functions running with
-- their owner's rights are not restricted.
CREATE FUNCTION perm_s.definer_count() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = perm_s
AS 'SELECT count(*) FROM t';
SELECT user_id FROM heliosdb.login_jwt(:'perm_none');
SELECT perm_s.definer_count();
SELECT count(*) FROM v;
SELECT heliosdb.logout();

-- Without a token login nothing is restricted.
SELECT count(*) FROM t;

RESET search_path;
DROP SCHEMA perm_s CASCADE;
DROP ROLE regress_jwt_app;
SELECT heliosdb.tenant_drop('jwt-acme');
