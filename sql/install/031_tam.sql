-- Transparent encryption: the heliosdb_encrypted table access method.

CREATE FUNCTION @extschema@.heliosdb_encrypted_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'hdb_encrypted_handler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD heliosdb_encrypted TYPE TABLE
	HANDLER @extschema@.heliosdb_encrypted_handler;
COMMENT ON ACCESS METHOD heliosdb_encrypted IS
	'heap storage with every row sealed by AES-256-GCM under a per-table data key';

-- Internal: row versions per data key, read from payload headers.
CREATE FUNCTION @extschema@._row_key_ids(regclass, OUT key_id integer,
										 OUT row_count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hdb_row_key_ids'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION @extschema@.encrypt_table(tab regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
			   WHERE c.oid = tab AND a.amname = 'heliosdb_encrypted') THEN
		RAISE NOTICE 'table "%" is already encrypted', tab;
		RETURN;
	END IF;
	EXECUTE format('ALTER %s %s SET ACCESS METHOD heliosdb_encrypted',
				   CASE (SELECT relkind FROM pg_class WHERE oid = tab)
				   WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, tab);
END
$$;

-- A new data key version, then a rewrite of the table that re-encrypts
-- every row with it (and drops the data of dropped columns).  Takes an
-- ACCESS EXCLUSIVE lock, like ALTER TABLE.  Returns the new version.
CREATE FUNCTION @extschema@.rotate_table_key(tab regclass)
RETURNS integer
AS 'MODULE_PATHNAME', 'hdb_rotate_table_key'
LANGUAGE C STRICT VOLATILE;

-- Rotate the key of every encrypted table of the database, committing
-- after each, with one progress NOTICE per table.  No SET clause: a
-- procedure with one cannot commit.
CREATE PROCEDURE @extschema@.rotate_keys()
LANGUAGE plpgsql
AS $$
DECLARE
	tabs pg_catalog.regclass[];
	n integer;
BEGIN
	SELECT pg_catalog.array_agg(c.oid::pg_catalog.regclass ORDER BY c.oid)
	INTO tabs
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_am a ON a.oid = c.relam
	WHERE a.amname OPERATOR(pg_catalog.=) 'heliosdb_encrypted'
	  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m}'::"char"[])
	  AND (c.relpersistence OPERATOR(pg_catalog.<>) 't'
		   OR c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema());
	n := COALESCE(pg_catalog.array_length(tabs, 1), 0);
	IF n OPERATOR(pg_catalog.=) 0 THEN
		RAISE NOTICE 'no encrypted tables';
		RETURN;
	END IF;
	FOR i IN 1 .. n LOOP
		PERFORM @extschema@.rotate_table_key(tabs[i]);
		RAISE NOTICE '[%/%] Rotating key for table ''%''... done', i, n, tabs[i];
		COMMIT;
	END LOOP;
END
$$;

-- Encrypted tables, their data key versions, and how many row versions
-- each key seals; the newest version is the one new rows use.
CREATE FUNCTION @extschema@.encryption_status()
RETURNS TABLE (table_name regclass, key_version integer, is_current boolean,
			   row_count bigint, key_created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH enc AS (
		SELECT c.oid
		FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'heliosdb_encrypted' AND c.relkind IN ('r', 'm')
		  AND (c.relpersistence <> 't' OR c.relnamespace = pg_my_temp_schema())
	), keys AS (
		SELECT k.relid, k.key_id, k.version, k.created_at,
			   k.version = max(k.version) OVER (PARTITION BY k.relid) AS is_current
		FROM @extschema@.table_key k JOIN enc ON enc.oid = k.relid
	), used AS (
		SELECT enc.oid AS relid, u.key_id, u.row_count
		FROM enc CROSS JOIN LATERAL @extschema@._row_key_ids(enc.oid) u
	)
	SELECT enc.oid::regclass, k.version, coalesce(k.is_current, true),
		   coalesce(u.row_count, 0), k.created_at
	FROM enc
	LEFT JOIN keys k ON k.relid = enc.oid
	LEFT JOIN used u ON u.relid = enc.oid AND u.key_id = k.key_id
	ORDER BY enc.oid::regclass::text, k.version
$$;
REVOKE ALL ON FUNCTION @extschema@.encryption_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.encryption_status() TO heliosdb_admin;

-- Logical decoding would send encrypted rows as ciphertext: refuse any
-- publication that would include an encrypted table (directly, through
-- FOR ALL TABLES or TABLES IN SCHEMA, or as a partition), whichever comes
-- first, the publication or the table.
CREATE FUNCTION @extschema@._refuse_published_encryption()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_publication) THEN
		RETURN;
	END IF;
	FOR r IN
		SELECT pt.pubname, l.relid::regclass AS tab
		FROM pg_publication_tables pt
		JOIN pg_namespace n ON n.nspname = pt.schemaname
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
		CROSS JOIN LATERAL (SELECT c.oid AS relid
							UNION SELECT t.relid FROM pg_partition_tree(c.oid) t) l
		JOIN pg_class lc ON lc.oid = l.relid
		JOIN pg_am a ON a.oid = lc.relam
		WHERE a.amname = 'heliosdb_encrypted'
		LIMIT 1
	LOOP
		RAISE EXCEPTION 'encrypted table "%" cannot be published', r.tab
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = format('Publication "%s" would include it, and logical decoding would send its rows as ciphertext.', r.pubname),
				  HINT = 'Leave encrypted tables out of publications, or decrypt the table with ALTER TABLE ... SET ACCESS METHOD heap.';
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._refuse_published_encryption() FROM PUBLIC;

CREATE EVENT TRIGGER heliosdb_refuse_published_encryption
	ON ddl_command_end
	WHEN TAG IN ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'CREATE TABLE',
				 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
	EXECUTE FUNCTION @extschema@._refuse_published_encryption();
