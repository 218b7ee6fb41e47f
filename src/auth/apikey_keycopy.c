/*-------------------------------------------------------------------------
 *
 * apikey_keycopy.c
 *	  The copy of every database's API keys in shared memory that the
 *	  connection-time login (apikey_conn.c) checks, its durable state file,
 *	  and the triggers and commit callbacks that keep it current.
 *
 * ClientAuthentication_hook runs before any database is open, so it cannot
 * read the key table heliosdb.apikey of the database a client connects to.
 * What it needs of each key is kept here: the database (oid and name,
 * since the hook knows only the name the client asked for), the key id,
 * the SHA-256 of the key, the role, the tenant's uuid, the effective
 * expiry (the grace end of a rotated key if sooner), and whether the key
 * is revoked or rotated.  The copy is a filter; the key table stays the
 * authority (see apikey_conn.c).
 *
 * Keeping it current: row triggers on heliosdb.apikey (inserts, deletes,
 * also through a dropped tenant's ON DELETE CASCADE, and updates of the
 * columns above) and a TRUNCATE trigger mark the transaction.  When it
 * commits:
 *
 *	- At PRE_COMMIT the backend takes a lock that serializes this step among
 *	  the transactions of its database, reads every key of the database as
 *	  the table's owner with the newest snapshot (so it sees what
 *	  transactions committed before it, whatever the isolation level), and
 *	  checks that they fit.  It then puts in force, in shared memory and in
 *	  the state file, the strict merge of the old and the new state: only
 *	  keys both accept, revoked if either revokes them, with the sooner
 *	  expiry.  A crash after the commit record therefore never brings back a
 *	  key the transaction revoked, shortened or deleted; keys it created are
 *	  missing until the next change (fail closed).
 *	- At COMMIT, after the commit record, it puts the new state in force
 *	  and writes the file again.  If the commit fails after PRE_COMMIT, the
 *	  ABORT callback restores the old state (the lock, still held, kept
 *	  other transactions of the database from changing it meanwhile).
 *	  Nothing at COMMIT or ABORT can raise an error: memory was allocated
 *	  at PRE_COMMIT, and file errors are warnings.
 *
 * The state file "heliosdb_apikey_keys.state" in the data directory is
 * written to a temporary file, fsynced and renamed over the old one
 * (durable_rename()); the postmaster reads it back when it sets up shared
 * memory, so keys work at connection time after a restart.  It holds the
 * entries above, no key.  A transaction that aborts before PRE_COMMIT
 * changes nothing; PREPARE TRANSACTION of a key change is refused.
 *
 * The table holds heliosdb.apikey_max_keys entries for all databases.  A
 * change that would not fit fails (the insert itself, and again at
 * commit): no key is silently left out.  Only two databases committing at
 * the same moment can race past that check; the keys that did not fit are
 * then refused at connection time and a WARNING says so.  Entries of
 * databases that were dropped are pruned by the next change in any
 * database.
 *
 * Locking protocol: LWLock LOCK_TABLE guards the entries (shared for the
 * hook's lookups, exclusive to replace a database's entries); LOCK_FILE
 * serializes writers of the state file, which copy the entries under
 * LOCK_TABLE in shared mode (LOCK_FILE is always taken first).  Each
 * replacement bumps change_gen; a writer whose change an earlier writer's
 * copy already held writes nothing.  The heavyweight lock taken at
 * PRE_COMMIT is an object lock on the key table's pg_class entry (no
 * table-level lock conflicts with it), held until the end of the
 * transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "auth/apikey_internal.h"
#include "common/hdb_common.h"

#define KEYS_SHMEM_NAME		"heliosdb apikey verifiers"
#define KEYS_FILE			"heliosdb_apikey_keys.state"
#define KEYS_FILE_MAGIC		0x48444B56	/* "HDKV" */
#define KEYS_FILE_VERSION	1

/* LWLocks of the tranche */
#define LOCK_TABLE	0
#define LOCK_FILE	1

typedef struct KeysShared
{
	int			capacity;
	int			used;			/* entries [0, used) are in use */
	uint64		change_gen;		/* bumped by every change (table lock) */
	uint64		written_gen;	/* change_gen of the last file written
								 * (file lock) */
	HdbKeyVerifier entries[FLEXIBLE_ARRAY_MEMBER];
} KeysShared;

/* Layout of the state file: header, entries, CRC-32C of both. */
static KeysShared *keys_shared = NULL;
static LWLockPadded *keys_locks = NULL;

/*
 * State of a transaction of this backend that changed keys.  The arrays
 * live in TopTransactionContext.
 */
