/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Set-up of heliosdb's audit module: audit event capture, sinks and retention.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "audit/hdb_audit.h"

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_audit_init(void)
{
}
