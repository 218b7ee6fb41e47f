/*-------------------------------------------------------------------------
 *
 * apikey_lockout.c
 *	  Lockout of API keys after repeated wrong secrets: the failure
 *	  counters in shared memory and their durable copy in a state file.
 *
 * Why not a column of heliosdb.apikey: a wrong secret makes login_apikey()
 * raise an ERROR, which rolls back everything its transaction wrote, so a
 * counter kept in a table would never move.  Instead:
 *
 *	- Shared memory holds a table of entries (database oid, key id, failed
 *	  attempts, end of the lock).  It is the authority while the server
 *	  runs.  Counting a wrong secret and deciding whether a key is locked
 *	  happen under one exclusive LWLock, so concurrent wrong attempts can
 *	  never exceed heliosdb.apikey_max_failed_attempts between them, and
 *	  exactly the attempt that reaches the limit locks the key.
 *
 *	- Every change of an entry is written to the file
 *	  "heliosdb_apikey_lockout.state" in the data directory (written to a
 *	  temporary file, fsynced and renamed over the old one by
 *	  durable_rename()) before login_apikey() reports the outcome.  The
 *	  shared-memory startup of the postmaster reads it back, also after a
 *	  crash, so a lock survives restarts.  Writing happens outside the
 *	  table lock, under a second LWLock that serializes writers; each
 *	  writer copies the table after taking it, so the last write always
 *	  holds the newest state.  Every change gets a generation number, and a
 *	  writer whose change an earlier writer's copy already held has nothing
 *	  left to do: concurrent failures share one fsync.
 *
 * Successful logins of keys without an entry (the normal case) take the
 * table lock in shared mode only and write nothing.
 *
 * Limits: the table has heliosdb.apikey_lockout_entries slots; when it is
 * full, the entry with the oldest failure that is not locked is reused.  If
 * every slot holds a lock, a further failure is not counted (and logged).
 * The file is not WAL-logged: a standby does not see the primary's locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "auth/apikey_internal.h"
#include "common/hdb_common.h"

#define LOCKOUT_SHMEM_NAME	"heliosdb apikey lockout"
#define LOCKOUT_FILE		"heliosdb_apikey_lockout.state"
#define LOCKOUT_FILE_MAGIC	0x48444B4C	/* "HDKL" */
#define LOCKOUT_FILE_VERSION 1

/* LWLocks of the tranche */
#define LOCK_TABLE	0
#define LOCK_FILE	1

typedef struct LockoutEntry
{
	Oid			dboid;			/* InvalidOid: slot is free */
	char		key_id[HDB_APIKEY_ID_LEN + 1];
	int32		failed_attempts;
	TimestampTz locked_until;	/* 0: not locked */
	TimestampTz last_failure;
} LockoutEntry;

typedef struct LockoutShared
{
	int			capacity;
	int			used;			/* slots [0, used) have ever been taken */
	uint64		change_gen;		/* bumped by every change (table lock) */
	uint64		written_gen;	/* change_gen of the last file written
								 * (file lock) */
	LockoutEntry entries[FLEXIBLE_ARRAY_MEMBER];
} LockoutShared;

/* Layout of the state file: header, entries, CRC-32C of both. */
static LockoutShared *lockout = NULL;
static LWLockPadded *lockout_locks = NULL;

static Size
lockout_shmem_size(void)
{
	return add_size(offsetof(LockoutShared, entries),
					mul_size(hdb_apikey_lockout_entries,
							 sizeof(LockoutEntry)));
}

/*
 * Is an entry live at "now"?  An entry whose lock has ended no longer
 * counts: the key starts again from zero failures.
 */
static inline bool
entry_is_live(const LockoutEntry *e, TimestampTz now)
{
	if (e->dboid == InvalidOid)
		return false;
	if (e->locked_until != 0)
		return e->locked_until > now;
	return e->failed_attempts > 0;
}

/*
 * Read the state file into the freshly created table.  Runs in the
 * postmaster (or a standalone backend) while shared memory is set up.  A
 * missing file means no key has failures; a damaged one is reported and
 * ignored.
 */
