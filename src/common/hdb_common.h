/*-------------------------------------------------------------------------
 *
 * hdb_common.h
 *	  Interface of heliosdb's common module: the shared-memory registry
 *	  through which every module declares its shared state, and durable
 *	  state files that shared memory is rebuilt from at server start.
 *
 * Modules call hdb_shmem_register() from their init function, which runs
 * in _PG_init while shared_preload_libraries is being processed.  The
 * registry requests the space in shmem_request_hook and attaches every
 * region in shmem_startup_hook, so no module installs those hooks itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_COMMON_H
#define HDB_COMMON_H

#include "storage/lwlock.h"

/* Schema holding every SQL object of the extension. */
#define HDB_SCHEMA "heliosdb"

/* Size of a region; called from shmem_request_hook (MaxBackends is known). */
typedef Size (*hdb_shmem_size_fn) (void);

/*
 * Attach a region.  Called under AddinShmemInitLock in the postmaster and,
 * on EXEC_BACKEND platforms, in every backend; "found" is false only the
 * first time, when the region must be initialized.
 */
typedef void (*hdb_shmem_attach_fn) (void *ptr, bool found);

extern void hdb_common_init(void);
extern void hdb_shmem_register(const char *name, hdb_shmem_size_fn size,
							   hdb_shmem_attach_fn attach,
							   int num_lwlocks);
extern LWLockPadded *hdb_shmem_lwlocks(const char *name);

/* Durable state files in the data directory (statefile.c). */
extern bool hdb_statefile_write(const char *name, uint32 magic,
								uint32 version, const void *records,
								uint32 count, Size recsize,
								const char *detail);
extern void *hdb_statefile_read(const char *name, uint32 magic,
								uint32 version, Size recsize,
								uint32 *count, bool *damaged);

#endif							/* HDB_COMMON_H */