static bool keys_changed = false;
static bool callback_registered = false;
static HdbKeyVerifier *sync_entries = NULL;	/* the database's keys */
static int	sync_count = 0;
static HdbKeyVerifier *old_entries = NULL; /* its entries before the change */
static int	old_count = 0;
static bool restricted = false; /* the strict merge of both is in force */
static HdbKeyVerifier *write_buf = NULL;	/* room for the state file */
static Oid *stale_dbs = NULL;	/* dropped databases holding entries */
static int	stale_count = 0;

static const char *const keys_query =
"SELECT a.key_id, a.key_hash, a.role, a.tenant_id,"
"       LEAST(a.expires_at, a.grace_until),"
"       a.revoked_at IS NOT NULL, a.replaced_by IS NOT NULL"
" FROM " HDB_SCHEMA ".apikey a";

static Size
keys_shmem_size(void)
{
	return add_size(offsetof(KeysShared, entries),
					mul_size(hdb_apikey_max_keys, sizeof(HdbKeyVerifier)));
}

/*
 * Read the state file into the freshly created table.  Runs in the
 * postmaster (or a standalone backend) while shared memory is set up.  A
 * missing file means no key can log in at connection time yet; a damaged
 * one is reported and ignored (fail closed: its keys are refused until
 * they change or heliosdb.apikey_sync() runs in their database).
 */
static void
keys_load(void)
{
	HdbKeyVerifier *buf;
	uint32		count;
	bool		damaged;
	uint32		skipped = 0;

	buf = hdb_statefile_read(KEYS_FILE, KEYS_FILE_MAGIC, KEYS_FILE_VERSION,
							 sizeof(HdbKeyVerifier), &count, &damaged);
	if (damaged)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring damaged API key state file \"%s\"", KEYS_FILE),
				 errdetail("API keys cannot log in at connection time until heliosdb.apikey_sync() runs in their database.")));
	if (buf == NULL)
		return;

	for (uint32 i = 0; i < count; i++)
	{
		HdbKeyVerifier *e = &buf[i];

		if (!OidIsValid(e->dboid))
			continue;
		if (keys_shared->used >= keys_shared->capacity)
		{
			skipped++;
			continue;
		}
		e->key_id[HDB_APIKEY_ID_LEN] = '\0';
		e->dbname.data[NAMEDATALEN - 1] = '\0';
		e->role.data[NAMEDATALEN - 1] = '\0';
		keys_shared->entries[keys_shared->used++] = *e;
	}
	if (skipped > 0)
		ereport(WARNING,
				(errmsg("%u API keys cannot log in at connection time",
						skipped),
				 errdetail("heliosdb.apikey_max_keys is %d, and the state file holds %u keys.",
						   keys_shared->capacity, count),
				 errhint("Raise heliosdb.apikey_max_keys and restart the server.")));
	explicit_bzero(buf, count * sizeof(HdbKeyVerifier));
	pfree(buf);
}

static void
keys_shmem_attach(void *ptr, bool found)
{
	keys_shared = (KeysShared *) ptr;
	if (!found)
	{
		memset(ptr, 0, keys_shmem_size());
		keys_shared->capacity = hdb_apikey_max_keys;
		keys_shared->used = 0;
		keys_load();
	}
}

static void
keys_require(void)
{
	if (keys_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not available"),
				 errhint("Add heliosdb to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (keys_locks == NULL)
		keys_locks = hdb_shmem_lwlocks(KEYS_SHMEM_NAME);
}

/* The key table of this database, or InvalidOid. */
static Oid
key_table_relid(void)
{
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);

	return OidIsValid(nsp) ? get_relname_relid("apikey", nsp) : InvalidOid;
}

/*
 * Read every key of this database, with the newest snapshot (committed
 * keys of other transactions and every change of this one), as the key
 * table's owner.  The result is allocated in "cxt".
 */
static HdbKeyVerifier *
read_database_keys(MemoryContext cxt, int *count)
{
	HdbOwnerScope scope;
	SPIPlanPtr	plan;
	HdbKeyVerifier *keys;
	NameData	dbname;
	char	   *name = get_database_name(MyDatabaseId);
	int			n;

	if (name == NULL)
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	namestrcpy(&dbname, name);

	/* Make the changes of the current command visible too. */
	CommandCounterIncrement();
	hdb_apikey_owner_enter(&scope);
	plan = SPI_prepare(keys_query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the API keys");

	n = (int) SPI_processed;
	keys = MemoryContextAllocZero(cxt, Max(n, 1) * sizeof(HdbKeyVerifier));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		HdbKeyVerifier *e = &keys[i];
		bool		isnull;
		Datum		d;
		bytea	   *hash;

		e->dboid = MyDatabaseId;
		e->dbname = dbname;
		d = SPI_getbinval(tup, desc, 1, &isnull);
		text_to_cstring_buffer(DatumGetTextPP(d), e->key_id,
							   sizeof(e->key_id));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		hash = DatumGetByteaPP(d);
		if (VARSIZE_ANY_EXHDR(hash) != HDB_APIKEY_HASH_LEN)
			elog(ERROR, "API key \"%s\" has a damaged hash", e->key_id);
		memcpy(e->hash, VARDATA_ANY(hash), HDB_APIKEY_HASH_LEN);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		e->role = *DatumGetName(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		e->has_tenant = !isnull;
		if (!isnull)
			e->tenant_id = *DatumGetUUIDP(d);
		e->expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5,
														  &isnull));
		e->revoked = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		e->rotated = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	}
	hdb_apikey_owner_exit(&scope);
	*count = n;
	return keys;
}

