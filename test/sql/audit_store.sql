-- How the writer stores records: the parsing of queued records into rows
-- (heliosdb._audit_rows), their chaining, and the day partitions.
SET client_min_messages = warning;
\set VERBOSITY terse
SET TimeZone = 'America/New_York';

-- Every kind of value a record holds, with escapes, parsed into its column.
CREATE TEMP TABLE recs AS
SELECT ARRAY[
  '{"timestamp":"2026-01-31T23:59:58.123456Z","event_type":"data_modification",'
  '"user_id":"u\"1\\","tenant_id":null,"role":"r","ip_address":"10.1.2.3",'
  '"action":"INSERT","resource":"public.t","query":"INSERT INTO t VALUES ($1)\n\t-- \u0001 é",'
  '"params":["[REDACTED]",null],"result":"success","error_code":null,'
  '"error_message":null,"rows_affected":3,"duration_ms":1.250,'
  '"rls_policies_applied":["p1","p\"2",null],"request_id":"s.1",'
  '"session_id":"s","database":"db","unknown_key":{"a":[1,"]"]}}',
  ' { "timestamp" : "2026-02-01T00:00:01.5+00" , "event_type" : "authentication" , "result" : "failure" } '
]::text[] AS a;
SELECT seq, "timestamp", event_type, user_id, tenant_id, ip_address, query,
	   params, rows_affected, duration_ms, rls_policies_applied,
	   prev_hash IS NULL AS first, length(hash) AS hash_len,
	   hash = heliosdb._audit_digest(r) AS hash_ok
FROM recs, heliosdb._audit_rows(recs.a, 41, NULL) AS r;
-- The second row chains to the first; a given chain end is continued.
SELECT bool_and(r2.prev_hash = r1.hash) AS chained
FROM recs,
	 LATERAL (SELECT * FROM heliosdb._audit_rows(recs.a, 41, NULL) WHERE seq = 42) r1,
	 LATERAL (SELECT * FROM heliosdb._audit_rows(recs.a, 41, NULL) WHERE seq = 43) r2;
SELECT seq, prev_hash = '\x0102030405060708091011121314151617181920212223242526272829303132'::bytea AS continues
FROM heliosdb._audit_rows(ARRAY['{"timestamp":"2026-02-01T00:00:00.000000Z","event_type":"x","result":"success"}'],
	 7, '\x0102030405060708091011121314151617181920212223242526272829303132');
-- The digest does not depend on TimeZone or DateStyle.
CREATE TEMP TABLE rows AS
SELECT r.* FROM recs, heliosdb._audit_rows(recs.a, 0, NULL) r;
SELECT bool_and(hash = heliosdb._audit_digest(ROW(r.*)::heliosdb.audit_log)) AS digest_matches FROM rows r;
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'German';
SELECT bool_and(hash = heliosdb._audit_digest(ROW(r.*)::heliosdb.audit_log)) AS digest_matches FROM rows r;
RESET DateStyle;
-- Any changed column changes it.
UPDATE rows SET stored_at = stored_at + interval '1 microsecond' WHERE seq = 1;
UPDATE rows SET rls_policies_applied = '{x}' WHERE seq = 2;
SELECT seq, hash = heliosdb._audit_digest(ROW(r.*)::heliosdb.audit_log) AS digest_matches FROM rows r ORDER BY seq;

-- Damaged records are refused whole.
SELECT * FROM heliosdb._audit_rows(ARRAY['{"timestamp":"2026-02-01T00:00:00Z","event_type":"x"'], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['{"event_type":"x\q","result":"success"}'], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['{"event_type":"x","result":"success"} trailing'], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['{"rows_affected":"many","event_type":"x","result":"success"}'], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['{"event_type":"\ud800","result":"success"}'], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY[NULL]::text[], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['{}'], 0, '\x01');
-- Binary records (what the backend queues) are checked as strictly: cut
-- short, a bad event type or varint, text after the end.
SELECT * FROM heliosdb._audit_rows(ARRAY['\x01'::bytea], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['\x01ff000000000000000000'::bytea], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['\x0100000000000000000000ffffffffffffffffffffff'::bytea], 0, NULL);
SELECT * FROM heliosdb._audit_rows(ARRAY['\x01000000000000000000000000000000000000000000000000000000'::bytea], 0, NULL);
-- The bytea[] form takes JSON records too.
SELECT seq, event_type, result
FROM heliosdb._audit_rows(ARRAY[convert_to('{"timestamp":"2026-02-01T00:00:00.000000Z","event_type":"x","result":"success"}', 'UTF8')], 0, NULL);
-- Random bytes after the binary tag: refused, never anything worse.
DO $$
DECLARE
	refused int := 0;
