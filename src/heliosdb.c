/*-------------------------------------------------------------------------
 *
 * heliosdb.c
 *	  Entry point of the heliosdb library: checks how it was loaded and
 *	  hands over to each module's init function.
 *
 * Every module owns its GUCs, hooks and shared memory; this file only
 * decides the order in which they are set up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "common/hdb_common.h"
#include "audit/hdb_audit.h"
#include "auth/hdb_auth.h"
#include "crypto/hdb_crypto.h"
#include "quota/hdb_quota.h"
#include "tam/hdb_tam.h"
#include "tenant/hdb_tenant.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * pg_upgrade loads every library to see that it exists; there is nothing
	 * to set up in that case.
	 */
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb must be loaded via shared_preload_libraries"),
				 errhint("Add heliosdb to shared_preload_libraries in postgresql.conf and restart the server.")));

	hdb_common_init();
	hdb_tenant_init();
	hdb_auth_init();
	hdb_crypto_init();
	hdb_tam_init();
	hdb_audit_init();
	hdb_quota_init();

	MarkGUCPrefixReserved("heliosdb");
}
