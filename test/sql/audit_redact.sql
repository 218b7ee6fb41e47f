-- Redaction: literals become placeholders (core scanner), passwords, API
-- keys and tokens are never stored, whatever heliosdb.audit_redact says.
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT heliosdb.audit_flush();
SELECT coalesce(max(seq), 0) AS start_seq FROM heliosdb.audit_log \gset

CREATE TABLE audit_secrets (id int, card text, amount numeric);
-- Strings, numbers, escape and dollar-quoted strings, bit strings; a
-- comment and an identifier that look like literals stay.
INSERT INTO audit_secrets VALUES (1, '4111-1111-1111-1111', 12.50),
	(2, E'it\'s secret', -3), (3, $q$dollar 'quoted'$q$, 1e3);
UPDATE audit_secrets /* 'comment' */ SET card = B'1010'::text WHERE "id" = 1;
-- EXECUTE is recorded with its own text.
PREPARE audit_p(int) AS UPDATE audit_secrets SET amount = 7 WHERE id = $1;
EXECUTE audit_p(2);
-- Passwords: redacted even with audit_redact off.
CREATE ROLE regress_audit_pw PASSWORD 'hunter2-topsecret';
SET heliosdb.audit_redact = off;
ALTER ROLE regress_audit_pw PASSWORD 'hunter3-topsecret';
-- With redaction off other literals show, but not API keys and tokens.
INSERT INTO audit_secrets VALUES (4, 'visible literal', 1);
INSERT INTO audit_secrets VALUES (5, 'hdb_sk_live_0123456789abcdef', 2);
INSERT INTO audit_secrets VALUES (6, 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl', 3);
-- A key in an error message is scrubbed too.
UPDATE audit_secrets SET amount = card::numeric WHERE id = 5;
RESET heliosdb.audit_redact;
SELECT heliosdb.audit_flush();

SELECT seq - :start_seq AS n, event_type, action, query, error_message
FROM heliosdb.audit_log
WHERE seq > :start_seq AND query NOT LIKE '%audit\_flush%'
ORDER BY seq;

-- None of the secrets is anywhere in the stored records.
SELECT count(*) AS leaks
FROM heliosdb.audit_log a
WHERE a.seq > :start_seq
  AND (a::text LIKE '%4111-1111%' OR a::text LIKE '%topsecret%'
	   OR a::text LIKE '%hdb\_sk\_live%' OR a::text LIKE '%eyJhbGci%'
	   OR a::text LIKE '%it''s secret%');

DEALLOCATE audit_p;
DROP TABLE audit_secrets;
DROP ROLE regress_audit_pw;
