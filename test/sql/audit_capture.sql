-- Audit capture: each event type with its fields; failed, denied and
-- rolled-back statements; the settings that select what is captured.
SET client_min_messages = warning;
\set VERBOSITY terse

-- Records of this test only: those after the current end of the chain,
-- but not those of the test's own queries on them, which are stored
-- after the query that would show them may have run.
SELECT heliosdb.audit_flush();
SELECT coalesce(max(seq), 0) AS start_seq FROM heliosdb.audit_log \gset

CREATE VIEW audit_seen AS
	SELECT seq - :start_seq AS n, event_type, action, resource, query,
		   result, error_code, rows_affected, role, tenant_id,
		   rls_policies_applied AS policies
	FROM heliosdb.audit_log
	WHERE seq > :start_seq
	  AND coalesce(query, '') NOT LIKE '%audit\_flush%'
	  AND coalesce(query, '') NOT LIKE '%audit\_seen%';

-- Default events: everything but data_access.
SHOW heliosdb.audit_events;
CREATE TABLE audit_items (id int PRIMARY KEY, note text);
INSERT INTO audit_items VALUES (1, 'one'), (2, 'two');
UPDATE audit_items SET note = 'uno' WHERE id = 1;
SELECT count(*) FROM audit_items;			-- data_access: not selected
DELETE FROM audit_items WHERE id = 2;
COPY audit_items FROM stdin;
3	three
\.
TRUNCATE audit_items;
-- A failed statement (error at run time) and a rolled-back one.
INSERT INTO audit_items VALUES (10, 'x'), (10, 'duplicate');
BEGIN;
INSERT INTO audit_items VALUES (7, 'rolled back');
ROLLBACK;
-- A failed utility statement.
CREATE TABLE audit_items (id int);
-- Administrative actions: roles, grants, heliosdb functions.
CREATE ROLE regress_audit_app;
GRANT SELECT, INSERT ON audit_items TO regress_audit_app;
SELECT heliosdb.tenant_create('audit-acme') IS NOT NULL AS created;

SELECT heliosdb.audit_flush();
SELECT n, event_type, action, resource, query, result, error_code,
	   rows_affected, role
FROM audit_seen ORDER BY n;

-- Selecting data_access records SELECT, with rows and duration.
SET heliosdb.audit_events = 'all';
SELECT note FROM audit_items;
SELECT count(*) FROM audit_items WHERE note = 'secret value';
SELECT heliosdb.audit_flush();
SELECT n, event_type, action, resource, query, rows_affected
FROM audit_seen WHERE event_type = 'data_access' ORDER BY n;
SELECT bool_and(duration_ms >= 0) AS durations,
	   bool_and(session_id IS NOT NULL AND request_id LIKE session_id || '.%')
		   AS ids,
	   count(DISTINCT request_id) = count(*) AS one_request_id_each,
	   bool_and(database = current_database()) AS database
FROM heliosdb.audit_log WHERE seq > :start_seq AND event_type <> 'rls_bypass';

-- Authorization: missing grant, RLS WITH CHECK (cross-tenant write),
-- missing USAGE on a schema (refused before the executor).
CREATE TABLE audit_docs (id int, tenant_id uuid NOT NULL
	DEFAULT heliosdb.current_tenant_id(), body text);
GRANT SELECT, INSERT ON audit_docs TO regress_audit_app;
CREATE SCHEMA audit_private;
CREATE TABLE audit_private.t (a int);
CREATE TABLE audit_secret (a int);
SELECT heliosdb.tenant_create('audit-globex') AS globex \gset
SELECT heliosdb.audit_flush();
SELECT max(n) AS mark FROM audit_seen \gset
SELECT heliosdb.set_tenant('audit-acme');
SET ROLE regress_audit_app;
INSERT INTO audit_docs (id, body) VALUES (1, 'mine');
SELECT id, body FROM audit_docs;
INSERT INTO audit_docs (id, tenant_id, body) VALUES (2, :'globex', 'theirs');
SELECT * FROM audit_secret;
SELECT * FROM audit_private.t;
RESET ROLE;
-- A role that bypasses row level security (a superuser) reading it.
SELECT count(*) FROM audit_docs;
SELECT heliosdb.reset_context();

