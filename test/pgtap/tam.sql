-- pgTAP: the encryption API's shape and privileges, and the access
-- method's behaviour inside one transaction.
BEGIN;
SET client_min_messages = error;
SELECT plan(26);

-- Objects and signatures.
SELECT has_table('heliosdb', 'table_key', 'data key table exists');
SELECT col_is_pk('heliosdb', 'table_key', 'key_id', 'key_id is the primary key');
SELECT is((SELECT amtype::text FROM pg_am WHERE amname = 'heliosdb_encrypted'), 't',
	'heliosdb_encrypted is a table access method');
SELECT function_returns('heliosdb', 'encrypt_table', ARRAY['regclass'], 'void');
SELECT function_returns('heliosdb', 'rotate_table_key', ARRAY['regclass'], 'integer');
SELECT function_returns('heliosdb', 'rotate_master_key', ARRAY[]::text[], 'integer');
SELECT function_returns('heliosdb', 'encryption_status', ARRAY[]::text[], 'setof record');
SELECT has_function('heliosdb', 'rotate_keys', ARRAY[]::text[], 'rotate_keys procedure exists');
SELECT is_definer('heliosdb', 'encryption_status', ARRAY[]::text[],
	'encryption_status runs as its owner');
SELECT isnt_definer('heliosdb', 'rotate_table_key', ARRAY['regclass'],
	'rotate_table_key runs as the caller');

-- Privileges.
SELECT ok(NOT has_table_privilege('public', 'heliosdb.table_key', 'SELECT'),
	'PUBLIC cannot read the data keys');
SELECT ok(NOT has_function_privilege('public', 'heliosdb.rotate_master_key()', 'EXECUTE'),
	'PUBLIC cannot rotate the master key');
SELECT ok(NOT has_function_privilege('public', 'heliosdb.encryption_status()', 'EXECUTE'),
	'PUBLIC cannot read the encryption status');
SELECT ok(has_function_privilege('heliosdb_admin', 'heliosdb.encryption_status()', 'EXECUTE'),
	'heliosdb_admin can read the encryption status');

-- Behaviour.
CREATE TABLE tap_enc (id int PRIMARY KEY, v text) USING heliosdb_encrypted;
SELECT lives_ok($$INSERT INTO tap_enc SELECT g, 'v' || g FROM generate_series(1, 50) g$$,
	'rows go in');
SELECT results_eq('SELECT count(*)::int, sum(id)::int FROM tap_enc',
	'VALUES (50, 1275)', 'rows come back');
SELECT is((SELECT version FROM heliosdb.table_key WHERE relid = 'tap_enc'::regclass), 1,
	'first write made key version 1');
SELECT is(heliosdb.rotate_table_key('tap_enc'), 2, 'rotation makes version 2');
SELECT results_eq($$SELECT key_version, row_count FROM heliosdb.encryption_status()
					WHERE table_name = 'tap_enc'::regclass ORDER BY key_version$$,
	$$VALUES (1, 0::bigint), (2, 50::bigint)$$, 'every row moved to the new key');
SELECT is((SELECT v FROM tap_enc WHERE id = 42), 'v42', 'rows read after rotation');
SELECT throws_ok($$SELECT heliosdb.rotate_table_key('pg_class')$$, '22023',
	'"pg_class" is not an encrypted table', 'rotation of a heap table refused');
SELECT throws_ok($$CREATE INDEX CONCURRENTLY tap_cic ON tap_enc (v)$$, '25001',
	NULL, 'CREATE INDEX CONCURRENTLY still refuses a transaction block');
SELECT throws_ok($$INSERT INTO tap_enc VALUES (1, 'dup')$$, '23505', NULL,
	'unique index enforced');
SELECT throws_ok($$CREATE PUBLICATION tap_pub FOR TABLE tap_enc$$, '0A000',
	'encrypted table "public.tap_enc" cannot be published', 'publication refused');
SELECT lives_ok($$SELECT heliosdb.encrypt_table('tap_enc')$$, 'encrypt_table is idempotent');
SELECT lives_ok($$ALTER TABLE tap_enc SET ACCESS METHOD heap$$, 'decrypting works');

SELECT * FROM finish();
ROLLBACK;
