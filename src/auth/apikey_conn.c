/*-------------------------------------------------------------------------
 *
 * apikey_conn.c
 *	  API-key login at connection time: the check ClientAuthentication_hook
 *	  makes of the startup option heliosdb.api_key, and its completion at
 *	  the first statement.
 *
 * The hook cannot read the key table of the database a client connects
 * to; it checks the copy of the keys in shared memory (apikey_keycopy.c):
 * form of the key, SHA-256 compared in constant time, lockout, revocation
 * and expiry.  That copy is a filter that lets the hook refuse before the
 * connection is accepted; the key table stays the authority: at the first
 * statement, when the database is open, the key is confirmed against its
 * row, and the permission set and tenant are derived from it as a SQL
 * login derives them (hdb_apikey_conn_finish()).  So a stale copy can
 * refuse a valid key (fail closed) but never admit a session with a key
 * the table no longer accepts.
 *
 * Wrong secrets count toward the lockout of apikey_lockout.c exactly as
 * SQL logins do, keyed by the key's database oid from the copy (the
 * hook runs before MyDatabaseId is set).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "auth/apikey_internal.h"

static void refuse(int sqlerrcode, const char *msg, const char *detail)
			pg_attribute_noreturn();

/* Refuse a connection; never names the key. */
static void
refuse(int sqlerrcode, const char *msg, const char *detail)
{
	if (detail)
		ereport(FATAL, (errcode(sqlerrcode), errmsg_internal("%s", msg),
						errdetail_internal("%s", detail)));
	ereport(FATAL, (errcode(sqlerrcode), errmsg_internal("%s", msg)));
}

/*
 * Verify the API key a client passed at connection to database "dbname",
 * from shared memory only (ClientAuthentication_hook: no catalog, no
 * waiting but for LWLocks and the fsync of a counted failure).  Refuses
 * with FATAL; on success fills *result.  "key" is wiped.
 */
void
hdb_apikey_conn_verify(const char *dbname, char *key,
					   HdbApikeyConnLogin *result)
{
	size_t		len = strlen(key);
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	uint8		hash[HDB_APIKEY_HASH_LEN];
	HdbKeyVerifier entry;
	bool		found;
	bool		match;
	HdbLockoutState state;

	if (!hdb_apikey_is_wellformed(key, len))
	{
		explicit_bzero(key, len);
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("malformed API key"),
			   psprintf(_("An API key is \"%s\" followed by %d letters and digits."),
						HDB_APIKEY_PREFIX, HDB_APIKEY_BODY_LEN));
	}
	memcpy(key_id, key + HDB_APIKEY_PREFIX_LEN, HDB_APIKEY_ID_LEN);
	key_id[HDB_APIKEY_ID_LEN] = '\0';
	hdb_apikey_hash(key, len, hash);
	explicit_bzero(key, len);

	found = hdb_apikey_keycopy_lookup(dbname, key_id, &entry);

	/* An unknown key id gets the answer of a wrong secret. */
	if (!found)
	{
		explicit_bzero(hash, sizeof(hash));
		refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"), NULL);
	}

	match = CRYPTO_memcmp(hash, entry.hash, HDB_APIKEY_HASH_LEN) == 0;
	explicit_bzero(entry.hash, sizeof(entry.hash));

	if (!match)
	{
		bool		counted;

		explicit_bzero(hash, sizeof(hash));

		counted = hdb_apikey_lockout_failure(entry.dboid, key_id, &state);
		if (state.locked_until != 0 && !counted)
			refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
				   _("API key is locked"),
				   psprintf(_("Too many failed attempts: the key is locked until %s."),
							timestamptz_to_str(state.locked_until)));
		if (state.locked_until != 0)
			refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"),
				   psprintf(_("Too many failed attempts: the key is now locked until %s."),
							timestamptz_to_str(state.locked_until)));
		refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"), NULL);
	}
	if (!hdb_apikey_lockout_success(entry.dboid, key_id, &state))
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("API key is locked"),
			   psprintf(_("Too many failed attempts: the key is locked until %s."),
						timestamptz_to_str(state.locked_until)));

	if (entry.revoked)
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("API key has been revoked"), NULL);
	if (entry.expires_at <= GetCurrentTimestamp())
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("API key has expired"),
			   entry.rotated ?
			   _("The key was replaced by rotation and its grace period has ended.") :
			   NULL);

	memset(result, 0, sizeof(*result));
	result->dboid = entry.dboid;
	strlcpy(result->key_id, key_id, sizeof(result->key_id));
	memcpy(result->hash, hash, HDB_APIKEY_HASH_LEN);
	strlcpy(result->role, NameStr(entry.role), sizeof(result->role));
	result->expires_at = entry.expires_at;
	explicit_bzero(hash, sizeof(hash));
}

/*
 * Complete a connection-time API-key login at the first statement, when
 * the database is open.  The copy in shared memory that the hook checked
 * is only a filter: the key table is the authority, and the key must
 * still be valid there (this also refuses keys of a database dropped and
 * re-created under the same name, or of an extension dropped and created
 * again).  Derives what a SQL login derives: the permission set from the
 * role, the tenant from the row.  A key that no longer qualifies ends the
 * connection.  Wipes the key's hash.
 */
void
hdb_apikey_conn_finish(HdbApikeyConnLogin *key, HdbLogin *login)
{
	Oid			roleid;
	char	   *tenant;
	TimestampTz expires_at;
	bool		confirmed;

	if (key->dboid != MyDatabaseId)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("API key does not belong to this database"),
				 errdetail("The database the key was created in was dropped or renamed.")));
	if (!OidIsValid(get_extension_oid("heliosdb", true)))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("API key does not belong to this database"),
				 errdetail("Extension \"heliosdb\" is not installed in this database.")));

	confirmed = hdb_apikey_confirm(key->key_id, key->hash, key->role,
								   &tenant, &expires_at);
	if (!confirmed)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("API key is no longer valid"),
				 errdetail("The key was revoked, expired, deleted or changed after the connection was authorized.")));

	roleid = get_role_oid(key->role, true);
	if (!OidIsValid(roleid))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role of the API key does not exist")));
	if (superuser_arg(roleid))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role of the API key is a superuser"),
				 errdetail("API keys cannot act as superuser roles.")));

	login->permissions = hdb_apikey_role_permissions(roleid);
	login->tenant = tenant ? MemoryContextStrdup(TopMemoryContext, tenant) :
		NULL;
	login->expires_at = expires_at;

	if (hdb_apikey_expiry_warning > 0 &&
		expires_at - GetCurrentTimestamp() <=
		(int64) hdb_apikey_expiry_warning * USECS_PER_SEC)
		ereport(WARNING,
				(errmsg("API key expires soon"),
				 errdetail("Key \"%s\" expires at %s.", key->key_id,
						   timestamptz_to_str(expires_at)),
				 errhint("Replace it with heliosdb.apikey_rotate()."),
				 errhidestmt(true)));
}
