/*-------------------------------------------------------------------------
 *
 * hdb_quota.h
 *	  Interface of heliosdb's quota module: storage quotas, rate limits and bans.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_QUOTA_H
#define HDB_QUOTA_H

extern void hdb_quota_init(void);

#endif							/* HDB_QUOTA_H */
