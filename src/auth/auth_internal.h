/*-------------------------------------------------------------------------
 *
 * auth_internal.h
 *	  Declarations shared by the files of heliosdb's auth module only:
 *	  its GUC variables, JWT verification, the JWT key set and the session
 *	  guard (role lock and permission sets).
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_AUTH_INTERNAL_H
#define HDB_AUTH_INTERNAL_H

#include <openssl/evp.h>

#include "auth/hdb_auth.h"
#include "utils/jsonb.h"

/* Longest token accepted, in bytes. */
#define HDB_JWT_MAX_LENGTH	8192
/* Shortest HMAC secret accepted, in bytes (RFC 7518 section 3.2). */
#define HDB_JWT_MIN_SECRET	32

/* GUC variables (auth.c) */
extern char *hdb_jwt_secret;
extern char *hdb_jwt_key_file;
extern char *hdb_jwt_algorithms;
extern char *hdb_jwt_issuer;
extern char *hdb_jwt_audience;
extern int	hdb_jwt_leeway;
extern bool hdb_lock_role_after_login;

/*
 * Bumped whenever a setting that decides whether a token verifies changes
 * (GUC assignments, key file reloads); cached verifications of an older
 * generation are ignored.
 */
extern uint64 hdb_jwt_config_generation;

/* JWS algorithms, as bits of the heliosdb.jwt_algorithms set. */
typedef enum HdbJwtAlg
{
	HDB_JWT_HS256 = 0,
	HDB_JWT_HS384,
	HDB_JWT_HS512,
	HDB_JWT_RS256,
	HDB_JWT_RS384,
	HDB_JWT_RS512,
	HDB_JWT_ES256,
	HDB_JWT_ES384,
	HDB_JWT_EDDSA,
	HDB_JWT_NUM_ALGS
} HdbJwtAlg;

/* Kinds of key an algorithm is verified with. */
typedef enum HdbJwtKeyType
{
	HDB_KEY_HMAC,
	HDB_KEY_RSA,
	HDB_KEY_EC_P256,
	HDB_KEY_EC_P384,
	HDB_KEY_ED25519
} HdbJwtKeyType;

extern int	hdb_jwt_alg_lookup(const char *name);
extern const char *hdb_jwt_alg_name(int alg);
extern HdbJwtKeyType hdb_jwt_alg_key_type(int alg);
extern uint32 hdb_jwt_allowed_algs(void);
extern bool hdb_jwt_parse_alg_list(const char *value, uint32 *algs);

/* What a verified token proves (jwt.c). */
typedef struct HdbJwtResult
{
	char	   *user_id;		/* "sub", or NULL */
	char	   *tenant;			/* "tenant_id", or NULL */
	char	   *role;			/* "role", or NULL */
	uint32		permissions;	/* from "permissions"; all when absent */
	TimestampTz expires_at;		/* from "exp" */
	Jsonb	   *claims;			/* the whole payload */
	bool		cached;			/* signature check skipped (cache hit) */
} HdbJwtResult;

extern void hdb_jwt_verify(const char *token, size_t len,
						   HdbJwtResult *result);
extern void hdb_jwt_cache_reset(void);

/* Strict JSON (jwt_json.c) */
extern Jsonb *hdb_json_parse_strict(const char *buf, int len,
									const char *what, int sqlerrcode);

/* Key set (jwt_keys.c) */
extern EVP_PKEY *hdb_jwt_find_key(int alg, const char *kid);
extern void hdb_jwt_keys_refresh(void);

/* Connection-time login (conn_login.c) */
extern char *hdb_token_login_roles;
extern void hdb_conn_login_init(void);
extern void hdb_conn_login_apply(void);

/* Session guard (guard.c) */
extern void hdb_guard_init(void);

/* Logins (login.c) */
extern void hdb_login_remember_claims(Jsonb *claims);
extern Jsonb *hdb_login_current_claims(void);

/* Role lock (role_lock.c) */
extern void hdb_role_lock_init(void);
extern void hdb_role_lock_set_role(const char *role, bool local);
extern void hdb_login_check_role(void);
extern void hdb_login_refuse_role_change(const char *what);

#endif							/* HDB_AUTH_INTERNAL_H */
