/*-------------------------------------------------------------------------
 *
 * apikey_login.c
 *	  heliosdb.login_apikey(): verify an API key and establish the
 *	  session's security context from it.
 *
 * Steps: check the form of the key (without echoing it in any message),
 * find its row by key id, compare the SHA-256 of the presented key with the
 * stored one in constant time, settle the attempt with the lockout table
 * (apikey_lockout.c), then check revocation, expiry (including the grace
 * period of a rotated key) and the key's role, and hand the identity to
 * hdb_login_establish().
 *
 * login_apikey() cannot be SECURITY DEFINER, because a security-definer
 * function may not switch role, yet callers have no privilege on the key
 * table.  So the table is read and last_used_at written as the table's
 * owner, with a restricted security context, through saved SPI plans whose
 * every name and operator is schema-qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "auth/apikey_internal.h"
#include "auth/hdb_auth.h"
#include "common/hdb_common.h"

/* What login needs of a key's row. */
typedef struct KeyRow
{
	uint8		hash[HDB_APIKEY_HASH_LEN];
	char		role[NAMEDATALEN];
	bool		has_tenant;
	char		tenant[HDB_TENANT_NAME_MAX];
	TimestampTz expires_at;		/* effective: the grace end if sooner */
	bool		revoked;
	bool		rotated;
	bool		needs_touch;	/* last_used_at is due for an update */
} KeyRow;

/* last_used_at is written at most once per this interval. */
#define TOUCH_INTERVAL "1 min"

/*
 * Queries run as the key table's owner.  Every name and operator is
 * schema-qualified, so that no object of the caller's search_path can
 * take part.
 */
static const char *const lookup_query =
"SELECT a.key_hash, a.role, t.name, a.expires_at,"
"       a.revoked_at IS NOT NULL, a.grace_until,"
"       a.replaced_by IS NOT NULL,"
"       (a.last_used_at IS NULL OR a.last_used_at"
"        OPERATOR(pg_catalog.<) (pg_catalog.now()"
"        OPERATOR(pg_catalog.-) '" TOUCH_INTERVAL "'::pg_catalog.interval))"
" FROM " HDB_SCHEMA ".apikey a"
" LEFT JOIN " HDB_SCHEMA ".tenant t"
"   ON t.id OPERATOR(pg_catalog.=) a.tenant_id"
" WHERE a.key_id OPERATOR(pg_catalog.=) $1";

static const char *const lock_query =
"SELECT 1 FROM " HDB_SCHEMA ".apikey a"
" WHERE a.key_id OPERATOR(pg_catalog.=) $1"
"   AND (a.last_used_at IS NULL OR a.last_used_at"
"        OPERATOR(pg_catalog.<) (pg_catalog.now()"
"        OPERATOR(pg_catalog.-) '" TOUCH_INTERVAL "'::pg_catalog.interval))"
" FOR NO KEY UPDATE OF a SKIP LOCKED";

static const char *const touch_query =
"UPDATE " HDB_SCHEMA ".apikey a"
" SET last_used_at = pg_catalog.now()"
" WHERE a.key_id OPERATOR(pg_catalog.=) $1";

static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr touch_plan = NULL;

static void refuse(int sqlerrcode, const char *msg, const char *detail)
			pg_attribute_noreturn();
static void refuse_locked(const HdbLockoutState *state) pg_attribute_noreturn();
static void refuse_malformed(void) pg_attribute_noreturn();

