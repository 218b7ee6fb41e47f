-- quota_exceeded: a statement refused with a quota SQLSTATE (53100 storage
-- quota, 53400 rate limit) is recorded as quota_exceeded, result denied,
-- whichever module raised it; other errors stay failures.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE FUNCTION audit_refuse(code text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'refused by a test' USING ERRCODE = code;
END
$$;
CREATE TABLE audit_q (a int);
SELECT heliosdb.audit_flush();
SELECT coalesce(max(seq), 0) AS start_seq FROM heliosdb.audit_log \gset
INSERT INTO audit_q SELECT audit_refuse('53100') FROM (VALUES (1)) v;
INSERT INTO audit_q SELECT audit_refuse('53400') FROM (VALUES (1)) v;
INSERT INTO audit_q SELECT audit_refuse('22012') FROM (VALUES (1)) v;
-- Not selected: not recorded.
SET heliosdb.audit_events = 'data_modification';
INSERT INTO audit_q SELECT audit_refuse('53100') FROM (VALUES (1)) v;
RESET heliosdb.audit_events;
SELECT heliosdb.audit_flush();
SELECT seq - :start_seq AS n, event_type, action, result, error_code,
	   error_message
FROM heliosdb.audit_log
WHERE seq > :start_seq AND event_type <> 'authentication'
  AND query NOT LIKE '%audit\_flush%'
ORDER BY seq;
DROP TABLE audit_q;
DROP FUNCTION audit_refuse(text);