/*
 * Databases that hold entries but no longer exist; their entries are
 * dropped by the next publish_keys() of any database.  Returns the number
 * of entries of other databases that do exist.  The list is allocated in
 * "cxt".  pg_database is read outside the LWLock.
 */
static int
find_stale_databases(MemoryContext cxt, Oid **stale, int *nstale)
{
	Oid		   *oids;
	int			n;
	int			others = 0;

	LWLockAcquire(&keys_locks[LOCK_TABLE].lock, LW_SHARED);
	n = keys_shared->used;
	oids = palloc(Max(n, 1) * sizeof(Oid));
	for (int i = 0; i < n; i++)
		oids[i] = keys_shared->entries[i].dboid;
	LWLockRelease(&keys_locks[LOCK_TABLE].lock);

	qsort(oids, n, sizeof(Oid), oid_cmp);
	*stale = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(Oid));
	*nstale = 0;
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && oids[j] == oids[i])
			j++;
		if (oids[i] != MyDatabaseId)
		{
			if (SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(oids[i])))
				others += j - i;
			else
				(*stale)[(*nstale)++] = oids[i];
		}
		i = j;
	}
	pfree(oids);
	return others;
}

/*
 * Refuse a set of "count" keys for this database that would not fit in
 * the table beside the other databases' keys.
 */
static void
check_capacity(int count, int others)
{
	if (others + count > keys_shared->capacity)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many API keys"),
				 errdetail("The server holds at most %d API keys of all databases for connection-time login; this change needs %d.",
						   keys_shared->capacity, others + count),
				 errhint("Delete revoked and expired keys, or raise heliosdb.apikey_max_keys and restart the server.")));
}

/*
 * Replace this database's entries by "entries" and drop those of the
 * databases in stale_dbs; returns the new change generation.  Raises no
 * error (runs at COMMIT and ABORT too).  Keys that do not fit (only after
 * a race between databases, see the file header) are left out and counted
 * in *dropped.
 */
static uint64
publish_keys(const HdbKeyVerifier *entries, int count, int *dropped)
{
	KeysShared *ks = keys_shared;
	int			kept = 0;
	uint64		gen;

	*dropped = 0;
	LWLockAcquire(&keys_locks[LOCK_TABLE].lock, LW_EXCLUSIVE);
	for (int i = 0; i < ks->used; i++)
	{
		Oid			dboid = ks->entries[i].dboid;
		bool		keep = dboid != MyDatabaseId;

		for (int k = 0; keep && k < stale_count; k++)
			keep = dboid != stale_dbs[k];
		if (keep)
			ks->entries[kept++] = ks->entries[i];
	}
	for (int i = kept; i < ks->used; i++)
		explicit_bzero(&ks->entries[i], sizeof(HdbKeyVerifier));
	ks->used = kept;
	for (int i = 0; i < count; i++)
	{
		if (ks->used < ks->capacity)
			ks->entries[ks->used++] = entries[i];
		else
			(*dropped)++;
	}
	gen = ++ks->change_gen;
	LWLockRelease(&keys_locks[LOCK_TABLE].lock);
	return gen;
}

/*
 * This database's entries as they are now, in "cxt" (for the rollback of
 * a failed commit).
 */
static HdbKeyVerifier *
copy_database_entries(MemoryContext cxt, int *count)
{
	HdbKeyVerifier *copy;
	int			n = 0;

	LWLockAcquire(&keys_locks[LOCK_TABLE].lock, LW_SHARED);
	copy = MemoryContextAlloc(cxt, Max(keys_shared->used, 1) *
							  sizeof(HdbKeyVerifier));
	for (int i = 0; i < keys_shared->used; i++)
	{
		if (keys_shared->entries[i].dboid == MyDatabaseId)
			copy[n++] = keys_shared->entries[i];
	}
	LWLockRelease(&keys_locks[LOCK_TABLE].lock);
	*count = n;
	return copy;
}

