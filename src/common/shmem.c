/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared-memory registry of heliosdb.
 *
 * Each module registers its regions (name, size function, attach function
 * and an optional number of LWLocks, which get a named tranche of the same
 * name) while the library is preloaded.  This file owns the only
 * shmem_request_hook and shmem_startup_hook of the extension and chains
 * both to their previous values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "common/hdb_common.h"

#define HDB_MAX_SHMEM_REGIONS 16

typedef struct HdbShmemRegion
{
	const char *name;
	hdb_shmem_size_fn size;
	hdb_shmem_attach_fn attach;
	int			num_lwlocks;
} HdbShmemRegion;

static HdbShmemRegion regions[HDB_MAX_SHMEM_REGIONS];
static int	num_regions = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void hdb_shmem_request(void);
static void hdb_shmem_startup(void);

void
hdb_common_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hdb_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hdb_shmem_startup;
}

/*
 * Declare a shared-memory region.  Only valid while the library is being
 * preloaded, before shmem_request_hook runs.
 */
void
hdb_shmem_register(const char *name, hdb_shmem_size_fn size,
				   hdb_shmem_attach_fn attach, int num_lwlocks)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "heliosdb shared memory must be registered while preloading");
	if (num_regions >= HDB_MAX_SHMEM_REGIONS)
		elog(ERROR, "too many heliosdb shared memory regions");

	regions[num_regions].name = name;
	regions[num_regions].size = size;
	regions[num_regions].attach = attach;
	regions[num_regions].num_lwlocks = num_lwlocks;
	num_regions++;
}

/*
 * The LWLocks requested with a region; valid once shared memory is attached.
 */
LWLockPadded *
hdb_shmem_lwlocks(const char *name)
{
	return GetNamedLWLockTranche(name);
}

static void
hdb_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	for (int i = 0; i < num_regions; i++)
	{
		RequestAddinShmemSpace(MAXALIGN(regions[i].size()));
		if (regions[i].num_lwlocks > 0)
			RequestNamedLWLockTranche(regions[i].name,
									  regions[i].num_lwlocks);
	}
}

static void
hdb_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < num_regions; i++)
	{
		bool		found;
		void	   *ptr;

		ptr = ShmemInitStruct(regions[i].name, regions[i].size(), &found);
		regions[i].attach(ptr, found);
	}
	LWLockRelease(AddinShmemInitLock);
}
