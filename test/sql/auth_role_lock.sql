-- While a token login is active its role is locked: SET ROLE, RESET ROLE,
-- SET SESSION AUTHORIZATION, RESET ALL, DISCARD ALL and set_config('role')
-- are refused (42501) unless heliosdb.lock_role_after_login is off;
-- logout() restores the session user.
\set VERBOSITY terse
\getenv fx HDB_JWT_FIXTURES
\set ECHO none
\i :fx/tokens.psql
\set ECHO all
SET heliosdb.jwt_secret = :'secret';
SELECT heliosdb.tenant_create('jwt-acme') IS NOT NULL AS created;
CREATE ROLE regress_jwt_app;
CREATE ROLE regress_jwt_other;
CREATE TABLE lock_t (v int);
GRANT SELECT ON lock_t TO regress_jwt_app;
CREATE FUNCTION pg_temp.as_postgres() RETURNS name
LANGUAGE sql SET role = postgres AS 'SELECT current_user';

SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SET ROLE regress_jwt_other;
SET ROLE postgres;
SET LOCAL ROLE postgres;
RESET ROLE;
SET SESSION AUTHORIZATION postgres;
SET SESSION AUTHORIZATION DEFAULT;
RESET SESSION AUTHORIZATION;
RESET ALL;
DISCARD ALL;
SELECT current_user;
-- set_config() takes no effect: the login's role stays in force, and the
-- transaction is refused when it goes on or commits, undoing the change.
SELECT set_config('role', 'postgres', false);
SELECT current_user;
SELECT set_config('role', 'postgres', true);
SELECT current_user;
SELECT set_config('role', NULL, false);
SELECT current_user;
SELECT set_config('session_authorization', 'regress_jwt_other', false);
SELECT session_user, current_user;
BEGIN;
SELECT set_config('role', 'regress_jwt_other', false), current_user;
SELECT current_user;
ROLLBACK;
SELECT current_user;
BEGIN;
SELECT set_config('role', NULL, false), current_user;
COMMIT;
SELECT current_user;
-- ... also inside functions, where the rest of the function keeps the
-- login's role.
DO $$
BEGIN
	PERFORM set_config('role', 'postgres', false);
	RAISE NOTICE 'current user: %', current_user;
END
$$;
DO $$
BEGIN
	PERFORM set_config('role', 'postgres', false);
	PERFORM count(*) FROM lock_t;
END
$$;
DO $$
BEGIN
	BEGIN
		PERFORM set_config('role', 'postgres', false);
		PERFORM count(*) FROM lock_t;
	EXCEPTION WHEN insufficient_privilege THEN
		RAISE NOTICE 'caught: %', SQLERRM;
	END;
	RAISE NOTICE 'current user: %', current_user;
END
$$;
-- A function whose SET clause names a role.
SELECT pg_temp.as_postgres();
DO $$
BEGIN
	PERFORM set_config('role', 'postgres', false);
	CREATE TEMP TABLE lock_escape (v int);
END
$$;
SELECT current_user;
-- Other settings are not affected.
SET work_mem = '8MB';
RESET work_mem;
SELECT count(*) FROM lock_t;
-- Logging in again with another token is allowed.
SELECT user_id FROM heliosdb.login_jwt(:'minimal');
SELECT current_user;
SELECT heliosdb.logout();
SELECT current_user;
SET ROLE regress_jwt_other;
RESET ROLE;

-- A local login locks the role until the transaction ends.
BEGIN;
SELECT user_id FROM heliosdb.login_jwt(:'hs256', local => true);
SET ROLE postgres;
ROLLBACK;
SET ROLE regress_jwt_other;
RESET ROLE;

-- With heliosdb.lock_role_after_login off, role changes are allowed.
SET heliosdb.lock_role_after_login = off;
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SET ROLE regress_jwt_other;
SELECT current_user;
SELECT set_config('role', 'regress_jwt_app', false);
SELECT heliosdb.logout();
SELECT current_user;
RESET heliosdb.lock_role_after_login;

-- Contexts set by set_tenant() lock nothing.
SELECT heliosdb.set_tenant('jwt-acme');
SET ROLE regress_jwt_other;
RESET ROLE;
SELECT heliosdb.logout();

DROP TABLE lock_t;
DROP ROLE regress_jwt_other;
DROP ROLE regress_jwt_app;
SELECT heliosdb.tenant_drop('jwt-acme');
