-- Authentication: JWT logins.

CREATE FUNCTION @extschema@.login_jwt(token text, local boolean DEFAULT false)
RETURNS TABLE(user_id text, tenant text, role name, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'hdb_login_jwt'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;

CREATE FUNCTION @extschema@.jwt_claims()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'hdb_jwt_claims'
LANGUAGE C STABLE PARALLEL RESTRICTED;
