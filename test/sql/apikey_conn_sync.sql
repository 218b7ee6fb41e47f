-- Connection-time API keys: the triggers that keep the shared-memory copy
-- of the keys current, and what they refuse.  Connections themselves are
-- tested over TCP in test/t/028_apikey_connect.pl.
SELECT tgname, pg_catalog.pg_get_triggerdef(oid) AS definition
	FROM pg_trigger
	WHERE tgrelid = 'heliosdb.apikey'::regclass AND NOT tgisinternal
	ORDER BY tgname;

-- A transaction that changed keys cannot be prepared: the copy is
-- refreshed by the backend that commits.
BEGIN;
SELECT count(*) FROM heliosdb.apikey_create('regress conn prepare');
PREPARE TRANSACTION 'regress_hdb_apikey';
SELECT count(*) AS not_prepared FROM pg_prepared_xacts
	WHERE gid = 'regress_hdb_apikey';
SELECT count(*) AS rolled_back FROM heliosdb.apikeys
	WHERE name = 'regress conn prepare';

-- One that only read keys, or touched rows of no key, can.
BEGIN;
SELECT count(*) >= 0 AS read FROM heliosdb.apikeys;
DELETE FROM heliosdb.apikey WHERE key_id = 'nosuchkey000';
PREPARE TRANSACTION 'regress_hdb_apikey_read';
ROLLBACK PREPARED 'regress_hdb_apikey_read';

-- apikey_sync() is for administrators.
CREATE ROLE regress_conn_plain;
SET ROLE regress_conn_plain;
\set VERBOSITY terse
SELECT heliosdb.apikey_sync();
RESET ROLE;
SELECT heliosdb.apikey_sync();

-- The trigger function is only for triggers.
SELECT heliosdb._apikey_changed();
\set VERBOSITY default
DROP ROLE regress_conn_plain;
