/*-------------------------------------------------------------------------
 *
 * tenant_internal.h
 *	  Declarations shared by the files of the tenant module only.
 *
 * Shared memory of the module (HdbTenantShared):
 *	- registry_generation is bumped, after commit, by every transaction
 *	  that updated or deleted registry rows; a backend whose context was
 *	  resolved under an older generation checks its tenant again.
 *	- cross_tenant_denied counts statements refused for writing rows
 *	  outside the session's tenant.
 *	- slots[] holds one published security context per BackendId.  A slot
 *	  is written only by the backend owning that BackendId and only outside
 *	  parallel mode; parallel workers read their leader's slot while the
 *	  leader is in parallel mode and so cannot change it.  No lock is
 *	  needed; the owner's pid in the slot guards against reading a slot
 *	  left by an earlier backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANT_INTERNAL_H
#define TENANT_INTERNAL_H

#include "port/atomics.h"

#include "tenant/hdb_tenant.h"

typedef struct HdbContextSlot
{
	int			pid;			/* owning backend, 0 when unused */
	HdbSecurityContext ctx;
} HdbContextSlot;

typedef struct HdbTenantShared
{
	pg_atomic_uint64 registry_generation;
	pg_atomic_uint64 cross_tenant_denied;
	HdbContextSlot slots[FLEXIBLE_ARRAY_MEMBER];	/* [BackendId - 1] */
} HdbTenantShared;

/* NULL until shared memory is attached (or when not preloaded). */
extern HdbTenantShared *hdb_tenant_shared;

extern void hdb_context_init(void);
extern void hdb_registry_init(void);
extern void hdb_isolation_init(void);


#endif							/* TENANT_INTERNAL_H */