BEGIN
	PERFORM setseed(0.5);
	FOR i IN 1 .. 3000 LOOP
		BEGIN
			PERFORM * FROM heliosdb._audit_rows(ARRAY['\x01'::bytea ||
				decode(substr(md5(random()::text) || md5(random()::text) ||
							  md5(random()::text), 1, 2 * (1 + (i % 40))), 'hex')],
				0, NULL);
		EXCEPTION WHEN data_corrupted THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE WARNING 'refused: %', refused >= 2900;
END
$$;

-- A statement with quotes, backslashes, tabs and non-ASCII text travels
-- through the queue and the writer unchanged (literals redacted).
CREATE TABLE "odd ""name"" é" (id int, v text);
INSERT INTO "odd ""name"" é"	VALUES (1, E'a\\b') -- "quoted" \ comment
;
SELECT heliosdb.audit_flush();
SELECT query, resource FROM heliosdb.audit_log
WHERE action = 'INSERT' AND resource LIKE '%odd%';
DROP TABLE "odd ""name"" é";

-- Stored records land in the partition of their day (UTC).
CREATE TABLE audit_s (id int);
INSERT INTO audit_s VALUES (1);
SELECT heliosdb.audit_flush();
SELECT tableoid::regclass = ('heliosdb.audit_log_p' ||
		to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD'))::regclass AS in_todays_partition
FROM heliosdb.audit_log WHERE query = 'INSERT INTO audit_s VALUES ($1)';
-- Names a row's partition, today's under a name that does not change.
CREATE FUNCTION pg_temp.partition_of(rel regclass) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN rel::text = 'heliosdb.audit_log_p' ||
				to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')
		   THEN 'today''s partition' ELSE rel::text END
$$;
-- A long statement text is stored compressed; its row still verifies.
\set ECHO none
SELECT format('INSERT INTO audit_s VALUES (3) /* %s */', repeat('x', 6000)) \gexec
\set ECHO all
SELECT heliosdb.audit_flush();
SELECT length(query), pg_column_compression(query) IS NOT NULL AS compressed
FROM heliosdb.audit_log WHERE query LIKE 'INSERT INTO audit_s VALUES ($1) /* xxx%';
SELECT ok, detail FROM heliosdb.audit_verify();
-- A partition made for a day whose rows sit in the default partition
-- takes them over.
SELECT heliosdb._audit_partition('2020-02-02');
SELECT count(*) AS partitions_for_2020_02_02,
	   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_depend d
		   WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass
			 AND d.deptype = 'e')) AS extension_members
FROM pg_class c
WHERE relname = 'audit_log_p20200202' AND relnamespace = 'heliosdb'::regnamespace;
ALTER EXTENSION heliosdb DROP TABLE heliosdb.audit_log_p20200202;
DROP TABLE heliosdb.audit_log_p20200202;
UPDATE heliosdb.audit_log SET "timestamp" = '2020-02-02 12:00+00'
WHERE query = 'INSERT INTO audit_s VALUES ($1)';
INSERT INTO audit_s VALUES (2);
SELECT heliosdb.audit_flush();
SELECT pg_temp.partition_of(tableoid) AS partition FROM heliosdb.audit_log
WHERE query = 'INSERT INTO audit_s VALUES ($1)' ORDER BY seq;
SELECT heliosdb._audit_partition('2020-02-02');
SELECT pg_temp.partition_of(tableoid) AS partition FROM heliosdb.audit_log
WHERE query = 'INSERT INTO audit_s VALUES ($1)' ORDER BY seq;
SELECT heliosdb._audit_partition('2020-02-02');
-- Retention drops a whole old day when its records precede every record
-- kept; here the moved record is in the middle of the chain, so its
-- partition is kept.
SELECT heliosdb.audit_expire(365);
SELECT count(*) AS old_row_kept FROM heliosdb.audit_log_p20200202;
-- Once it is the oldest record, its day goes: the partition is dropped.
DELETE FROM heliosdb.audit_log
WHERE seq < (SELECT seq FROM heliosdb.audit_log_p20200202);
SELECT heliosdb.audit_expire(365) >= 1 AS expired;
SELECT count(*) AS partitions_for_2020_02_02 FROM pg_class
WHERE relname = 'audit_log_p20200202' AND relnamespace = 'heliosdb'::regnamespace;
SELECT count(*) AS old_rows FROM heliosdb.audit_log WHERE "timestamp" < now() - interval '365 days';
SELECT ok, detail FROM heliosdb.audit_verify();
DROP TABLE audit_s;
