/*-------------------------------------------------------------------------
 *
 * tenant.c
 *	  Set-up of the tenant module: its shared memory and the init
 *	  functions of its parts (context.c, registry.c, isolation.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "common/hdb_common.h"
#include "tenant/tenant_internal.h"

HdbTenantShared *hdb_tenant_shared = NULL;

static Size
tenant_shmem_size(void)
{
	return add_size(offsetof(HdbTenantShared, slots),
					mul_size(MaxBackends, sizeof(HdbContextSlot)));
}

static void
tenant_shmem_attach(void *ptr, bool found)
{
	hdb_tenant_shared = (HdbTenantShared *) ptr;
	if (!found)
	{
		memset(ptr, 0, tenant_shmem_size());
		pg_atomic_init_u64(&hdb_tenant_shared->registry_generation, 1);
		pg_atomic_init_u64(&hdb_tenant_shared->cross_tenant_denied, 0);
	}
}

void
hdb_tenant_init(void)
{
	hdb_shmem_register("heliosdb tenant", tenant_shmem_size,
					   tenant_shmem_attach, 0);
	hdb_context_init();
	hdb_registry_init();
	hdb_isolation_init();
}
