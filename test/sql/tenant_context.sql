-- Session security context: set_tenant, reset_context, the readers, and
-- transactional behaviour.  Nothing a client can SET reaches the context.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT heliosdb.tenant_create('ctx-a') AS a_id \gset
SELECT heliosdb.tenant_create('ctx-b') AS b_id \gset

-- No context at first.
SELECT heliosdb.current_tenant_id() IS NULL AS no_tenant_id,
	   heliosdb.current_tenant() IS NULL AS no_tenant,
	   heliosdb.current_user_id() IS NULL AS no_user;
SELECT * FROM heliosdb.session_context();

SELECT heliosdb.set_tenant('ctx-a');
SELECT heliosdb.current_tenant(), heliosdb.current_tenant_id() = :'a_id' AS id_matches;
SELECT source, tenant, tenant_id = :'a_id' AS id_matches, user_id, local, expires_at
FROM heliosdb.session_context();

-- Unknown or malformed tenants are errors, and leave the context alone.
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-nosuch')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('Not A Name')$$);
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant(NULL)$$);
SELECT heliosdb.current_tenant();

-- An aborted transaction undoes its change.
BEGIN;
SELECT heliosdb.set_tenant('ctx-b');
SELECT heliosdb.current_tenant();
ROLLBACK;
SELECT heliosdb.current_tenant() AS after_rollback;

-- local => true ends with the transaction, on commit and on abort.
BEGIN;
SELECT heliosdb.set_tenant('ctx-b', local => true);
SELECT heliosdb.current_tenant(), (heliosdb.session_context()).local;
COMMIT;
SELECT heliosdb.current_tenant() AS after_local_commit;
BEGIN;
SELECT heliosdb.set_tenant('ctx-b', true);
ROLLBACK;
SELECT heliosdb.current_tenant() AS after_local_abort;

-- A session-wide change made after a local one stays; a local change made
-- after a session-wide one ends, leaving the session-wide one.
BEGIN;
SELECT heliosdb.set_tenant('ctx-b', true);
SELECT heliosdb.set_tenant('ctx-b');
COMMIT;
SELECT heliosdb.current_tenant() AS local_then_session;
BEGIN;
SELECT heliosdb.set_tenant('ctx-a');
SELECT heliosdb.set_tenant('ctx-b', true);
COMMIT;
SELECT heliosdb.current_tenant() AS session_then_local;

-- Savepoints.
BEGIN;
SELECT heliosdb.set_tenant('ctx-b');
SAVEPOINT s1;
SELECT heliosdb.set_tenant('ctx-a');
ROLLBACK TO s1;
SELECT heliosdb.current_tenant() AS after_rollback_to;
SAVEPOINT s2;
SELECT heliosdb.reset_context();
RELEASE s2;
SELECT heliosdb.current_tenant() IS NULL AS reset_after_release;
ROLLBACK;
SELECT heliosdb.current_tenant() AS after_outer_rollback;
BEGIN;
SAVEPOINT s1;
SELECT heliosdb.set_tenant('ctx-b');
RELEASE s1;
COMMIT;
SELECT heliosdb.current_tenant() AS after_release_commit;
-- An error inside a PL/pgSQL exception block is a subtransaction abort.
DO $$
BEGIN
	PERFORM heliosdb.set_tenant('ctx-a');
	RAISE division_by_zero;
EXCEPTION WHEN division_by_zero THEN
	NULL;
END $$;
SELECT heliosdb.current_tenant() AS after_exception_block;

-- reset_context.
SELECT heliosdb.reset_context();
SELECT heliosdb.current_tenant_id() IS NULL AS reset, (heliosdb.session_context()).source;

-- No configuration parameter reaches the context.
SELECT pg_temp.outcome($$SET heliosdb.tenant_id = 'ctx-a'$$);
SELECT pg_temp.outcome($$SET heliosdb.tenant = 'ctx-a'$$);
SELECT pg_temp.outcome($$SELECT set_config('heliosdb.current_tenant', 'ctx-a', false)$$);
SELECT heliosdb.current_tenant() IS NULL AS still_none;

