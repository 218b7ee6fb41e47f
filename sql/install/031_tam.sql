-- Transparent encryption: the heliosdb_encrypted table access method.

CREATE FUNCTION @extschema@.heliosdb_encrypted_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'hdb_encrypted_handler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD heliosdb_encrypted TYPE TABLE
	HANDLER @extschema@.heliosdb_encrypted_handler;
COMMENT ON ACCESS METHOD heliosdb_encrypted IS
	'heap storage with every row sealed by AES-256-GCM under a per-table data key';
