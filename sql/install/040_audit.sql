-- Audit: the database sink, its hash chain, retention and queue functions.

-- One row per record, in the order the worker stored them.  seq and the
-- hashes are assigned by _audit_rows(); the other columns come from the
-- record's fields of the same names (the keys of its JSON form).
CREATE TABLE @extschema@.audit_log (
	seq						bigint NOT NULL,
	"timestamp"				timestamptz NOT NULL,
	event_type				text NOT NULL,
	user_id					text,
	tenant_id				text,
	role					text,
	ip_address				inet,
	action					text,
	resource				text,
	query					text,
	params					jsonb,
	result					text NOT NULL,
	error_code				text,
	error_message			text,
	rows_affected			bigint,
	duration_ms				numeric(14,3),
	rls_policies_applied	text[],
	request_id				text,
	session_id				text,
	database				text,
	stored_at				timestamptz NOT NULL DEFAULT pg_catalog.now(),
	prev_hash				bytea,
	hash					bytea NOT NULL,
	CONSTRAINT audit_log_pkey PRIMARY KEY (seq, "timestamp")
) PARTITION BY RANGE ("timestamp");
-- Records arrive in nearly time order: a BRIN index finds time ranges
-- (within a day's partition) at a fraction of a btree's cost per insert.
CREATE INDEX audit_log_timestamp_idx ON @extschema@.audit_log USING brin ("timestamp");
-- One partition per day (UTC), made by the writer before it stores a
-- record of that day, audit_log_pYYYYMMDD; the default partition only
-- takes rows moved there by hand.
CREATE TABLE @extschema@.audit_log_default PARTITION OF @extschema@.audit_log DEFAULT;
REVOKE ALL ON @extschema@.audit_log_default FROM PUBLIC;
REVOKE ALL ON @extschema@.audit_log FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_log TO heliosdb_admin;

-- The writer's position: the chain's end and the end LSN of the last
-- stored record's WAL message (recovery starts there).
CREATE TABLE @extschema@.audit_state (
	id			boolean NOT NULL DEFAULT true,
	last_seq	bigint NOT NULL DEFAULT 0,
	last_hash	bytea,
	stored_lsn	pg_lsn NOT NULL,
	CONSTRAINT audit_state_pkey PRIMARY KEY (id),
	CONSTRAINT audit_state_one_row CHECK (id)
);
INSERT INTO @extschema@.audit_state (stored_lsn)
	VALUES (pg_catalog.pg_current_wal_insert_lsn());
REVOKE ALL ON @extschema@.audit_state FROM PUBLIC;

-- The seed's view of the audit trail.
CREATE VIEW @extschema@.audit_logs AS
	SELECT "timestamp", event_type, user_id, tenant_id, role, ip_address,
		   action, resource, query, params, result, error_code,
		   error_message, rows_affected, duration_ms, rls_policies_applied,
		   request_id, session_id
	FROM @extschema@.audit_log;
REVOKE ALL ON @extschema@.audit_logs FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_logs TO heliosdb_admin;

-- The hash a row must carry: SHA-256 of a canonical form of every column
-- but "hash", prev_hash included (see src/audit/chain.c).
CREATE FUNCTION @extschema@._audit_digest(r @extschema@.audit_log)
RETURNS bytea
AS 'MODULE_PATHNAME', 'hdb_audit_digest'
LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION @extschema@._audit_digest(@extschema@.audit_log) FROM PUBLIC;

-- Called by the writer only: the rows of a batch of records, numbered,
-- stamped and hashed after the chain end (last_seq, last_hash).  The writer
-- passes records as queued (bytea: binary, or JSON text queued by older
-- versions); the text[] form takes JSON records.
CREATE FUNCTION @extschema@._audit_rows(records bytea[], last_seq bigint,
										last_hash bytea)
RETURNS SETOF @extschema@.audit_log
AS 'MODULE_PATHNAME', 'hdb_audit_rows'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@._audit_rows(bytea[], bigint, bytea) FROM PUBLIC;
CREATE FUNCTION @extschema@._audit_rows(records text[], last_seq bigint,
										last_hash bytea)
RETURNS SETOF @extschema@.audit_log
AS 'MODULE_PATHNAME', 'hdb_audit_rows'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@._audit_rows(text[], bigint, bytea) FROM PUBLIC;

-- Called by the writer only: make the partition of audit_log that holds
-- the records of the given day (UTC), audit_log_pYYYYMMDD.  Rows of that day moved into the
-- default partition by hand move into the new partition.
CREATE FUNCTION @extschema@._audit_partition(day date)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	part text := 'audit_log_p' || pg_catalog.to_char(day, 'YYYYMMDD');
	lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
	hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
	IF pg_catalog.to_regclass(pg_catalog.quote_ident('@extschema@') || '.' || part) IS NOT NULL THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.audit_log_default
			   WHERE "timestamp" >= lo AND "timestamp" < hi) THEN
		EXECUTE pg_catalog.format(
			'CREATE TABLE @extschema@.%I (LIKE @extschema@.audit_log INCLUDING DEFAULTS)', part);
		EXECUTE pg_catalog.format(
			'WITH moved AS (DELETE FROM @extschema@.audit_log_default
							WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)
			 INSERT INTO @extschema@.%I SELECT * FROM moved', part) USING lo, hi;
		EXECUTE pg_catalog.format(
			'ALTER TABLE @extschema@.audit_log ATTACH PARTITION @extschema@.%I FOR VALUES FROM (%L) TO (%L)',
			part, lo, hi);
	ELSE
		EXECUTE pg_catalog.format(
			'CREATE TABLE @extschema@.%I PARTITION OF @extschema@.audit_log FOR VALUES FROM (%L) TO (%L)',
			part, lo, hi);
	END IF;
	EXECUTE pg_catalog.format('REVOKE ALL ON @extschema@.%I FROM PUBLIC', part);
	-- A member of the extension, like audit_log itself: dumps leave the
	-- audit trail out, DROP EXTENSION removes it.
	EXECUTE pg_catalog.format('ALTER EXTENSION heliosdb ADD TABLE @extschema@.%I', part);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._audit_partition(date) FROM PUBLIC;