static void
lockout_load(void)
{
	LockoutEntry *buf;
	uint32		count;
	bool		damaged;
	TimestampTz now = GetCurrentTimestamp();

	buf = hdb_statefile_read(LOCKOUT_FILE, LOCKOUT_FILE_MAGIC,
							 LOCKOUT_FILE_VERSION, sizeof(LockoutEntry),
							 &count, &damaged);
	if (damaged)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring damaged API key lockout state file \"%s\"",
						LOCKOUT_FILE),
				 errdetail("Failed login attempts and locks of API keys recorded before the restart are lost.")));
	if (buf == NULL)
		return;

	for (uint32 i = 0; i < count && lockout->used < lockout->capacity; i++)
	{
		LockoutEntry *e = &buf[i];

		e->key_id[HDB_APIKEY_ID_LEN] = '\0';
		if (entry_is_live(e, now))
			lockout->entries[lockout->used++] = *e;
	}
	pfree(buf);
}

static void
lockout_shmem_attach(void *ptr, bool found)
{
	lockout = (LockoutShared *) ptr;
	if (!found)
	{
		memset(ptr, 0, lockout_shmem_size());
		lockout->capacity = hdb_apikey_lockout_entries;
		lockout->used = 0;
		lockout_load();
	}
}

void
hdb_apikey_lockout_init(void)
{
	hdb_shmem_register(LOCKOUT_SHMEM_NAME, lockout_shmem_size,
					   lockout_shmem_attach, 2);
}

