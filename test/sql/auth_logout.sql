-- logout() ends any context, whoever set it, and is open to every role.
\set VERBOSITY terse
SELECT heliosdb.tenant_create('logout-a') IS NOT NULL AS created;
SELECT heliosdb.set_tenant('logout-a');
SELECT heliosdb.logout();
SELECT source, tenant FROM heliosdb.session_context();
CREATE ROLE regress_logout_plain;
SELECT heliosdb.set_tenant('logout-a');
SET ROLE regress_logout_plain;
SELECT heliosdb.logout();
SELECT heliosdb.current_tenant() IS NULL AS logged_out;
RESET ROLE;
-- Inside an aborted transaction the logout is undone, like any change.
SELECT heliosdb.set_tenant('logout-a');
BEGIN;
SELECT heliosdb.logout();
ROLLBACK;
SELECT heliosdb.current_tenant();
SELECT heliosdb.logout();
DROP ROLE regress_logout_plain;
SELECT heliosdb.tenant_drop('logout-a');
