-- Authentication: login sessions.

CREATE FUNCTION @extschema@.logout()
RETURNS void
AS 'MODULE_PATHNAME', 'hdb_logout_sql'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
