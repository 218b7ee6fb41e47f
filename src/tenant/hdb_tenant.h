/*-------------------------------------------------------------------------
 *
 * hdb_tenant.h
 *	  Interface of heliosdb's tenant module: the tenant registry and the
 *	  session security context (tenant, user, role, permissions, source).
 *
 * The context lives in backend memory and changes only through
 * hdb_context_set()/hdb_context_reset(), which the trusted login paths
 * call after verifying a caller: heliosdb.set_tenant() for administrators,
 * and the auth module for verified tokens and API keys.  There is no GUC
 * behind it, so nothing a client can SET reaches it.
 *
 * Changes are transactional, like GUC assignments: an aborted
 * (sub)transaction undoes them, and a change made with local = true ends
 * with the top-level transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_TENANT_H
#define HDB_TENANT_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* Registry names match ^[a-z0-9][a-z0-9_-]{0,62}$, so 63 bytes at most. */
#define HDB_TENANT_NAME_MAX 64
/* Longest user id (JWT "sub", API key id) a context can hold. */
#define HDB_USER_ID_MAX 256

typedef enum HdbContextSource
{
	HDB_SOURCE_NONE = 0,
	HDB_SOURCE_SET_TENANT,
	HDB_SOURCE_JWT,
	HDB_SOURCE_APIKEY
} HdbContextSource;

/*
 * A session security context.  Fixed size and pointer-free, so that it can
 * be copied by assignment, saved for rollback and published to parallel
 * workers through shared memory.
 */
typedef struct HdbSecurityContext
{
	HdbContextSource source;	/* HDB_SOURCE_NONE: no context */
	bool		local;			/* ends with the current transaction */
	bool		has_tenant;
	bool		tenant_resolved;	/* tenant_id looked up in the registry */
	pg_uuid_t	tenant_id;
	char		tenant_name[HDB_TENANT_NAME_MAX];
	char		user_id[HDB_USER_ID_MAX];	/* "" when none */
	Oid			role;			/* role the login switched to, or InvalidOid */
	uint32		permissions;	/* permission bits, defined by the auth module */
	TimestampTz expires_at;		/* 0 when the context does not expire */
	uint64		registry_generation;	/* registry version when resolved */
} HdbSecurityContext;

/* Permission bits of a context that is not restricted at all. */
#define HDB_PERMISSIONS_ALL ((uint32) 0xFFFFFFFF)

extern void hdb_tenant_init(void);

/* Session security context */
extern const HdbSecurityContext *hdb_context_get(void);
extern const HdbSecurityContext *hdb_context_get_unchecked(void);
extern void hdb_context_set(const HdbSecurityContext *ctx);
extern void hdb_context_reset(void);
extern bool hdb_tenant_name_is_valid(const char *name);

/* A registry row. */
typedef struct HdbTenantRow
{
	pg_uuid_t	id;
	char		name[HDB_TENANT_NAME_MAX];
	int64		storage_quota;	/* bytes; -1 when unset */
	int32		qps_limit;		/* statements per second; 0 when unset */
} HdbTenantRow;

/* Registry */
extern bool hdb_registry_fetch(const char *name, HdbTenantRow *row);
extern bool hdb_registry_lookup_name(const char *name, pg_uuid_t *id);
extern bool hdb_registry_lookup_id(const pg_uuid_t *id, char *name);
extern uint64 hdb_registry_generation(void);

#endif							/* HDB_TENANT_H */
