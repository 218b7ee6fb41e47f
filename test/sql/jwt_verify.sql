-- JWT signature verification: every algorithm, key selection, forgeries.
-- Tokens and keys come from test/jwt/make_tokens.py (PyJWT), see run_all.sh.
\set VERBOSITY terse
\getenv fx HDB_JWT_FIXTURES
\set ECHO none
\i :fx/tokens.psql
\set ECHO all
SELECT heliosdb.tenant_create('jwt-acme') IS NOT NULL AS created;
CREATE ROLE regress_jwt_app;
-- Errors that name the fixture folder, with the folder left out.
CREATE FUNCTION pg_temp.try_login(token text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM heliosdb.login_jwt(token);
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' ||
		replace(SQLERRM, current_setting('heliosdb.jwt_key_file'), '<file>');
END
$$;

-- HMAC algorithms use heliosdb.jwt_secret and nothing else.
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SET heliosdb.jwt_secret = 'too short';
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SET heliosdb.jwt_secret = :'secret';
SELECT user_id, tenant, role FROM heliosdb.login_jwt(:'hs256');
SELECT current_user, heliosdb.current_tenant(), heliosdb.current_user_id();
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'hs512');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'hs256_wrong_secret');
SELECT user_id FROM heliosdb.login_jwt(:'tampered');

-- The secret is never shown, not even to superusers.
SHOW heliosdb.jwt_secret;
SELECT current_setting('heliosdb.jwt_secret');
SELECT count(*) FROM pg_settings WHERE name = 'heliosdb.jwt_secret';

-- RSA with a PEM public key.
SELECT user_id FROM heliosdb.login_jwt(:'rs256');
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/rsa.pem', false) IS NOT NULL AS set;
SELECT user_id FROM heliosdb.login_jwt(:'rs256');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'rs384');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'rs512');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'rs256_other_key');
-- An EC token finds no key of its type in an RSA key file.
SELECT user_id FROM heliosdb.login_jwt(:'es256');

-- Algorithm confusion: an HS256 token whose HMAC key is the RSA public key
-- PEM.  HMAC algorithms never use the key file, whether a secret is set ...
SELECT user_id FROM heliosdb.login_jwt(:'confusion');
-- ... or not.
RESET heliosdb.jwt_secret;
SELECT user_id FROM heliosdb.login_jwt(:'confusion');
SET heliosdb.jwt_secret = :'secret';

-- ECDSA with PEM public keys (JOSE r||s signatures).
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/ec256.pem', false) IS NOT NULL AS set;
SELECT user_id FROM heliosdb.login_jwt(:'es256');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'es256_other_key');
SELECT user_id FROM heliosdb.login_jwt(:'es256_truncated');
SELECT user_id FROM heliosdb.login_jwt(:'es256_der');
SELECT user_id FROM heliosdb.login_jwt(:'es384');
SELECT user_id FROM heliosdb.login_jwt(:'rs256');
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/ec384.pem', false) IS NOT NULL AS set;
SELECT user_id FROM heliosdb.login_jwt(:'es384');
SELECT heliosdb.logout();

-- EdDSA with an Ed25519 PEM public key.
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/ed25519.pem', false) IS NOT NULL AS set;
SELECT user_id FROM heliosdb.login_jwt(:'eddsa');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'eddsa_other_key');
SELECT user_id FROM heliosdb.login_jwt(:'es256');

-- A JWKS file: keys chosen by kid.
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/jwks.json', false) IS NOT NULL AS set;
SELECT user_id FROM heliosdb.login_jwt(:'jwks_k1');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'jwks_k2');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'jwks_e1');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'jwks_d1');
SELECT heliosdb.logout();
-- Unknown kid, a kid naming another key, no kid with two RSA keys.
SELECT user_id FROM heliosdb.login_jwt(:'jwks_k3');
SELECT user_id FROM heliosdb.login_jwt(:'jwks_wrong_kid');
SELECT user_id FROM heliosdb.login_jwt(:'jwks_nokid');
-- The set's "oct" key is never used as an HMAC secret.
SELECT user_id FROM heliosdb.login_jwt(:'jwks_oct');

-- Key file problems are configuration errors.
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/missing.pem', false) IS NOT NULL AS set;
SELECT pg_temp.try_login(:'rs256');
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/tokens.psql', false) IS NOT NULL AS set;
SELECT pg_temp.try_login(:'rs256');
SELECT set_config('heliosdb.jwt_key_file', :'fx' || '/rsa_private.pem', false) IS NOT NULL AS set;
SELECT pg_temp.try_login(:'rs256');
-- HMAC tokens do not need the key file.
SELECT pg_temp.try_login(:'hs256');
SELECT heliosdb.logout();
RESET heliosdb.jwt_key_file;
SELECT user_id FROM heliosdb.login_jwt(:'rs256');

-- heliosdb.jwt_algorithms: only the listed algorithms are accepted.
SET heliosdb.jwt_algorithms = 'RS256, ES256';
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SET heliosdb.jwt_algorithms = 'HS256,none';
SET heliosdb.jwt_algorithms = 'HS256';
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'hs512');
RESET heliosdb.jwt_algorithms;

-- alg "none" is refused in any spelling, with or without a signature.
SELECT user_id FROM heliosdb.login_jwt(:'alg_none');
SELECT user_id FROM heliosdb.login_jwt(:'alg_none_sig');
SELECT user_id FROM heliosdb.login_jwt(:'alg_unknown');
SELECT user_id FROM heliosdb.login_jwt(:'alg_missing');
SELECT user_id FROM heliosdb.login_jwt(:'crit');

-- Settings are for superusers only.
SET ROLE regress_jwt_app;
SET heliosdb.jwt_secret = 'x';
SET heliosdb.jwt_key_file = '/etc/passwd';
SET heliosdb.jwt_algorithms = 'HS256';
SET heliosdb.lock_role_after_login = off;
SHOW heliosdb.jwt_secret;
RESET ROLE;

SELECT source FROM heliosdb.session_context();
DROP ROLE regress_jwt_app;
SELECT heliosdb.tenant_drop('jwt-acme');