static void
lockout_require(void)
{
	if (lockout == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not available"),
				 errhint("Add heliosdb to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (lockout_locks == NULL)
		lockout_locks = hdb_shmem_lwlocks(LOCKOUT_SHMEM_NAME);
}

/* The entry of a key of database "dboid", or NULL; needs the table lock. */
static LockoutEntry *
lockout_find(Oid dboid, const char *key_id)
{
	for (int i = 0; i < lockout->used; i++)
	{
		LockoutEntry *e = &lockout->entries[i];

		if (e->dboid == dboid &&
			memcmp(e->key_id, key_id, HDB_APIKEY_ID_LEN) == 0)
			return e;
	}
	return NULL;
}

/*
 * A slot for a new entry: a free or dead one, else the live one with the
 * oldest failure that holds no lock; NULL when every slot holds a lock.
 * Needs the table lock in exclusive mode.
 */
static LockoutEntry *
lockout_new_entry(Oid dboid, const char *key_id, TimestampTz now)
{
	LockoutEntry *e = NULL;

	for (int i = 0; i < lockout->used; i++)
	{
		if (!entry_is_live(&lockout->entries[i], now))
		{
			e = &lockout->entries[i];
			break;
		}
	}
	if (e == NULL && lockout->used < lockout->capacity)
		e = &lockout->entries[lockout->used++];
	if (e == NULL)
	{
		for (int i = 0; i < lockout->used; i++)
		{
			LockoutEntry *c = &lockout->entries[i];

			if (c->locked_until == 0 &&
				(e == NULL || c->last_failure < e->last_failure))
				e = c;
		}
	}
	if (e == NULL)
		return NULL;

	memset(e, 0, sizeof(*e));
	e->dboid = dboid;
	memcpy(e->key_id, key_id, HDB_APIKEY_ID_LEN);
	return e;
}

/*
 * Make the change of generation "gen" durable: write every live entry to
 * the state file, unless a write since then held it already.  Errors are
 * reported as warnings: the shared-memory table stays in force while the
 * server runs.
 */
static void
lockout_persist(uint64 gen)
{
	LockoutEntry *buf;
	uint32		count = 0;
	TimestampTz now = GetCurrentTimestamp();
	uint64		snapshot_gen;

	LWLockAcquire(&lockout_locks[LOCK_FILE].lock, LW_EXCLUSIVE);
	if (lockout->written_gen >= gen)
	{
		LWLockRelease(&lockout_locks[LOCK_FILE].lock);
		return;
	}

	LWLockAcquire(&lockout_locks[LOCK_TABLE].lock, LW_SHARED);
	snapshot_gen = lockout->change_gen;
	buf = palloc(Max(lockout->used, 1) * sizeof(LockoutEntry));
	for (int i = 0; i < lockout->used; i++)
	{
		if (entry_is_live(&lockout->entries[i], now))
			buf[count++] = lockout->entries[i];
	}
	LWLockRelease(&lockout_locks[LOCK_TABLE].lock);

	if (hdb_statefile_write(LOCKOUT_FILE, LOCKOUT_FILE_MAGIC,
							LOCKOUT_FILE_VERSION, buf, count,
							sizeof(LockoutEntry),
							"Failed login attempts of API keys will not survive a restart."))
		lockout->written_gen = snapshot_gen;

	LWLockRelease(&lockout_locks[LOCK_FILE].lock);
	pfree(buf);
}

/*
 * Count a wrong secret for a key of database "dboid" (passed in, because
 * the connection-time login runs before MyDatabaseId is set).  Returns
 * whether the attempt was counted, and the key's state after it: an
 * attempt on a key that is locked already is not counted, and locked_until
 * is set when the key is locked (by this attempt when it was counted).  The
 * new state is durable when this returns.
 */
bool
hdb_apikey_lockout_failure(Oid dboid, const char *key_id,
						   HdbLockoutState *state)
{
	TimestampTz now = GetCurrentTimestamp();
	LockoutEntry *e;
	bool		counted = false;
	uint64		gen = 0;

	lockout_require();
	memset(state, 0, sizeof(*state));

	LWLockAcquire(&lockout_locks[LOCK_TABLE].lock, LW_EXCLUSIVE);
	e = lockout_find(dboid, key_id);
	if (e != NULL && !entry_is_live(e, now))
	{
		/* The lock has ended: start counting again. */
		e->failed_attempts = 0;
		e->locked_until = 0;
	}
	if (e == NULL)
		e = lockout_new_entry(dboid, key_id, now);
	if (e != NULL && e->locked_until == 0)
	{
		e->failed_attempts++;
		e->last_failure = now;
		if (e->failed_attempts >= hdb_apikey_max_failed_attempts)
			e->locked_until =
				TimestampTzPlusMilliseconds(now,
											(int64) hdb_apikey_lockout_duration * 1000);
		counted = true;
		gen = ++lockout->change_gen;
	}
	if (e != NULL)
	{
		state->failed_attempts = e->failed_attempts;
		state->locked_until = e->locked_until;
	}
	LWLockRelease(&lockout_locks[LOCK_TABLE].lock);

	if (e == NULL)
		ereport(LOG,
				(errmsg("failed login attempt with API key \"%s\" not counted",
						key_id),
				 errdetail("All %d slots of the API key lockout table hold locked keys.",
						   lockout->capacity),
				 errhint("Raise heliosdb.apikey_lockout_entries.")));
	if (counted)
		lockout_persist(gen);
	return counted;
}

/*
 * Settle a verified secret of a key of database "dboid": returns false, with the state, when the key is
 * locked (the secret must then be refused); otherwise clears the key's
 * failures and returns true.
 */
bool
hdb_apikey_lockout_success(Oid dboid, const char *key_id,
						   HdbLockoutState *state)
{
	TimestampTz now = GetCurrentTimestamp();
	LockoutEntry *e;
	uint64		gen = 0;

	lockout_require();
	memset(state, 0, sizeof(*state));

	/* The common case: no entry, nothing to change. */
	LWLockAcquire(&lockout_locks[LOCK_TABLE].lock, LW_SHARED);
	e = lockout_find(dboid, key_id);
	LWLockRelease(&lockout_locks[LOCK_TABLE].lock);
	if (e == NULL)
		return true;

	LWLockAcquire(&lockout_locks[LOCK_TABLE].lock, LW_EXCLUSIVE);
	e = lockout_find(dboid, key_id);
	if (e != NULL && e->locked_until > now)
	{
		state->failed_attempts = e->failed_attempts;
		state->locked_until = e->locked_until;
		LWLockRelease(&lockout_locks[LOCK_TABLE].lock);
		return false;
	}
	if (e != NULL)
	{
		e->dboid = InvalidOid;
		gen = ++lockout->change_gen;
	}
	LWLockRelease(&lockout_locks[LOCK_TABLE].lock);

	if (e != NULL)
		lockout_persist(gen);
	return true;
}

/*
 * heliosdb._apikey_lockout(OUT key_id text, OUT failed_attempts integer,
 *							OUT locked_until timestamptz)
 *
 * The live entries of this database, for the view heliosdb.apikeys.
 */
PG_FUNCTION_INFO_V1(hdb_apikey_lockout);
Datum
hdb_apikey_lockout(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	LockoutEntry *copy;
	int			n = 0;

	lockout_require();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(&lockout_locks[LOCK_TABLE].lock, LW_SHARED);
	copy = palloc(Max(lockout->used, 1) * sizeof(LockoutEntry));
	for (int i = 0; i < lockout->used; i++)
	{
		LockoutEntry *e = &lockout->entries[i];

		if (e->dboid == MyDatabaseId && entry_is_live(e, now))
			copy[n++] = *e;
	}
	LWLockRelease(&lockout_locks[LOCK_TABLE].lock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(copy[i].key_id);
		values[1] = Int32GetDatum(copy[i].failed_attempts);
		if (copy[i].locked_until != 0)
			values[2] = TimestampTzGetDatum(copy[i].locked_until);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	pfree(copy);
	return (Datum) 0;
}
