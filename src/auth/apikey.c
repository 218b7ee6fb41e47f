/*-------------------------------------------------------------------------
 *
 * apikey.c
 *	  API keys: set-up (GUCs, lockout shared memory), the key format and
 *	  the generation of new keys.
 *
 * A key is "hdb_sk_" followed by 44 base62 characters drawn from the
 * operating system's CSPRNG (pg_strong_random) with rejection sampling, so
 * that every character is uniform over the 62 symbols: 12 characters of key
 * id (about 71 bits, not secret) and 32 of secret (about 190 bits).  Only
 * the SHA-256 of the key is stored.  A fast hash is enough here: a slow
 * password hash protects guessable secrets against offline search, and a
 * 190-bit random secret cannot be searched for, while a fast hash keeps a
 * login in the microseconds.
 *
 * Creating, rotating and revoking keys is done by the SQL functions of
 * sql/install/022_apikey.sql; logins are in apikey_login.c and the lockout
 * after failed attempts in apikey_lockout.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "auth/apikey_internal.h"
#include "auth/hdb_auth.h"

int			hdb_apikey_expiry_warning = 14 * 24 * 3600;
int			hdb_apikey_max_failed_attempts = 5;
int			hdb_apikey_lockout_duration = 15 * 60;
int			hdb_apikey_lockout_entries = 1024;
int			hdb_apikey_max_keys = 1024;

static const char base62[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/*
 * Define the API-key GUCs and register the lockout table and the key table
 * of the connection-time login.  Called from
 * hdb_auth_init() while the library is preloaded.
 */
void
hdb_apikey_init(void)
{
	DefineCustomIntVariable("heliosdb.apikey_expiry_warning",
							"Warn at login when an API key expires within this time.",
							"0 turns the warning off.",
							&hdb_apikey_expiry_warning,
							14 * 24 * 3600, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.apikey_max_failed_attempts",
							"Wrong secrets after which an API key is locked.",
							NULL,
							&hdb_apikey_max_failed_attempts,
							5, 1, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.apikey_lockout_duration",
							"How long an API key stays locked after too many wrong secrets.",
							NULL,
							&hdb_apikey_lockout_duration,
							15 * 60, 1, 30 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.apikey_lockout_entries",
							"Number of API keys whose failed attempts can be tracked at once.",
							NULL,
							&hdb_apikey_lockout_entries,
							1024, 16, 1024 * 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.apikey_max_keys",
							"Number of API keys, of all databases, that can log in at connection time.",
							"Keys are held in shared memory for the startup option heliosdb.api_key.",
							&hdb_apikey_max_keys,
							1024, 16, 1024 * 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	hdb_apikey_lockout_init();
	hdb_apikey_keycopy_init();
}

static inline bool
is_base62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		(c >= 'a' && c <= 'z');
}

/*
 * Does "key" (of "len" bytes, not necessarily terminated) have the form of
 * an API key?  The test takes the same time for every key of the right
 * length, so that it says nothing about where a key went wrong.
 */
bool
hdb_apikey_is_wellformed(const char *key, size_t len)
{
	int			bad = 0;

	if (len != HDB_APIKEY_LEN)
		return false;
	bad |= memcmp(key, HDB_APIKEY_PREFIX, HDB_APIKEY_PREFIX_LEN) != 0;
	for (size_t i = HDB_APIKEY_PREFIX_LEN; i < len; i++)
		bad |= !is_base62(key[i]);
	return bad == 0;
}

/* SHA-256 of a key string. */
void
hdb_apikey_hash(const char *key, size_t len, uint8 hash[HDB_APIKEY_HASH_LEN])
{
	unsigned int hashlen = 0;

	if (EVP_Digest(key, len, hash, &hashlen, EVP_sha256(), NULL) != 1 ||
		hashlen != HDB_APIKEY_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the hash of an API key")));
}

/*
 * Fill "out" with "n" base62 characters from the CSPRNG.  A random byte
 * below 248 (= 4 * 62) maps to byte % 62, which is uniform; bytes of 248
 * and above are thrown away and replaced.
 */
static void
random_base62(char *out, int n)
{
	uint8		buf[64];
	int			filled = 0;

	while (filled < n)
	{
		if (!pg_strong_random(buf, sizeof(buf)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes for an API key")));
		for (int i = 0; i < sizeof(buf) && filled < n; i++)
		{
			if (buf[i] < 248)
				out[filled++] = base62[buf[i] % 62];
		}
	}
	explicit_bzero(buf, sizeof(buf));
}

/*
 * heliosdb._apikey_generate(OUT api_key text, OUT key_id text,
 *							 OUT key_hash bytea)
 *
 * A fresh key, its id and the hash to store.  Called only by the
 * SECURITY DEFINER functions that create keys.
 */
PG_FUNCTION_INFO_V1(hdb_apikey_generate);
Datum
hdb_apikey_generate(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	char		key[HDB_APIKEY_LEN + 1];
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	uint8		hash[HDB_APIKEY_HASH_LEN];
	bytea	   *hash_datum;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memcpy(key, HDB_APIKEY_PREFIX, HDB_APIKEY_PREFIX_LEN);
	random_base62(key + HDB_APIKEY_PREFIX_LEN, HDB_APIKEY_BODY_LEN);
	key[HDB_APIKEY_LEN] = '\0';
	memcpy(key_id, key + HDB_APIKEY_PREFIX_LEN, HDB_APIKEY_ID_LEN);
	key_id[HDB_APIKEY_ID_LEN] = '\0';
	hdb_apikey_hash(key, HDB_APIKEY_LEN, hash);

	hash_datum = (bytea *) palloc(VARHDRSZ + HDB_APIKEY_HASH_LEN);
	SET_VARSIZE(hash_datum, VARHDRSZ + HDB_APIKEY_HASH_LEN);
	memcpy(VARDATA(hash_datum), hash, HDB_APIKEY_HASH_LEN);

	values[0] = CStringGetTextDatum(key);
	values[1] = CStringGetTextDatum(key_id);
	values[2] = PointerGetDatum(hash_datum);
	tuple = heap_form_tuple(tupdesc, values, nulls);

	explicit_bzero(key, sizeof(key));
	explicit_bzero(hash, sizeof(hash));
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * heliosdb._apikey_permissions(role name) RETURNS text[]
 *
 * The permission words a key acting as "role" gets at login, for the view
 * heliosdb.apikeys; NULL when no key can act as that role (it does not
 * exist, or it is a superuser).
 */
PG_FUNCTION_INFO_V1(hdb_apikey_permissions);
Datum
hdb_apikey_permissions(PG_FUNCTION_ARGS)
{
	static const char *const words[] = {
		"read", "write", "delete", "create_table", "create_view",
		"batch_write", "run_analytics"
	};
	Oid			roleid = get_role_oid(NameStr(*PG_GETARG_NAME(0)), true);
	uint32		perms;
	Datum		elems[lengthof(words)];
	int			n = 0;

	if (!OidIsValid(roleid) || superuser_arg(roleid))
		PG_RETURN_NULL();

	perms = hdb_apikey_role_permissions(roleid);
	if (perms == HDB_PERMISSIONS_ALL)
		elems[n++] = CStringGetTextDatum("*");
	else
	{
		for (int i = 0; i < lengthof(words); i++)
		{
			uint32		bit = hdb_permission_bit(words[i]);

			if (bit != 0 && (perms & bit) == bit)
				elems[n++] = CStringGetTextDatum(words[i]);
		}
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false,
										  TYPALIGN_INT));
}
