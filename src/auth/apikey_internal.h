/*-------------------------------------------------------------------------
 *
 * apikey_internal.h
 *	  Declarations shared by the API-key files of the auth module only
 *	  (apikey.c, apikey_login.c, apikey_lockout.c).
 *
 * Key format: "hdb_sk_" followed by HDB_APIKEY_BODY_LEN base62 characters.
 * The first HDB_APIKEY_ID_LEN of them are the key id, which is not secret
 * and finds the key's row; the rest is the secret.  The key table keeps the
 * SHA-256 of the whole key string.
 *
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_INTERNAL_H
#define APIKEY_INTERNAL_H

#include "datatype/timestamp.h"

#define HDB_APIKEY_PREFIX		"hdb_sk_"
#define HDB_APIKEY_PREFIX_LEN	7
#define HDB_APIKEY_ID_LEN		12
#define HDB_APIKEY_SECRET_LEN	32
#define HDB_APIKEY_BODY_LEN		(HDB_APIKEY_ID_LEN + HDB_APIKEY_SECRET_LEN)
#define HDB_APIKEY_LEN			(HDB_APIKEY_PREFIX_LEN + HDB_APIKEY_BODY_LEN)
#define HDB_APIKEY_HASH_LEN		32	/* SHA-256 */

/* GUCs (apikey.c) */
extern int	hdb_apikey_expiry_warning;	/* seconds; 0 disables */
extern int	hdb_apikey_max_failed_attempts;
extern int	hdb_apikey_lockout_duration;	/* seconds */
extern int	hdb_apikey_lockout_entries;

/* apikey.c */
extern void hdb_apikey_init(void);
extern bool hdb_apikey_is_wellformed(const char *key, size_t len);
extern void hdb_apikey_hash(const char *key, size_t len,
							uint8 hash[HDB_APIKEY_HASH_LEN]);

/* apikey_login.c */
extern uint32 hdb_apikey_role_permissions(Oid roleid);

/* apikey_lockout.c */
extern void hdb_apikey_lockout_init(void);

/* Outcome of an attempt as the lockout table records it. */
typedef struct HdbLockoutState
{
	int			failed_attempts;	/* wrong secrets since the last success */
	TimestampTz locked_until;	/* 0 when not locked */
} HdbLockoutState;

extern bool hdb_apikey_lockout_failure(const char *key_id,
									   HdbLockoutState *state);
extern bool hdb_apikey_lockout_success(const char *key_id,
									   HdbLockoutState *state);

#endif							/* APIKEY_INTERNAL_H */