-- Walk the chain from the first record at or after "since" (from the
-- oldest kept record when NULL) and report the first broken link.
CREATE FUNCTION @extschema@.audit_verify(since timestamptz DEFAULT NULL,
										 OUT ok boolean,
										 OUT records_checked bigint,
										 OUT first_broken_seq bigint,
										 OUT detail text)
RETURNS record
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r @extschema@.audit_log;
	prev @extschema@.audit_log;
	start_seq bigint;
BEGIN
	ok := true;
	records_checked := 0;
	SELECT min(seq) INTO start_seq FROM @extschema@.audit_log
		WHERE since IS NULL OR "timestamp" >= since;
	IF start_seq IS NULL THEN
		detail := 'no records';
		RETURN;
	END IF;
	FOR r IN SELECT * FROM @extschema@.audit_log WHERE seq >= start_seq
			 ORDER BY seq
	LOOP
		IF prev.seq IS NOT NULL AND r.seq <> prev.seq + 1 THEN
			ok := false;
			first_broken_seq := prev.seq + 1;
			detail := pg_catalog.format('record %s is missing', prev.seq + 1);
			RETURN;
		END IF;
		IF prev.seq IS NOT NULL AND r.prev_hash IS DISTINCT FROM prev.hash THEN
			ok := false;
			first_broken_seq := r.seq;
			detail := pg_catalog.format('record %s does not chain to record %s',
										r.seq, prev.seq);
			RETURN;
		END IF;
		IF r.hash IS DISTINCT FROM @extschema@._audit_digest(r) THEN
			ok := false;
			first_broken_seq := r.seq;
			detail := pg_catalog.format('record %s does not match its hash', r.seq);
			RETURN;
		END IF;
		records_checked := records_checked + 1;
		prev := r;
	END LOOP;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.audit_state s
				   WHERE s.last_seq = prev.seq
					 AND s.last_hash IS NOT DISTINCT FROM prev.hash) THEN
		ok := false;
		first_broken_seq := prev.seq + 1;
		detail := 'the last records are missing or the chain end was altered';
		RETURN;
	END IF;
	detail := 'ok';
END
$$;
REVOKE ALL ON FUNCTION @extschema@.audit_verify(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_verify(timestamptz) TO heliosdb_admin;

-- Remove records older than "days" days.  Only a prefix of the chain is
-- removed, so that what remains still verifies: a day's partition wholly
-- before the cutoff is dropped when all its records come before the first
-- record kept, and other old records are deleted when they do.  Run by the
-- writer hourly.  Returns the number of records removed.
CREATE FUNCTION @extschema@.audit_expire(days integer)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cutoff timestamptz;
	keep_from bigint;
	part name;
	last_seq bigint;
	n bigint;
	total bigint := 0;
BEGIN
	IF days IS NULL OR days < 1 THEN
		RAISE EXCEPTION 'retention must be at least one day'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Like the writer, take audit_state first: no deadlock with it or with
	-- DROP EXTENSION, and no batch lands while the prefix is chosen.
	PERFORM 1 FROM @extschema@.audit_state FOR UPDATE;
	cutoff := now() - pg_catalog.make_interval(days => days);
	SELECT min(seq) INTO keep_from FROM @extschema@.audit_log
		WHERE "timestamp" >= cutoff;
	FOR part IN
		SELECT c.relname
		FROM pg_catalog.pg_inherits i
			JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = '@extschema@.audit_log'::pg_catalog.regclass
		  AND c.relname ~ '^audit_log_p[0-9]{8}$'
		  AND ((pg_catalog.to_date(pg_catalog.substr(c.relname, 12), 'YYYYMMDD') + 1)::timestamp
			   AT TIME ZONE 'UTC') <= cutoff
		ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('SELECT max(seq), count(*) FROM @extschema@.%I', part)
			INTO last_seq, n;
		IF keep_from IS NULL OR last_seq IS NULL OR last_seq < keep_from THEN
			EXECUTE pg_catalog.format('ALTER EXTENSION heliosdb DROP TABLE @extschema@.%I', part);
			EXECUTE pg_catalog.format('DROP TABLE @extschema@.%I', part);
			total := total + n;
		END IF;
	END LOOP;
	DELETE FROM @extschema@.audit_log
		WHERE "timestamp" < cutoff
		  AND (keep_from IS NULL OR seq < keep_from);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN total + n;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.audit_expire(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_expire(integer) TO heliosdb_admin;

CREATE FUNCTION @extschema@.audit_stats(OUT queued bigint,
										OUT enqueued bigint,
										OUT written bigint,
										OUT dropped bigint,
										OUT recovered bigint,
										OUT waits bigint,
										OUT worker_pid integer)
RETURNS record
AS 'MODULE_PATHNAME', 'hdb_audit_stats'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@.audit_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_stats() TO heliosdb_admin;

CREATE FUNCTION @extschema@.audit_flush(timeout_ms integer DEFAULT 10000)
RETURNS boolean
AS 'MODULE_PATHNAME', 'hdb_audit_flush'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION @extschema@.audit_flush(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audit_flush(integer) TO heliosdb_admin;
