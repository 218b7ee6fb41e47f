-- Encryption keys: the per-table data keys, wrapped by the master key.
--
-- Every encrypted payload names the key_id that sealed it.  relid is the
-- table that writes with the key (its newest version); old versions stay
-- so that rows they sealed remain readable until rewritten.  The table is
-- deliberately not dumped by pg_dump: a dump holds plaintext rows, which a
-- restore re-encrypts under new data keys.

-- Blocks of row seals handed out to backends, whatever the key: each row
-- is sealed with a random nonce, and a key moves on to a new version before
-- heliosdb.max_rows_per_data_key of them (src/crypto/seal_budget.c).
CREATE SEQUENCE @extschema@.seal_block_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.seal_block_seq FROM PUBLIC;

CREATE TABLE @extschema@.table_key (
	key_id				integer NOT NULL,
	relid				oid NOT NULL,
	version				integer NOT NULL,
	wrapped				bytea NOT NULL,
	master_key_check	text NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- seal_block_seq when the key was made: the blocks of row seals
	-- handed out since bound how many rows it sealed
	seal_mark			bigint NOT NULL
		DEFAULT pg_catalog.nextval('@extschema@.seal_block_seq'),
	CONSTRAINT table_key_pkey PRIMARY KEY (key_id),
	CONSTRAINT table_key_relid_version_key UNIQUE (relid, version),
	CONSTRAINT table_key_wrapped_check CHECK (pg_catalog.length(wrapped) = 60)
) USING heap;
REVOKE ALL ON @extschema@.table_key FROM PUBLIC;

CREATE SEQUENCE @extschema@.table_key_id_seq AS integer
	OWNED BY @extschema@.table_key.key_id;
REVOKE ALL ON SEQUENCE @extschema@.table_key_id_seq FROM PUBLIC;

-- Re-wrap every data key under the master key the keyring yields now; the
-- previous master key comes from heliosdb.keyring_previous_file,
-- heliosdb.keyring_previous_command or HELIOSDB_ENCRYPTION_KEY_PREVIOUS.
CREATE FUNCTION @extschema@.rotate_master_key()
RETURNS integer
AS 'MODULE_PATHNAME', 'hdb_rotate_master_key'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION @extschema@.rotate_master_key() FROM PUBLIC;

-- A dropped table's data keys go with it, so that a new table that happens
-- to get the same OID starts with a key of its own.
CREATE FUNCTION @extschema@._forget_dropped_keys()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.table_key k
	USING pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
	  AND k.relid = d.objid;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._forget_dropped_keys() FROM PUBLIC;

CREATE EVENT TRIGGER heliosdb_forget_dropped_keys ON sql_drop
	EXECUTE FUNCTION @extschema@._forget_dropped_keys();
