-- pgTAP: the JWT login API's shape, settings, privileges and main paths.
\getenv fx HDB_JWT_FIXTURES
\i :fx/tokens.psql
BEGIN;
SELECT plan(40);

-- Objects and signatures.
SELECT function_returns('heliosdb', 'login_jwt', ARRAY['text', 'boolean'], 'setof record');
SELECT is(pg_get_function_result('heliosdb.login_jwt(text, boolean)'::regprocedure),
		  'TABLE(user_id text, tenant text, role name, expires_at timestamp with time zone)',
		  'login_jwt() returns user_id, tenant, role, expires_at');
SELECT is(pg_get_function_arguments('heliosdb.login_jwt(text, boolean)'::regprocedure),
		  'token text, local boolean DEFAULT false', 'local defaults to false');
SELECT function_returns('heliosdb', 'jwt_claims', ARRAY[]::text[], 'jsonb');
SELECT function_returns('heliosdb', 'logout', ARRAY[]::text[], 'void');
SELECT volatility_is('heliosdb', 'login_jwt', ARRAY['text', 'boolean'], 'volatile');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'heliosdb.login_jwt(text, boolean)'::regprocedure),
		  'u'::"char", 'login_jwt() is parallel unsafe');
SELECT isnt_definer('heliosdb', 'login_jwt', ARRAY['text', 'boolean']);
SELECT function_privs_are('heliosdb', 'login_jwt', ARRAY['text', 'boolean'],
						  'public', ARRAY['EXECUTE'], 'anyone may log in');
SELECT function_privs_are('heliosdb', 'jwt_claims', ARRAY[]::text[],
						  'public', ARRAY['EXECUTE'], 'anyone may read their claims');

-- Settings: superuser-only, with their defaults.
SELECT is((SELECT array_agg(name || '=' || context ORDER BY name) FROM pg_settings
		   WHERE name IN ('heliosdb.jwt_key_file', 'heliosdb.jwt_algorithms',
						  'heliosdb.jwt_issuer', 'heliosdb.jwt_audience',
						  'heliosdb.jwt_leeway', 'heliosdb.lock_role_after_login')),
		  ARRAY['heliosdb.jwt_algorithms=superuser', 'heliosdb.jwt_audience=superuser',
				'heliosdb.jwt_issuer=superuser', 'heliosdb.jwt_key_file=superuser',
				'heliosdb.jwt_leeway=superuser', 'heliosdb.lock_role_after_login=superuser'],
		  'JWT settings are superuser-only');
SELECT is(current_setting('heliosdb.jwt_leeway'), '30s', 'leeway defaults to 30s');
SELECT is(current_setting('heliosdb.jwt_algorithms'),
		  'HS256,HS384,HS512,RS256,RS384,RS512,ES256,ES384,EdDSA', 'all algorithms by default');
SELECT is(current_setting('heliosdb.lock_role_after_login'), 'on', 'role lock on by default');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'heliosdb.jwt_secret'), 0::bigint,
		  'the secret is not in pg_settings');
SELECT lives_ok(format('SET LOCAL heliosdb.jwt_secret = %L', :'secret'), 'the secret can be set');
SELECT is(current_setting('heliosdb.jwt_secret'), '(hidden)', 'the secret is never shown');
SELECT throws_ok($$SET LOCAL heliosdb.jwt_algorithms = 'none'$$, '22023', NULL,
				 'alg none cannot be configured');

-- Main paths (tokens without a role claim keep this session's role).
SELECT lives_ok($$SELECT heliosdb.tenant_create('jwt-acme')$$, 'tenant created');
SELECT results_eq(format('SELECT user_id, tenant, role FROM heliosdb.login_jwt(%L, true)', :'no_role'),
				  $$VALUES ('user-1'::text, 'jwt-acme'::text, NULL::name)$$,
				  'HS256 token without a role claim logs in');
SELECT is(heliosdb.current_tenant(), 'jwt-acme', 'the token set the tenant');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'tenant_unknown'), '28000',
				 'tenant of the login does not exist', 'unknown tenant refused');
SELECT is(heliosdb.jwt_claims() ->> 'sub', 'user-1', 'jwt_claims() shows the verified claims');
SELECT is((SELECT source FROM heliosdb.session_context()), 'jwt', 'the context says jwt');
SELECT lives_ok('SELECT heliosdb.logout()', 'logout works');
SELECT is(heliosdb.jwt_claims(), NULL, 'no claims after logout');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'alg_none'), '28000',
				 'unsigned tokens are not accepted', 'alg none refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'expired'), '28000',
				 'token has expired', 'expired token refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'hs256_wrong_secret'), '28000',
				 'token signature is invalid', 'forged HS256 token refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'dup_claim'), '28000',
				 'token payload has a duplicate key', 'duplicate claim refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'huge'), '28000',
				 'token is too long', 'huge token refused');
SELECT throws_ok('SELECT heliosdb.login_jwt(NULL)', '28000', 'token must not be null',
				 'null token refused');
SELECT lives_ok(format('SET LOCAL heliosdb.jwt_key_file = %L', :'fx' || '/jwks.json'),
			   'the key file can be set');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'confusion'), '28000',
				 'token signature is invalid', 'algorithm confusion refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'jwks_nokid'), '28000',
				 'no configured key can verify the token', 'no kid with two keys refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'jwks_k3'), '28000',
				 'no configured key can verify the token', 'unknown kid refused');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'es256_other_key'), '28000',
				 'token signature is invalid', 'ES256 from another key refused');
SELECT lives_ok(format('SET LOCAL heliosdb.jwt_key_file = %L', :'fx' || '/rsa.pem'),
			   'a PEM key file can be set');
SELECT throws_ok(format('SELECT heliosdb.login_jwt(%L)', :'rs256_other_key'), '28000',
				 'token signature is invalid', 'RS256 from another key refused');
SELECT is((SELECT source FROM heliosdb.session_context()), 'none', 'failed logins left no context');

SELECT * FROM finish();
ROLLBACK;