SELECT heliosdb.audit_flush();
SELECT n, event_type, action, resource, query, result, error_code, role,
	   tenant_id, policies
FROM audit_seen WHERE n > :mark ORDER BY n;
SELECT max(n) AS mark FROM audit_seen \gset

-- Excluded roles and a disabled audit record nothing.
SET heliosdb.audit_exclude_roles = 'regress_audit_app';
SET ROLE regress_audit_app;
SELECT count(*) FROM audit_items;
RESET ROLE;
RESET heliosdb.audit_exclude_roles;
SET heliosdb.audit_enabled = off;
INSERT INTO audit_items VALUES (8, 'not audited');
RESET heliosdb.audit_enabled;
-- No query text when audit_log_query_text is off.
SET heliosdb.audit_log_query_text = off;
INSERT INTO audit_items VALUES (9, 'no text');
RESET heliosdb.audit_log_query_text;
SELECT heliosdb.audit_flush();
SELECT n - :mark AS n, event_type, action, query IS NULL AS no_text,
	   rows_affected, role
FROM audit_seen WHERE n > :mark ORDER BY n;

-- Settings are checked.
SET heliosdb.audit_events = 'data_access, bogus';
SET heliosdb.audit_events = 'none';
SHOW heliosdb.audit_events;
RESET heliosdb.audit_events;
SET heliosdb.audit_destination = 'database';
SELECT heliosdb.audit_flush(-1);

-- Nothing was dropped.
SELECT queued >= 0 AS ok, dropped, written <= enqueued AS consistent
FROM heliosdb.audit_stats();

RESET ROLE;

-- The resource follows renames of a relation and of its schema.
SELECT max(n) AS mark FROM audit_seen \gset
CREATE SCHEMA audit_ren;
CREATE TABLE audit_ren.r1 (id int);
INSERT INTO audit_ren.r1 VALUES (1);
ALTER TABLE audit_ren.r1 RENAME TO r2;
INSERT INTO audit_ren.r2 VALUES (2);
ALTER SCHEMA audit_ren RENAME TO "audit ren";
INSERT INTO "audit ren".r2 VALUES (3);
SELECT heliosdb.audit_flush();
SELECT n - :mark AS n, action, resource
FROM audit_seen WHERE n > :mark AND action = 'INSERT' ORDER BY n;
DROP SCHEMA "audit ren" CASCADE;

-- user_id is the session user and role the current role, also when the
-- current role changes from one statement to the next.
SELECT max(n) AS mark FROM audit_seen \gset
CREATE ROLE regress_audit_other;
GRANT INSERT ON audit_items TO regress_audit_other;
SET ROLE regress_audit_app;
INSERT INTO audit_items VALUES (21, 'app');
SET ROLE regress_audit_other;
INSERT INTO audit_items VALUES (22, 'other');
SET ROLE regress_audit_app;
INSERT INTO audit_items VALUES (23, 'app again');
RESET ROLE;
SELECT heliosdb.audit_flush();
SELECT user_id = session_user AS user_id_is_session_user, role, query
FROM heliosdb.audit_log
WHERE seq > :start_seq + :mark AND action = 'INSERT' ORDER BY seq;
REVOKE ALL ON audit_items FROM regress_audit_other;
DROP ROLE regress_audit_other;

DROP VIEW audit_seen;
DROP TABLE audit_items, audit_docs, audit_secret;
DROP SCHEMA audit_private CASCADE;
DROP ROLE regress_audit_app;
SELECT heliosdb.tenant_drop('audit-acme');
SELECT heliosdb.tenant_drop('audit-globex');
