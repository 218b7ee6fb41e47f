-- pgTAP: the audit trail's SQL interface, its privileges, and the seed's
-- example audit queries, which must run unchanged.
BEGIN;
SELECT plan(45);

-- Objects.
SELECT has_table('heliosdb', 'audit_log', 'audit table exists');
SELECT has_view('heliosdb', 'audit_logs', 'seed view exists');
SELECT columns_are('heliosdb', 'audit_logs',
	ARRAY['timestamp', 'event_type', 'user_id', 'tenant_id', 'role',
		  'ip_address', 'action', 'resource', 'query', 'params', 'result',
		  'error_code', 'error_message', 'rows_affected', 'duration_ms',
		  'rls_policies_applied', 'request_id', 'session_id'],
	'audit_logs has exactly the seed''s columns');
SELECT col_type_is('heliosdb', 'audit_logs', 'timestamp', 'timestamp with time zone', 'timestamp is timestamp with time zone');
SELECT col_type_is('heliosdb', 'audit_logs', 'ip_address', 'inet', 'ip_address is inet');
SELECT col_type_is('heliosdb', 'audit_logs', 'params', 'jsonb', 'params is jsonb');
SELECT col_type_is('heliosdb', 'audit_logs', 'rls_policies_applied', 'text[]', 'rls_policies_applied is text[]');
SELECT col_type_is('heliosdb', 'audit_logs', 'rows_affected', 'bigint', 'rows_affected is bigint');
SELECT col_is_pk('heliosdb', 'audit_log', ARRAY['seq', 'timestamp'], 'records are numbered');
SELECT is_partitioned('heliosdb', 'audit_log', 'audit table is partitioned');
SELECT isnt_empty($$SELECT 1 FROM pg_partitioned_table p
				   WHERE p.partrelid = 'heliosdb.audit_log'::regclass
					 AND p.partstrat = 'r'$$, 'partitioned by range');
SELECT is_partition_of('heliosdb', 'audit_log_default', 'heliosdb', 'audit_log',
	'a default partition takes rows of days without their own');
SELECT has_column('heliosdb', 'audit_log', 'hash', 'records carry a hash');
SELECT has_column('heliosdb', 'audit_log', 'prev_hash', 'records carry the previous hash');
SELECT has_index('heliosdb', 'audit_log', 'audit_log_timestamp_idx', 'time index');
SELECT function_returns('heliosdb', 'audit_verify', ARRAY['timestamp with time zone'], 'record');
SELECT function_returns('heliosdb', 'audit_stats', ARRAY[]::text[], 'record');
SELECT function_returns('heliosdb', 'audit_flush', ARRAY['integer'], 'boolean');
SELECT function_returns('heliosdb', 'audit_expire', ARRAY['integer'], 'bigint');
SELECT is_definer('heliosdb', 'audit_verify', ARRAY['timestamp with time zone']);
SELECT is_definer('heliosdb', 'audit_expire', ARRAY['integer']);
SELECT isnt_definer('heliosdb', '_audit_rows', ARRAY['text[]', 'bigint', 'bytea']);
SELECT isnt_definer('heliosdb', '_audit_rows', ARRAY['bytea[]', 'bigint', 'bytea']);
SELECT is((SELECT proconfig FROM pg_proc
		   WHERE oid = 'heliosdb.audit_verify(timestamptz)'::regprocedure),
		  ARRAY['search_path=pg_catalog, pg_temp'], 'audit_verify pins search_path');
SELECT is((SELECT count(*)::int FROM pg_depend d
		   WHERE d.classid = 'pg_class'::regclass
			 AND d.objid IN ('heliosdb.audit_log'::regclass, 'heliosdb.audit_state'::regclass)
			 AND d.deptype = 'e'), 2, 'audit tables belong to the extension');

-- Privileges: heliosdb_admin reads, nobody else does, nobody writes.
SELECT table_privs_are('heliosdb', 'audit_log', 'heliosdb_admin', ARRAY['SELECT']);
SELECT table_privs_are('heliosdb', 'audit_logs', 'heliosdb_admin', ARRAY['SELECT']);
SELECT table_privs_are('heliosdb', 'audit_log', 'heliosdb_user', ARRAY[]::text[]);
SELECT table_privs_are('heliosdb', 'audit_logs', 'public', ARRAY[]::text[]);
SELECT table_privs_are('heliosdb', 'audit_state', 'heliosdb_admin', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', 'audit_verify', ARRAY['timestamp with time zone'],
	'public', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_audit_rows', ARRAY['text[]', 'bigint', 'bytea'],
	'heliosdb_admin', ARRAY[]::text[]);
SELECT function_privs_are('heliosdb', '_audit_rows', ARRAY['bytea[]', 'bigint', 'bytea'],
	'heliosdb_admin', ARRAY[]::text[]);

-- Settings and their defaults.
SELECT is(current_setting('heliosdb.audit_enabled'), 'on', 'audit on by default');
SELECT is(current_setting('heliosdb.audit_redact'), 'on', 'redaction on by default');
SELECT is(current_setting('heliosdb.audit_log_query_text'), 'on', 'query text on by default');
SELECT is(current_setting('heliosdb.audit_retention_days'), '365', 'a year of retention');
SELECT is(current_setting('heliosdb.audit_destination'), 'database', 'database sink by default');
SELECT ok(current_setting('heliosdb.audit_events') NOT LIKE '%data_access%'
		  AND current_setting('heliosdb.audit_events') LIKE '%admin_actions%',
		  'default events: all but data_access');
SELECT throws_ok($$SET heliosdb.audit_destination = 'file'$$, '55P02', NULL,
	'sink setting is not changed by a session');

-- The seed's audit queries, unchanged, with heliosdb on the search path.
SELECT heliosdb.tenant_create('pgtap-audit') IS NOT NULL;
SELECT ok(heliosdb.audit_flush(), 'records stored');
SET search_path = public, heliosdb;
SELECT lives_ok($$SELECT * FROM audit_logs WHERE event_type = 'authentication' AND timestamp > NOW() - INTERVAL '1 day' ORDER BY timestamp DESC;$$,
	'seed query: recent authentication events');
SELECT lives_ok($$SELECT user_id, COUNT(*) as attempts FROM audit_logs WHERE event_type = 'authentication' AND result = 'failure' AND timestamp > NOW() - INTERVAL '1 hour' GROUP BY user_id HAVING COUNT(*) > 5;$$,
	'seed query: failed authentication attempts');
SELECT lives_ok($$SELECT * FROM audit_logs WHERE event_type = 'admin_actions' AND timestamp > NOW() - INTERVAL '7 days' ORDER BY timestamp DESC;$$,
	'seed query: admin actions');
SELECT ok(EXISTS (SELECT 1 FROM (SELECT * FROM audit_logs WHERE event_type = 'admin_actions' AND timestamp > NOW() - INTERVAL '7 days' ORDER BY timestamp DESC) q
				  WHERE action = 'heliosdb.tenant_create' AND result = 'success'),
		  'the admin query finds tenant_create');

SELECT * FROM finish();
ROLLBACK;