/*
 * The entries that are safe while a change is being committed: the keys
 * both the old and the new state accept, each with the stricter state of
 * the two (revoked if either is, the sooner expiry).  A key whose hash,
 * role or tenant changes is left out.  Returns the count; "merged" has
 * room for old_count entries.
 */
static int
restrict_entries(const HdbKeyVerifier *old, int old_count,
				 const HdbKeyVerifier *new, int new_count, HdbKeyVerifier *merged)
{
	int			n = 0;

	for (int i = 0; i < old_count; i++)
	{
		const HdbKeyVerifier *o = &old[i];

		for (int j = 0; j < new_count; j++)
		{
			const HdbKeyVerifier *c = &new[j];

			if (strcmp(o->key_id, c->key_id) != 0)
				continue;
			if (memcmp(o->hash, c->hash, HDB_APIKEY_HASH_LEN) == 0 &&
				strcmp(NameStr(o->role), NameStr(c->role)) == 0 &&
				o->has_tenant == c->has_tenant &&
				(!o->has_tenant ||
				 memcmp(&o->tenant_id, &c->tenant_id, sizeof(pg_uuid_t)) == 0))
			{
				merged[n] = *o;
				merged[n].revoked = o->revoked || c->revoked;
				merged[n].rotated = o->rotated || c->rotated;
				merged[n].expires_at = Min(o->expires_at, c->expires_at);
				n++;
			}
			break;
		}
	}
	return n;
}

/*
 * Make the change of generation "gen" durable, unless a write since then
 * held it already.  Uses write_buf, allocated before the commit; failures
 * are warnings, the shared-memory table stays in force.
 */
static void
persist_keys(uint64 gen)
{
	uint64		snapshot_gen;
	uint32		count;

	LWLockAcquire(&keys_locks[LOCK_FILE].lock, LW_EXCLUSIVE);
	if (keys_shared->written_gen >= gen)
	{
		LWLockRelease(&keys_locks[LOCK_FILE].lock);
		return;
	}

	LWLockAcquire(&keys_locks[LOCK_TABLE].lock, LW_SHARED);
	snapshot_gen = keys_shared->change_gen;
	count = keys_shared->used;
	memcpy(write_buf, keys_shared->entries, count * sizeof(HdbKeyVerifier));
	LWLockRelease(&keys_locks[LOCK_TABLE].lock);

	if (hdb_statefile_write(KEYS_FILE, KEYS_FILE_MAGIC, KEYS_FILE_VERSION,
							write_buf, count, sizeof(HdbKeyVerifier),
							"API key changes will not be seen at connection time after a restart."))
		keys_shared->written_gen = snapshot_gen;
	explicit_bzero(write_buf, count * sizeof(HdbKeyVerifier));
	LWLockRelease(&keys_locks[LOCK_FILE].lock);
}

/* End of a transaction that changed keys; wipes the hashes it held. */
static void
forget_sync(void)
{
	if (sync_entries != NULL)
		explicit_bzero(sync_entries, Max(sync_count, 1) * sizeof(HdbKeyVerifier));
	if (old_entries != NULL)
		explicit_bzero(old_entries, Max(old_count, 1) * sizeof(HdbKeyVerifier));
	keys_changed = false;
	sync_entries = NULL;		/* freed with TopTransactionContext */
	sync_count = 0;
	old_entries = NULL;
	old_count = 0;
	restricted = false;
	write_buf = NULL;
	stale_dbs = NULL;
	stale_count = 0;
}

/*
 * Before the commit: read the database's keys, check that they fit, and
 * put in force (and on disk) the strict merge of the old and new state, so
 * that a crash after the commit record cannot bring back a key the
 * transaction revoked or shortened.
 */
