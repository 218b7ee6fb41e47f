/*-------------------------------------------------------------------------
 *
 * jwt_sql.c
 *	  SQL interface of JWT logins: heliosdb.login_jwt() and
 *	  heliosdb.jwt_claims().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "auth/auth_internal.h"

/*
 * login_jwt(token text, local boolean DEFAULT false)
 *	 RETURNS TABLE(user_id text, tenant text, role name, expires_at timestamptz)
 *
 * Verifies the token and establishes its login; returns one row saying
 * what the session now is.
 */
PG_FUNCTION_INFO_V1(hdb_login_jwt);
Datum
hdb_login_jwt(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *token;
	HdbJwtResult jwt;
	HdbLogin	login;
	Datum		values[4];
	bool		nulls[4] = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token must not be null")));
	token = PG_GETARG_TEXT_PP(0);

	InitMaterializedSRF(fcinfo, 0);

	hdb_jwt_verify(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &jwt);

	memset(&login, 0, sizeof(login));
	login.source = HDB_SOURCE_JWT;
	login.user_id = jwt.user_id;
	login.tenant = jwt.tenant;
	login.role = jwt.role;
	login.permissions = jwt.permissions;
	login.expires_at = jwt.expires_at;
	login.local = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	hdb_login_establish(&login);
	hdb_login_remember_claims(jwt.claims);

	if (jwt.user_id)
		values[0] = CStringGetTextDatum(jwt.user_id);
	else
		nulls[0] = true;
	if (jwt.tenant)
		values[1] = CStringGetTextDatum(jwt.tenant);
	else
		nulls[1] = true;
	if (jwt.role)
		values[2] = DirectFunctionCall1(namein, CStringGetDatum(jwt.role));
	else
		nulls[2] = true;
	values[3] = TimestampTzGetDatum(jwt.expires_at);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * jwt_claims() RETURNS jsonb: the verified claims of the JWT login in
 * effect, or NULL.
 */
PG_FUNCTION_INFO_V1(hdb_jwt_claims);
Datum
hdb_jwt_claims(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims = hdb_login_current_claims();
	Jsonb	   *copy;

	if (claims == NULL)
		PG_RETURN_NULL();
	copy = palloc(VARSIZE(claims));
	memcpy(copy, claims, VARSIZE(claims));
	PG_RETURN_JSONB_P(copy);
}