-- Only superusers and heliosdb_admin members set the tenant.
CREATE ROLE regress_ctx_plain;
CREATE ROLE regress_ctx_admin IN ROLE heliosdb_admin;
SELECT pg_temp.outcome($$ALTER ROLE regress_ctx_plain SET heliosdb.tenant = 'ctx-a'$$);
SET ROLE regress_ctx_plain;
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-a')$$);
SELECT pg_temp.outcome($$SET heliosdb.tenant = 'ctx-a'$$);
SELECT heliosdb.current_tenant() IS NULL AS plain_has_none;
RESET ROLE;
SET ROLE regress_ctx_admin;
SELECT heliosdb.set_tenant('ctx-b');
SELECT heliosdb.current_tenant() AS admin_set;
RESET ROLE;
-- A context set by an administrator stays when the role changes; the plain
-- role can drop it but not choose another.
SET ROLE regress_ctx_plain;
SELECT heliosdb.current_tenant() AS inherited;
SELECT heliosdb.reset_context();
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-b')$$);
RESET ROLE;
DROP ROLE regress_ctx_plain;
DROP ROLE regress_ctx_admin;

-- Dropping a tenant revokes the contexts that name it.
SELECT heliosdb.set_tenant('ctx-b');
SELECT heliosdb.tenant_drop('ctx-b');
SELECT pg_temp.outcome($$SELECT heliosdb.current_tenant_id()$$);
SELECT pg_temp.outcome($$SELECT heliosdb.current_tenant()$$);
SELECT source, tenant FROM heliosdb.session_context();
SELECT heliosdb.reset_context();
SELECT heliosdb.current_tenant_id() IS NULL AS usable_again;

-- Recreating a tenant under the same name does not revive old contexts.
SELECT heliosdb.set_tenant('ctx-a');
BEGIN;
SELECT heliosdb.tenant_drop('ctx-a');
SELECT heliosdb.tenant_create('ctx-a') <> :'a_id' AS new_id;
COMMIT;
SELECT pg_temp.outcome($$SELECT heliosdb.current_tenant_id()$$);
SELECT heliosdb.reset_context();

-- A transaction that changed the registry cannot be prepared.
BEGIN;
SELECT heliosdb.tenant_drop('ctx-a');
PREPARE TRANSACTION 'regress_hdb_registry';
SELECT count(*) AS not_prepared FROM pg_prepared_xacts WHERE gid = 'regress_hdb_registry';

SELECT heliosdb.tenant_drop('ctx-a');

-- A tenant created by an aborted transaction or savepoint is gone, also for
-- the session that created and used it.
BEGIN;
SELECT heliosdb.tenant_create('ctx-ghost') IS NOT NULL AS created;
SELECT heliosdb.set_tenant('ctx-ghost');
ROLLBACK;
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-ghost')$$);
BEGIN;
SAVEPOINT s;
SELECT heliosdb.tenant_create('ctx-ghost') IS NOT NULL AS created;
SELECT heliosdb.set_tenant('ctx-ghost', true);
ROLLBACK TO s;
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-ghost')$$);
COMMIT;
-- Repeated lookups of one name follow drops and re-creations.
SELECT heliosdb.tenant_create('ctx-again') AS first_id \gset
SELECT heliosdb.set_tenant('ctx-again');
SELECT heliosdb.set_tenant('ctx-again');
SELECT heliosdb.current_tenant_id() = :'first_id' AS first;
SELECT heliosdb.reset_context();
SELECT heliosdb.tenant_drop('ctx-again');
SELECT pg_temp.outcome($$SELECT heliosdb.set_tenant('ctx-again')$$);
SELECT heliosdb.tenant_create('ctx-again') AS second_id \gset
SELECT heliosdb.set_tenant('ctx-again');
SELECT heliosdb.current_tenant_id() = :'second_id' AS second;
SELECT heliosdb.reset_context();
SELECT heliosdb.tenant_drop('ctx-again');