static void
keys_pre_commit(void)
{
	Oid			relid = key_table_relid();
	HdbKeyVerifier *merged;
	int			nmerged;
	int			others;
	int			dropped;

	keys_require();
	sync_count = 0;
	sync_entries = NULL;
	if (OidIsValid(relid))
	{
		LockDatabaseObject(RelationRelationId, relid, 0, ExclusiveLock);
		sync_entries = read_database_keys(TopTransactionContext, &sync_count);
	}
	others = find_stale_databases(TopTransactionContext,
								  &stale_dbs, &stale_count);
	check_capacity(sync_count, others);
	write_buf = MemoryContextAlloc(TopTransactionContext,
								   keys_shared->capacity * sizeof(HdbKeyVerifier));

	old_entries = copy_database_entries(TopTransactionContext, &old_count);
	merged = palloc(Max(old_count, 1) * sizeof(HdbKeyVerifier));
	nmerged = restrict_entries(old_entries, old_count,
							   sync_entries, sync_count, merged);
	restricted = true;
	persist_keys(publish_keys(merged, nmerged, &dropped));
	explicit_bzero(merged, Max(old_count, 1) * sizeof(HdbKeyVerifier));
	pfree(merged);
}

/*
 * Transaction callback of a transaction that changed keys: see the file
 * header.  At COMMIT and ABORT nothing may raise an error.
 */
static void
keys_xact_callback(XactEvent event, void *arg)
{
	int			dropped;

	if (!keys_changed)
		return;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			keys_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that changed API keys")));
			break;
		case XACT_EVENT_COMMIT:
			/* restricted is set unless PRE_COMMIT did not run at all */
			if (restricted)
				persist_keys(publish_keys(sync_entries, sync_count,
										  &dropped));
			if (restricted && dropped > 0)
				ereport(WARNING,
						(errmsg("%d API keys of this database cannot log in at connection time",
								dropped),
						 errhint("Delete revoked and expired keys, or raise heliosdb.apikey_max_keys and restart the server.")));
			forget_sync();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* The commit failed after PRE_COMMIT: restore the old state. */
			if (restricted)
				persist_keys(publish_keys(old_entries, old_count, &dropped));
			forget_sync();
			break;
		case XACT_EVENT_PREPARE:
			forget_sync();
			break;
		default:
			break;
	}
}

/* Mark the current transaction as one that changes keys. */
static void
mark_keys_changed(void)
{
	keys_require();
	if (!callback_registered)
	{
		RegisterXactCallback(keys_xact_callback, NULL);
		callback_registered = true;
	}
	keys_changed = true;
}

/*
 * heliosdb._apikey_changed() RETURNS trigger
 *
 * Triggers of heliosdb.apikey.  Fired for a row, or for TRUNCATE, it marks
 * the transaction as one that changed keys.  Fired after an INSERT
 * statement, it checks that the database's keys still fit the table, so
 * that apikey_create() fails at once rather than at commit.
 */
PG_FUNCTION_INFO_V1(hdb_apikey_changed);
Datum
hdb_apikey_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"_apikey_changed")));
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) &&
		TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		int			n;
		HdbKeyVerifier *keys;
		Oid		   *stale;
		int			nstale;
		int			others;

		keys_require();
		keys = read_database_keys(CurrentMemoryContext, &n);
		explicit_bzero(keys, Max(n, 1) * sizeof(HdbKeyVerifier));
		pfree(keys);
		others = find_stale_databases(CurrentMemoryContext, &stale, &nstale);
		pfree(stale);
		check_capacity(n, others);
	}
	else
		mark_keys_changed();
	return PointerGetDatum(NULL);
}

/*
 * heliosdb.apikey_sync() RETURNS void
 *
 * Reload this database's keys into the connection-time table when the
 * transaction commits: after a restore that bypassed the trigger, or a
 * damaged state file.
 */
PG_FUNCTION_INFO_V1(hdb_apikey_sync);
Datum
hdb_apikey_sync(PG_FUNCTION_ARGS)
{
	mark_keys_changed();
	PG_RETURN_VOID();
}

void
hdb_apikey_keycopy_init(void)
{
	hdb_shmem_register(KEYS_SHMEM_NAME, keys_shmem_size, keys_shmem_attach,
					   2);
}

/*
 * Copy out the entry of key "key_id" of the database named "dbname";
 * false when there is none.  Called by the connection hook: shared memory
 * only.
 */
bool
hdb_apikey_keycopy_lookup(const char *dbname, const char *key_id,
						  HdbKeyVerifier *entry)
{
	bool		found = false;

	keys_require();
	LWLockAcquire(&keys_locks[LOCK_TABLE].lock, LW_SHARED);
	for (int i = 0; i < keys_shared->used; i++)
	{
		HdbKeyVerifier *e = &keys_shared->entries[i];

		if (strcmp(NameStr(e->dbname), dbname) == 0 &&
			memcmp(e->key_id, key_id, HDB_APIKEY_ID_LEN) == 0)
		{
			*entry = *e;
			found = true;
			break;
		}
	}
	LWLockRelease(&keys_locks[LOCK_TABLE].lock);
	return found;
}
