/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Set-up of heliosdb's auth module: token authentication (JWT, API keys), login sessions and permission sets.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "auth/apikey_internal.h"
#include "auth/hdb_auth.h"

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_auth_init(void)
{
	hdb_apikey_init();
}