static SPIPlanPtr
prepare_saved(const char *query)
{
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan = SPI_prepare(query, 1, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static void
prepare_plans(void)
{
	if (lookup_plan == NULL)
		lookup_plan = prepare_saved(lookup_query);
	if (lock_plan == NULL)
		lock_plan = prepare_saved(lock_query);
	if (touch_plan == NULL)
		touch_plan = prepare_saved(touch_query);
}

/*
 * Owner of heliosdb.apikey, as whom the key table is read.
 */
static Oid
key_table_owner(void)
{
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("apikey", nsp) : InvalidOid;
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"heliosdb\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION heliosdb.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Become the key table's owner, in a restricted security context, with a
 * search_path of pg_catalog only, and connect to SPI with the plans
 * prepared.  An error on the way is cleaned up by the transaction's abort.
 * Also used by apikey_conn.c, which reads the key table at commit.
 */
void
hdb_apikey_owner_enter(HdbOwnerScope *scope)
{
	GetUserIdAndSecContext(&scope->userid, &scope->sec_context);
	SetUserIdAndSecContext(key_table_owner(),
						   scope->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	scope->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_plans();
}

void
hdb_apikey_owner_exit(HdbOwnerScope *scope)
{
	SPI_finish();
	AtEOXact_GUC(true, scope->nestlevel);
	SetUserIdAndSecContext(scope->userid, scope->sec_context);
}

/*
 * Find a key's row; false when there is none.  Runs with SPI connected.
 */
static bool
lookup_key(const char *key_id, KeyRow *row)
{
	Datum		arg = CStringGetTextDatum(key_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	bytea	   *hash;

	if (SPI_execute_plan(lookup_plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up API key");
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(row, 0, sizeof(*row));

	d = SPI_getbinval(tup, desc, 1, &isnull);
	hash = isnull ? NULL : DatumGetByteaPP(d);
	if (hash == NULL || VARSIZE_ANY_EXHDR(hash) != HDB_APIKEY_HASH_LEN)
		elog(ERROR, "API key \"%s\" has a damaged hash", key_id);
	memcpy(row->hash, VARDATA_ANY(hash), HDB_APIKEY_HASH_LEN);

	d = SPI_getbinval(tup, desc, 2, &isnull);
	strlcpy(row->role, NameStr(*DatumGetName(d)), sizeof(row->role));

	d = SPI_getbinval(tup, desc, 3, &isnull);
	row->has_tenant = !isnull;
	if (!isnull)
		text_to_cstring_buffer(DatumGetTextPP(d), row->tenant,
							   sizeof(row->tenant));

	row->expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	row->revoked = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull && DatumGetTimestampTz(d) < row->expires_at)
		row->expires_at = DatumGetTimestampTz(d);
	row->rotated = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	row->needs_touch = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	return true;
}

/*
 * Record the use of a key in last_used_at.  The caller calls this only
 * when the value read at lookup is older than TOUCH_INTERVAL, and not in
 * read-only transactions; the row is checked again under its lock.
 * A row locked by another transaction is skipped rather than waited for,
 * and a serialization failure (a concurrent update seen from a
 * REPEATABLE READ snapshot) is ignored: neither should fail a login.  Runs
 * with SPI connected, in a subtransaction so that such a failure leaves
 * the caller's transaction intact.
 */
static void
touch_key(const char *key_id)
{
	Datum		arg = CStringGetTextDatum(key_id);
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		if (SPI_execute_plan(lock_plan, &arg, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not lock API key");
		if (SPI_processed > 0 &&
			SPI_execute_plan(touch_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update API key");
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE)
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Confirm a connection-time login against the key table at its first
 * statement (the connection hook could only check the copy in shared
 * memory): the row of "key_id" must exist with the same hash and role, and
 * be neither revoked nor expired.  On success, returns the row's tenant
 * name (NULL for none, palloc'd) and effective expiry.
 */
bool
hdb_apikey_confirm(const char *key_id, const uint8 *hash, const char *role,
				   char **tenant, TimestampTz *expires_at)
{
	HdbOwnerScope scope;
	KeyRow		row;
	bool		found;
	bool		ok;

	hdb_apikey_owner_enter(&scope);
	found = lookup_key(key_id, &row);
	hdb_apikey_owner_exit(&scope);
	if (!found)
		return false;

	ok = CRYPTO_memcmp(hash, row.hash, HDB_APIKEY_HASH_LEN) == 0 &&
		!row.revoked && row.expires_at > GetCurrentTimestamp() &&
		strcmp(row.role, role) == 0;
	explicit_bzero(row.hash, sizeof(row.hash));
	*tenant = row.has_tenant ? pstrdup(row.tenant) : NULL;
	*expires_at = row.expires_at;
	return ok;
}

/*
 * Permission set of a key's role: the union of the sets of the seed's
 * group roles the role belongs to (directly or through other roles); a
 * role outside all of them may only read.
 */
uint32
hdb_apikey_role_permissions(Oid roleid)
{
	static const struct
	{
		const char *group;
		uint32		perms;
	}			map[] =
	{
		{"heliosdb_admin", HDB_PERMISSIONS_ALL},
		{"heliosdb_user", HDB_PERM_READ | HDB_PERM_WRITE | HDB_PERM_CREATE_TABLE},
		{"heliosdb_readonly", HDB_PERM_READ},
		{"heliosdb_service", HDB_PERM_READ | HDB_PERM_WRITE | HDB_PERM_BATCH_WRITE},
	};
	uint32		perms = 0;

	for (int i = 0; i < lengthof(map); i++)
	{
		Oid			group = get_role_oid(map[i].group, true);

		if (OidIsValid(group) && is_member_of_role_nosuper(roleid, group))
			perms |= map[i].perms;
	}
	return perms != 0 ? perms : HDB_PERM_READ;
}

/*
 * Refuse a login; "detail" may be NULL.  Never names the key, and keeps the
 * statement, which may hold the key as a literal, out of the server log.
 */
static void
refuse(int sqlerrcode, const char *msg, const char *detail)
{
	if (detail)
		ereport(ERROR, (errcode(sqlerrcode), errmsg_internal("%s", msg),
						errdetail_internal("%s", detail),
						errhidestmt(true)));
	ereport(ERROR, (errcode(sqlerrcode), errmsg_internal("%s", msg),
					errhidestmt(true)));
}

static void
refuse_locked(const HdbLockoutState *state)
{
	refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
		   _("API key is locked"),
		   psprintf(_("Too many failed attempts: the key is locked until %s."),
					timestamptz_to_str(state->locked_until)));
}

static void
refuse_malformed(void)
{
	refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
		   _("malformed API key"),
		   psprintf(_("An API key is \"%s\" followed by %d letters and digits."),
					HDB_APIKEY_PREFIX, HDB_APIKEY_BODY_LEN));
}

/*
 * heliosdb.login_apikey(api_key text, local boolean DEFAULT false)
 *		RETURNS TABLE (key_id text, tenant text, role name,
 *					   expires_at timestamptz)
 */
PG_FUNCTION_INFO_V1(hdb_login_apikey);
Datum
hdb_login_apikey(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key_text;
	char	   *key;
	size_t		len;
	bool		local;
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	uint8		hash[HDB_APIKEY_HASH_LEN];
	KeyRow		row;
	bool		found;
	bool		match;
	HdbLockoutState state;
	HdbOwnerScope scope;
	Oid			roleid;
	TimestampTz now;
	HdbLogin	login;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	NameData	rolename;

	if (PG_ARGISNULL(0))
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("no API key was given"), NULL);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("local must not be null")));
	local = PG_GETARG_BOOL(1);

	/* Work on a private copy, wiped once hashed. */
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) != HDB_APIKEY_LEN)
		refuse_malformed();
	key_text = PG_GETARG_TEXT_P_COPY(0);
	key = VARDATA(key_text);
	len = VARSIZE(key_text) - VARHDRSZ;
	if (!hdb_apikey_is_wellformed(key, len))
	{
		explicit_bzero(key, len);
		refuse_malformed();
	}
	memcpy(key_id, key + HDB_APIKEY_PREFIX_LEN, HDB_APIKEY_ID_LEN);
	key_id[HDB_APIKEY_ID_LEN] = '\0';
	hdb_apikey_hash(key, len, hash);
	explicit_bzero(key, len);
	pfree(key_text);

	/* Read the key's row as the table's owner. */
	InitMaterializedSRF(fcinfo, 0);
	hdb_apikey_owner_enter(&scope);
	found = lookup_key(key_id, &row);
	hdb_apikey_owner_exit(&scope);

	/*
	 * An unknown key id gets the answer of a wrong secret, so that key ids
	 * cannot be told apart from outside.  It has no counter to count on.
	 */
	if (!found)
	{
		explicit_bzero(hash, sizeof(hash));
		refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"), NULL);
	}

	match = CRYPTO_memcmp(hash, row.hash, HDB_APIKEY_HASH_LEN) == 0;
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(row.hash, sizeof(row.hash));

	if (!match)
	{
		bool		counted;

		counted = hdb_apikey_lockout_failure(MyDatabaseId, key_id, &state);

		if (state.locked_until != 0 && !counted)
			refuse_locked(&state);
		if (state.locked_until != 0)
			refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"),
				   psprintf(_("Too many failed attempts: the key is now locked until %s."),
							timestamptz_to_str(state.locked_until)));
		refuse(ERRCODE_INVALID_PASSWORD, _("invalid API key"), NULL);
	}
	if (!hdb_apikey_lockout_success(MyDatabaseId, key_id, &state))
		refuse_locked(&state);

	now = GetCurrentTimestamp();
	if (row.revoked)
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("API key has been revoked"), NULL);
	if (row.expires_at <= now)
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("API key has expired"),
			   row.rotated ?
			   _("The key was replaced by rotation and its grace period has ended.") :
			   NULL);

	roleid = get_role_oid(row.role, true);
	if (!OidIsValid(roleid))
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("role of the API key does not exist"), NULL);
	if (superuser_arg(roleid))
		refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
			   _("role of the API key is a superuser"),
			   _("API keys cannot act as superuser roles."));

	/*
	 * Establish the context before recording the use of the key: a login
	 * refused here (tenant gone, role not allowed) is no use.
	 */
	memset(&login, 0, sizeof(login));
	login.source = HDB_SOURCE_APIKEY;
	login.user_id = key_id;
	login.tenant = row.has_tenant ? row.tenant : NULL;
	login.role = row.role;
	login.permissions = hdb_apikey_role_permissions(roleid);
	login.expires_at = row.expires_at;
	login.local = local;
	hdb_login_establish(&login);

	if (row.needs_touch && !XactReadOnly)
	{
		hdb_apikey_owner_enter(&scope);
		touch_key(key_id);
		hdb_apikey_owner_exit(&scope);
	}

	if (hdb_apikey_expiry_warning > 0 &&
		row.expires_at - now <= (int64) hdb_apikey_expiry_warning * USECS_PER_SEC)
		ereport(WARNING,
				(errmsg("API key expires soon"),
				 errdetail("Key \"%s\" expires at %s.", key_id,
						   timestamptz_to_str(row.expires_at)),
				 errhint("Replace it with heliosdb.apikey_rotate()."),
				 errhidestmt(true)));

	values[0] = CStringGetTextDatum(key_id);
	if (row.has_tenant)
		values[1] = CStringGetTextDatum(row.tenant);
	else
		nulls[1] = true;
	namestrcpy(&rolename, row.role);
	values[2] = NameGetDatum(&rolename);
	values[3] = TimestampTzGetDatum(row.expires_at);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
