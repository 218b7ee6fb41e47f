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
#include "utils/uuid.h"

#include "auth/hdb_auth.h"

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
extern int	hdb_apikey_max_keys;

/* apikey.c */
extern void hdb_apikey_init(void);
extern bool hdb_apikey_is_wellformed(const char *key, size_t len);
extern void hdb_apikey_hash(const char *key, size_t len,
							uint8 hash[HDB_APIKEY_HASH_LEN]);

/* apikey_login.c */
extern uint32 hdb_apikey_role_permissions(Oid roleid);

/* What hdb_apikey_owner_enter() changed, for hdb_apikey_owner_exit(). */
typedef struct HdbOwnerScope
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} HdbOwnerScope;

extern void hdb_apikey_owner_enter(HdbOwnerScope *scope);
extern void hdb_apikey_owner_exit(HdbOwnerScope *scope);
extern bool hdb_apikey_confirm(const char *key_id, const uint8 *hash,
							   const char *role, char **tenant,
							   TimestampTz *expires_at);

/*
 * A key verified at connection time (apikey_conn.c), kept by conn_login.c
 * until the first statement completes the login.
 */
typedef struct HdbApikeyConnLogin
{
	Oid			dboid;			/* database the key belongs to */
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	uint8		hash[HDB_APIKEY_HASH_LEN];	/* to confirm against the table */
	char		role[NAMEDATALEN];
	TimestampTz expires_at;		/* effective: the grace end if sooner */
} HdbApikeyConnLogin;

/*
 * What the connection hook needs of one key: an entry of the copy in
 * shared memory (apikey_keycopy.c).
 */
typedef struct HdbKeyVerifier
{
	Oid			dboid;			/* database of the key table */
	NameData	dbname;			/* its name when the key last changed */
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	uint8		hash[HDB_APIKEY_HASH_LEN];
	NameData	role;
	bool		has_tenant;
	bool		revoked;
	bool		rotated;
	pg_uuid_t	tenant_id;
	TimestampTz expires_at;		/* effective: the grace end if sooner */
} HdbKeyVerifier;

/* apikey_keycopy.c */
extern void hdb_apikey_keycopy_init(void);
extern bool hdb_apikey_keycopy_lookup(const char *dbname, const char *key_id,
									  HdbKeyVerifier *entry);

/* apikey_conn.c */
extern void hdb_apikey_conn_verify(const char *dbname, char *key,
								   HdbApikeyConnLogin *result);
extern void hdb_apikey_conn_finish(HdbApikeyConnLogin *key,
								   HdbLogin *login);

/* apikey_lockout.c */
extern void hdb_apikey_lockout_init(void);

/* Outcome of an attempt as the lockout table records it. */
typedef struct HdbLockoutState
{
	int			failed_attempts;	/* wrong secrets since the last success */
	TimestampTz locked_until;	/* 0 when not locked */
} HdbLockoutState;

extern bool hdb_apikey_lockout_failure(Oid dboid, const char *key_id,
									   HdbLockoutState *state);
extern bool hdb_apikey_lockout_success(Oid dboid, const char *key_id,
									   HdbLockoutState *state);

#endif							/* APIKEY_INTERNAL_H */
