-- Lockout after repeated wrong secrets, and its end.
\set VERBOSITY terse
CREATE ROLE regress_ako_plain;
SELECT * FROM heliosdb.apikey_create('lock me') \gset k_
SELECT * FROM heliosdb.apikey_create('bystander') \gset b_
\set wrong 'hdb_sk_' :k_key_id 'wrongwrongwrongwrongwrongwrong00'
SHOW heliosdb.apikey_max_failed_attempts;
SHOW heliosdb.apikey_lockout_duration;

-- Failures count even though each one rolls back its transaction.
SELECT * FROM heliosdb.login_apikey(:'wrong');
BEGIN;
SELECT * FROM heliosdb.login_apikey(:'wrong');
ROLLBACK;
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';
-- A caught failure counts too.
SET regress.wrong = :'wrong';
DO $$
BEGIN
	PERFORM heliosdb.login_apikey(current_setting('regress.wrong'));
EXCEPTION WHEN invalid_password THEN
	RAISE NOTICE 'caught %', SQLSTATE;
END
$$;
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';

-- The fifth wrong secret locks the key; then even the right secret is
-- refused, and further attempts are not counted.
SELECT * FROM heliosdb.login_apikey(:'wrong');
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';
SELECT * FROM heliosdb.login_apikey(:'wrong') \gset
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT * FROM heliosdb.login_apikey(:'k_api_key') \gset
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT * FROM heliosdb.login_apikey(:'wrong') \gset
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';
SELECT (SELECT locked_until FROM heliosdb._apikey_lockout() WHERE key_id = :'k_key_id')
	BETWEEN now() + interval '14 minutes' AND now() + interval '16 minutes' AS locked_15_minutes;
-- Other keys are not affected.
SELECT role FROM heliosdb.login_apikey(:'b_api_key', true);
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'b_key_id';

-- The limit and the duration come from superuser-only settings.
SET ROLE regress_ako_plain;
SET heliosdb.apikey_max_failed_attempts = 100;
SET heliosdb.apikey_lockout_duration = 1;
RESET ROLE;
SET heliosdb.apikey_max_failed_attempts = 0;
SET heliosdb.apikey_lockout_entries = 10;

-- A lock ends after heliosdb.apikey_lockout_duration; counting starts over.
SET heliosdb.apikey_max_failed_attempts = 2;
SET heliosdb.apikey_lockout_duration = '1s';
SELECT * FROM heliosdb.apikey_create('short lock') \gset s_
\set wrong 'hdb_sk_' :s_key_id 'wrongwrongwrongwrongwrongwrong00'
SELECT * FROM heliosdb.login_apikey(:'wrong');
SELECT * FROM heliosdb.login_apikey(:'wrong');
SELECT * FROM heliosdb.login_apikey(:'s_api_key');
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'s_key_id';
SELECT pg_sleep(1.2);
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'s_key_id';
SELECT * FROM heliosdb.login_apikey(:'wrong');
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'s_key_id';
SELECT role FROM heliosdb.login_apikey(:'s_api_key', true);
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'s_key_id';
RESET heliosdb.apikey_max_failed_attempts;
RESET heliosdb.apikey_lockout_duration;

-- A revoked or expired key shows that state rather than its lock.
SELECT heliosdb.apikey_revoke(:'k_key_id');
SELECT status, failed_attempts FROM heliosdb.apikeys WHERE key_id = :'k_key_id';

DELETE FROM heliosdb.apikey;
DROP ROLE regress_ako_plain;
