/*-------------------------------------------------------------------------
 *
 * hdb_auth.h
 *	  Interface of heliosdb's auth module: token authentication (JWT, API
 *	  keys), login sessions and permission sets.
 *
 * Every kind of login verifies its credential first and then calls
 * hdb_login_establish() with what the credential proved; that function
 * alone turns a verified identity into the session security context (see
 * tenant/hdb_tenant.h) and switches role.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_AUTH_H
#define HDB_AUTH_H

#include "datatype/timestamp.h"

#include "tenant/hdb_tenant.h"

/* Permission words of the seed's RBAC, as bits of a permission set. */
#define HDB_PERM_READ			(1U << 0)
#define HDB_PERM_WRITE			(1U << 1)
#define HDB_PERM_DELETE			(1U << 2)
#define HDB_PERM_CREATE_TABLE	(1U << 3)
#define HDB_PERM_CREATE_VIEW	(1U << 4)
#define HDB_PERM_BATCH_WRITE	(1U << 5)
#define HDB_PERM_RUN_ANALYTICS	(1U << 6)
/* "*" is HDB_PERMISSIONS_ALL (tenant/hdb_tenant.h). */

/* A verified identity, as a login hands it over. */
typedef struct HdbLogin
{
	HdbContextSource source;	/* HDB_SOURCE_JWT or HDB_SOURCE_APIKEY */
	const char *user_id;		/* JWT "sub", API key id; NULL for none */
	const char *tenant;			/* registry name; NULL for none */
	const char *role;			/* role to switch to; NULL to keep */
	uint32		permissions;	/* HDB_PERM_* bits */
	TimestampTz expires_at;		/* 0 when the login does not expire */
	bool		local;			/* ends with the current transaction */
} HdbLogin;

extern void hdb_auth_init(void);

extern void hdb_login_establish(const HdbLogin *login);
extern void hdb_logout(void);
extern uint32 hdb_permission_bit(const char *word);

#endif							/* HDB_AUTH_H */
