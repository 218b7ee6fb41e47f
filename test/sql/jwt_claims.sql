-- JWT claims: time, issuer, audience, identity; jwt_claims(); local logins;
-- the verification cache.
\set VERBOSITY terse
\getenv fx HDB_JWT_FIXTURES
\set ECHO none
\i :fx/tokens.psql
\set ECHO all
SET heliosdb.jwt_secret = :'secret';
SELECT heliosdb.tenant_create('jwt-acme') IS NOT NULL AS created;
SELECT heliosdb.tenant_create('jwt-globex') IS NOT NULL AS created;
CREATE ROLE regress_jwt_app;
CREATE ROLE regress_jwt_other;
CREATE ROLE regress_jwt_login LOGIN;
GRANT regress_jwt_app TO regress_jwt_login;

-- exp is required and strict; nbf and iat allow heliosdb.jwt_leeway.
SELECT user_id FROM heliosdb.login_jwt(:'expired');
SELECT user_id FROM heliosdb.login_jwt(:'no_exp');
SELECT user_id FROM heliosdb.login_jwt(:'exp_string');
SELECT user_id FROM heliosdb.login_jwt(:'nbf_future');
SELECT user_id FROM heliosdb.login_jwt(:'iat_future');
SELECT user_id FROM heliosdb.login_jwt(:'nbf_past');
SELECT heliosdb.logout();
-- nbf lies 30 minutes ahead: refused with the default leeway of 30s,
-- accepted with one hour.
SELECT user_id FROM heliosdb.login_jwt(:'nbf_leeway');
SET heliosdb.jwt_leeway = '1h';
SELECT user_id FROM heliosdb.login_jwt(:'nbf_leeway');
SELECT heliosdb.logout();
RESET heliosdb.jwt_leeway;
SELECT user_id FROM heliosdb.login_jwt(:'nbf_leeway');
SELECT expires_at > now() + interval '9 years' AS far_expiry
FROM heliosdb.login_jwt(:'hs256');
SELECT expires_at = (SELECT to_timestamp((heliosdb.jwt_claims() ->> 'exp')::bigint))
	AS expiry_from_exp
FROM heliosdb.session_context();
SELECT heliosdb.logout();

-- Issuer: enforced when heliosdb.jwt_issuer is set.
SELECT user_id FROM heliosdb.login_jwt(:'iss_bad');
SELECT heliosdb.logout();
SET heliosdb.jwt_issuer = 'https://issuer.example';
SELECT user_id FROM heliosdb.login_jwt(:'iss_good');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'iss_bad');
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
RESET heliosdb.jwt_issuer;

-- Audience: a string or an array naming heliosdb.jwt_audience.
SELECT user_id FROM heliosdb.login_jwt(:'aud_string');
SET heliosdb.jwt_audience = 'heliosdb';
SELECT user_id FROM heliosdb.login_jwt(:'aud_string');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'aud_array');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'aud_bad');
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
RESET heliosdb.jwt_audience;

-- Identity claims.
SELECT user_id, tenant, role, expires_at > now() AS valid
FROM heliosdb.login_jwt(:'minimal');
SELECT current_user, heliosdb.current_tenant(), heliosdb.current_user_id();
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'tenant_unknown');
SELECT user_id, tenant FROM heliosdb.login_jwt(:'tenant_other');
SELECT heliosdb.logout();
SELECT user_id FROM heliosdb.login_jwt(:'role_missing');
SELECT user_id FROM heliosdb.login_jwt(:'role_number');
SELECT user_id FROM heliosdb.login_jwt(:'perm_unknown');
SELECT user_id FROM heliosdb.login_jwt(:'perm_not_array');
SELECT heliosdb.login_jwt(NULL);
SELECT source FROM heliosdb.session_context();

