/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Set-up of heliosdb's auth module: token authentication (JWT, API
 *	  keys), login sessions and permission sets.  Defines the module's
 *	  GUCs and installs its hooks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "auth/apikey_internal.h"
#include "auth/auth_internal.h"

char	   *hdb_jwt_secret = NULL;
char	   *hdb_jwt_key_file = NULL;
char	   *hdb_jwt_algorithms = NULL;
char	   *hdb_jwt_issuer = NULL;
char	   *hdb_jwt_audience = NULL;
int			hdb_jwt_leeway = 30;
bool		hdb_lock_role_after_login = true;

/* heliosdb.jwt_algorithms, parsed by its check hook */
static uint32 allowed_algs = 0;

uint32
hdb_jwt_allowed_algs(void)
{
	return allowed_algs;
}

/* Any change of a verification setting invalidates cached verifications. */
static void
bump_generation_string(const char *newval, void *extra)
{
	hdb_jwt_config_generation++;
}

static void
bump_generation_int(int newval, void *extra)
{
	hdb_jwt_config_generation++;
}

/* The secret is never shown, not even to superusers. */
static const char *
show_secret(void)
{
	return (hdb_jwt_secret != NULL && hdb_jwt_secret[0] != '\0') ?
		"(hidden)" : "";
}

static bool
check_algorithms(char **newval, void **extra, GucSource source)
{
	uint32		algs;
	uint32	   *result;

	if (!hdb_jwt_parse_alg_list(*newval, &algs))
	{
		GUC_check_errdetail("Algorithms are a comma-separated list of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 and EdDSA.");
		return false;
	}
	result = malloc(sizeof(uint32));
	if (result == NULL)
		return false;
	*result = algs;
	*extra = result;
	return true;
}

static void
assign_algorithms(const char *newval, void *extra)
{
	allowed_algs = *(uint32 *) extra;
	hdb_jwt_config_generation++;
}

static void
define_gucs(void)
{
	DefineCustomStringVariable("heliosdb.jwt_secret",
							   "HMAC secret for JWTs signed with HS256, HS384 or HS512.",
							   "At least 32 bytes.  Never shown.",
							   &hdb_jwt_secret, "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL |
							   GUC_NOT_IN_SAMPLE,
							   NULL, bump_generation_string, show_secret);
	DefineCustomStringVariable("heliosdb.jwt_key_file",
							   "PEM public key or JWKS file for JWTs signed with RS* or ES* algorithms.",
							   "Re-read when the setting or the file changes.",
							   &hdb_jwt_key_file, "",
							   PGC_SUSET, 0,
							   NULL, bump_generation_string, NULL);
	DefineCustomStringVariable("heliosdb.jwt_algorithms",
							   "JWS algorithms accepted in JWTs.",
							   NULL,
							   &hdb_jwt_algorithms,
							   "HS256,HS384,HS512,RS256,RS384,RS512,ES256,ES384,EdDSA",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_algorithms, assign_algorithms, NULL);
	DefineCustomStringVariable("heliosdb.jwt_issuer",
							   "Required \"iss\" claim of JWTs; empty accepts any issuer.",
							   NULL,
							   &hdb_jwt_issuer, "",
							   PGC_SUSET, 0,
							   NULL, bump_generation_string, NULL);
	DefineCustomStringVariable("heliosdb.jwt_audience",
							   "Audience JWTs must name in their \"aud\" claim; empty refuses tokens with an audience.",
							   NULL,
							   &hdb_jwt_audience, "",
							   PGC_SUSET, 0,
							   NULL, bump_generation_string, NULL);
	DefineCustomIntVariable("heliosdb.jwt_leeway",
							"Clock difference allowed when checking the nbf and iat claims of JWTs.",
							NULL,
							&hdb_jwt_leeway, 30, 0, 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, bump_generation_int, NULL);
	DefineCustomBoolVariable("heliosdb.lock_role_after_login",
							 "Refuses role changes while a token login is active.",
							 NULL,
							 &hdb_lock_role_after_login, true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_auth_init(void)
{
	define_gucs();
	hdb_role_lock_init();
	hdb_guard_init();
	hdb_conn_login_init();
	hdb_apikey_init();
}
