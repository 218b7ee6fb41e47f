/*-------------------------------------------------------------------------
 *
 * hdb_auth.h
 *	  Interface of heliosdb's auth module: token authentication (JWT, API keys), login sessions and permission sets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_AUTH_H
#define HDB_AUTH_H

extern void hdb_auth_init(void);

#endif							/* HDB_AUTH_H */
