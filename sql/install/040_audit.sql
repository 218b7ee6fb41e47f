-- Audit: the database sink, its hash chain, retention and queue functions.

-- One row per record, in the order the worker stored them.  seq and the
-- hashes are assigned by _audit_append(); the other columns come from the
-- record's JSON, whose keys are the column names.
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
	CONSTRAINT audit_log_pkey PRIMARY KEY (seq)
);
CREATE INDEX audit_log_timestamp_idx ON @extschema@.audit_log ("timestamp");
CREATE INDEX audit_log_event_type_idx ON @extschema@.audit_log (event_type, "timestamp");
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

-- Digest of a row: SHA-256 of the previous hash and a canonical text form
-- of every stored field (timestamps as epoch, so independent of TimeZone).
CREATE FUNCTION @extschema@._audit_digest(r @extschema@.audit_log)
RETURNS bytea
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.sha256(
		pg_catalog.convert_to(pg_catalog.jsonb_build_array(
			r.seq, extract(epoch FROM r."timestamp"),
			r.event_type, r.user_id, r.tenant_id, r.role,
			r.ip_address::text, r.action, r.resource, r.query, r.params,
			r.result, r.error_code, r.error_message, r.rows_affected,
			r.duration_ms, r.rls_policies_applied, r.request_id,
			r.session_id, r.database)::text, 'UTF8')
		|| COALESCE(r.prev_hash, '\x'::bytea))
$$;
REVOKE ALL ON FUNCTION @extschema@._audit_digest(@extschema@.audit_log) FROM PUBLIC;

-- Called by the worker only: store a batch of JSON records, chain them and
-- advance the stored LSN, in the worker's transaction.
CREATE FUNCTION @extschema@._audit_append(recs text[], lsn pg_lsn,
										  to_table boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	st @extschema@.audit_state;
	r @extschema@.audit_log;
	rec text;
BEGIN
	SELECT * INTO STRICT st FROM @extschema@.audit_state FOR UPDATE;
	IF to_table THEN
		FOREACH rec IN ARRAY recs LOOP
			r := jsonb_populate_record(NULL::@extschema@.audit_log, rec::jsonb);
			st.last_seq := st.last_seq + 1;
			r.seq := st.last_seq;
			r.stored_at := now();
			r.prev_hash := st.last_hash;
			r.hash := @extschema@._audit_digest(r);
			st.last_hash := r.hash;
			INSERT INTO @extschema@.audit_log VALUES (r.*);
		END LOOP;
	END IF;
	UPDATE @extschema@.audit_state
		SET last_seq = st.last_seq, last_hash = st.last_hash,
			stored_lsn = GREATEST(stored_lsn, lsn);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._audit_append(text[], pg_lsn, boolean) FROM PUBLIC;

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

-- Delete records older than "days" days.  Only a prefix of the chain is
-- removed, so that what remains still verifies.  Run by the worker hourly.
CREATE FUNCTION @extschema@.audit_expire(days integer)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keep_from bigint;
	n bigint;
BEGIN
	IF days IS NULL OR days < 1 THEN
		RAISE EXCEPTION 'retention must be at least one day'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT min(seq) INTO keep_from FROM @extschema@.audit_log
		WHERE "timestamp" >= now() - pg_catalog.make_interval(days => days);
	DELETE FROM @extschema@.audit_log
		WHERE "timestamp" < now() - pg_catalog.make_interval(days => days)
		  AND (keep_from IS NULL OR seq < keep_from);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
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
