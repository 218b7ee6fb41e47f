-- heliosdb install script, assembled from sql/install/*.sql by the Makefile.

\echo Use "CREATE EXTENSION heliosdb" to load this file. \quit

-- Group roles are cluster-wide: create each one only if it is missing, and
-- leave them in place when the extension is dropped.
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['heliosdb_admin', 'heliosdb_user',
							 'heliosdb_readonly', 'heliosdb_service']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