-- The session user must be a member of the token's role.
SET SESSION AUTHORIZATION regress_jwt_login;
SELECT role FROM heliosdb.login_jwt(:'role_other');
SELECT current_user, heliosdb.current_tenant();
SELECT role FROM heliosdb.login_jwt(:'hs256');
SELECT current_user, heliosdb.current_tenant();
SELECT heliosdb.logout();
SELECT current_user;
-- Without a role claim the login keeps the role in effect.
SELECT role FROM heliosdb.login_jwt(:'no_role');
SELECT current_user;
SELECT heliosdb.logout();
RESET SESSION AUTHORIZATION;

-- jwt_claims(): the verified claims of the JWT login in effect only.
SELECT heliosdb.jwt_claims();
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SELECT heliosdb.jwt_claims() - 'iat' - 'exp' AS claims;
SELECT heliosdb.logout();
SELECT heliosdb.jwt_claims();
-- A rolled-back login leaves the previous login's claims in effect.
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
BEGIN;
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other');
SELECT heliosdb.jwt_claims() ->> 'sub' AS sub;
ROLLBACK;
SELECT heliosdb.current_user_id(), heliosdb.jwt_claims() ->> 'sub' AS sub;
-- Same in a subtransaction.
BEGIN;
SAVEPOINT s;
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other');
ROLLBACK TO s;
SELECT heliosdb.current_user_id(), heliosdb.jwt_claims() ->> 'sub' AS sub;
COMMIT;
SELECT heliosdb.logout();
-- A context set by set_tenant() has no claims.
SELECT heliosdb.set_tenant('jwt-acme');
SELECT heliosdb.jwt_claims();
SELECT heliosdb.logout();

-- local => true ends the login, its role and its claims with the transaction.
BEGIN;
SELECT user_id FROM heliosdb.login_jwt(:'hs256', local => true);
SELECT current_user, heliosdb.current_tenant(), heliosdb.jwt_claims() ->> 'sub' AS sub;
COMMIT;
SELECT current_user, heliosdb.current_tenant(), heliosdb.jwt_claims();
-- Outside a transaction block it ends with the statement's transaction.
SELECT user_id FROM heliosdb.login_jwt(:'hs256', local => true);
SELECT current_user, heliosdb.current_tenant();
-- A local login on top of a session login falls back to it.
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
BEGIN;
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other', local => true);
SELECT heliosdb.current_tenant(), heliosdb.jwt_claims() ->> 'sub' AS sub;
COMMIT;
SELECT heliosdb.current_tenant(), heliosdb.jwt_claims() ->> 'sub' AS sub;
SELECT heliosdb.logout();
-- Several logins in one transaction: the last session login stays.
BEGIN;
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other');
SELECT user_id FROM heliosdb.login_jwt(:'hs256');
SELECT user_id FROM heliosdb.login_jwt(:'hs384', local => true);
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other', local => true);
SELECT heliosdb.current_tenant(), heliosdb.jwt_claims() ->> 'sub' AS sub;
COMMIT;
SELECT heliosdb.current_tenant(), heliosdb.jwt_claims() ->> 'sub' AS sub;
SELECT heliosdb.logout();

-- Cached verifications still check the time and follow setting changes.
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
SELECT heliosdb.logout();
SET heliosdb.jwt_algorithms = 'HS256';
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
RESET heliosdb.jwt_algorithms;
SET heliosdb.jwt_secret = 'another secret of at least 32 bytes...';
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
SET heliosdb.jwt_secret = :'secret';
SELECT user_id FROM heliosdb.login_jwt(:'hs384');
SELECT heliosdb.logout();
-- A cached token whose tenant disappeared is refused.
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other');
SELECT heliosdb.logout();
SELECT heliosdb.tenant_drop('jwt-globex');
SELECT user_id FROM heliosdb.login_jwt(:'tenant_other');

DROP ROLE regress_jwt_login;
DROP ROLE regress_jwt_other;
DROP ROLE regress_jwt_app;
SELECT heliosdb.tenant_drop('jwt-acme');
