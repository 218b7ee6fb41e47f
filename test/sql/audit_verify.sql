-- Tamper evidence (audit_verify), retention (audit_expire) and who may
-- read the audit trail.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE TABLE audit_v (id int);
INSERT INTO audit_v VALUES (1);
INSERT INTO audit_v VALUES (2);
UPDATE audit_v SET id = 3 WHERE id = 2;
SELECT heliosdb.audit_flush();
SELECT ok, records_checked > 0 AS checked, first_broken_seq, detail
FROM heliosdb.audit_verify();

-- An edited row breaks the chain at that row; putting it back mends it.
SELECT seq AS victim, query AS original FROM heliosdb.audit_log
WHERE query = 'INSERT INTO audit_v VALUES ($1)' ORDER BY seq LIMIT 1 \gset
UPDATE heliosdb.audit_log SET query = 'SELECT 1' WHERE seq = :victim;
SELECT ok, first_broken_seq = :victim AS at_victim, detail LIKE '%does not match its hash' AS why
FROM heliosdb.audit_verify();
UPDATE heliosdb.audit_log SET query = :'original' WHERE seq = :victim;
SELECT ok FROM heliosdb.audit_verify();

-- A deleted row in the middle is found.
CREATE TEMP TABLE audit_saved AS SELECT * FROM heliosdb.audit_log WHERE seq = :victim;
DELETE FROM heliosdb.audit_log WHERE seq = :victim;
SELECT ok, first_broken_seq = :victim AS at_victim, detail LIKE '%missing' AS why
FROM heliosdb.audit_verify();
INSERT INTO heliosdb.audit_log SELECT * FROM audit_saved;
-- A recomputed hash does not help: the next row no longer chains to it.
UPDATE heliosdb.audit_log SET query = 'SELECT 1' WHERE seq = :victim;
UPDATE heliosdb.audit_log l SET hash = heliosdb._audit_digest(l) WHERE seq = :victim;
SELECT ok, first_broken_seq = :victim + 1 AS after_victim, detail LIKE '%does not chain%' AS why
FROM heliosdb.audit_verify();
UPDATE heliosdb.audit_log l SET query = s.query, hash = s.hash
FROM audit_saved s WHERE l.seq = s.seq;
SELECT ok, detail FROM heliosdb.audit_verify();
-- "since" starts the walk later.
SELECT ok, records_checked = 0 AS none, detail
FROM heliosdb.audit_verify(now() + interval '1 day');
SELECT ok, records_checked > 0 AS some FROM heliosdb.audit_verify(now() - interval '1 day');

-- Retention removes only an old prefix, so the rest still verifies.
SELECT min(seq) AS first_seq, max(seq) AS last_seq FROM heliosdb.audit_log \gset
SELECT "timestamp" AS mid_ts FROM heliosdb.audit_log WHERE seq = :last_seq - 1 \gset
UPDATE heliosdb.audit_log SET "timestamp" = now() - interval '400 days'
WHERE seq < :first_seq + 2 OR seq = :last_seq - 1;
SELECT heliosdb.audit_expire(365);
SELECT min(seq) = :first_seq + 2 AS prefix_removed,
	   count(*) FILTER (WHERE seq = :last_seq - 1) AS old_row_in_the_middle_kept
FROM heliosdb.audit_log;
UPDATE heliosdb.audit_log SET "timestamp" = :'mid_ts' WHERE seq = :last_seq - 1;
SELECT ok, detail FROM heliosdb.audit_verify();
SELECT heliosdb.audit_expire(0);

-- Only heliosdb_admin (and superusers) read the trail and call its functions.
CREATE ROLE regress_audit_tenant;
CREATE ROLE regress_audit_admin IN ROLE heliosdb_admin;
SET ROLE regress_audit_tenant;
SELECT count(*) FROM heliosdb.audit_log;
SELECT count(*) FROM heliosdb.audit_logs;
SELECT * FROM heliosdb.audit_verify();
SELECT heliosdb.audit_flush();
SELECT dropped FROM heliosdb.audit_stats();
INSERT INTO heliosdb.audit_log (seq, "timestamp", event_type, result, hash)
	VALUES (-1, now(), 'x', 'x', '\x00');
DELETE FROM heliosdb.audit_log;
RESET ROLE;
SET ROLE regress_audit_admin;
SELECT count(*) > 0 AS readable FROM heliosdb.audit_logs;
SELECT ok FROM heliosdb.audit_verify();
DELETE FROM heliosdb.audit_log;
RESET ROLE;

DROP ROLE regress_audit_tenant, regress_audit_admin;
DROP TABLE audit_v;
