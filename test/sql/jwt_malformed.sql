-- Malformed tokens are refused with 28000 and a message saying what was
-- wrong, never echoing the token.  Most of them carry a valid signature, so
-- they reach the check that refuses them.
\set VERBOSITY default
\getenv fx HDB_JWT_FIXTURES
\set ECHO none
\i :fx/tokens.psql
\set ECHO all
SET heliosdb.jwt_secret = :'secret';
-- Errors as SQLSTATE, message and detail, never containing the token.
CREATE FUNCTION pg_temp.try_login(token text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	detail text;
	part text;
BEGIN
	PERFORM heliosdb.login_jwt(token);
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	-- No part of the token (8 characters or more) may appear.
	FOREACH part IN ARRAY string_to_array(token, '.') LOOP
		IF length(part) >= 8 AND strpos(msg || ' ' || detail, part) > 0 THEN
			RETURN 'message echoes the token';
		END IF;
	END LOOP;
	RETURN SQLSTATE || ': ' || msg || coalesce(' / ' || nullif(detail, ''), '');
END
$$;
SELECT pg_temp.try_login(:'empty');
SELECT pg_temp.try_login(:'garbage');
SELECT pg_temp.try_login(:'two_parts');
SELECT pg_temp.try_login(:'four_parts');
SELECT pg_temp.try_login(:'bad_base64');
SELECT pg_temp.try_login(:'bad_base64_sig');
SELECT pg_temp.try_login(:'header_not_json');
SELECT pg_temp.try_login(:'header_array');
SELECT pg_temp.try_login(:'dup_header');
SELECT pg_temp.try_login(:'payload_not_json');
SELECT pg_temp.try_login(:'payload_array');
SELECT pg_temp.try_login(:'payload_nul');
SELECT pg_temp.try_login(:'dup_claim');
SELECT pg_temp.try_login(:'dup_escaped');
SELECT pg_temp.try_login(:'deep');
SELECT pg_temp.try_login(:'big_number');
SELECT pg_temp.try_login(:'exp_overflow');
SELECT pg_temp.try_login(:'exp_underflow');
SELECT pg_temp.try_login(:'exp_negative');
SELECT pg_temp.try_login(:'huge');
SELECT length(:'huge') > 8192 AS huge_is_huge;
SELECT pg_temp.try_login(repeat('a', 100000));
SELECT pg_temp.try_login(:'hs256' || ' ');
SELECT pg_temp.try_login(' ' || :'hs256');
SELECT pg_temp.try_login(:'hs256' || '=');
SELECT pg_temp.try_login(replace(:'hs256', '.', '..'));
SELECT source FROM heliosdb.session_context();
