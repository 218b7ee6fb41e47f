/*-------------------------------------------------------------------------
 *
 * datakey.c
 *	  Per-table data keys: creation, storage in heliosdb.table_key, and the
 *	  backend-local caches of unwrapped keys.
 *
 * A data key is identified by key_id, a number from a sequence that is
 * unique in the database.  Every encrypted payload names the key_id it was
 * sealed with, so a row finds its key whatever relation file it sits in:
 * relfilenodes change under TRUNCATE, VACUUM FULL, CLUSTER and ALTER TABLE
 * rewrites, and none of that touches the payloads or the key table.  The
 * key table maps each key to the table (by OID) that writes with it, and
 * numbers a table's keys by version; a table writes with its newest key.
 *
 * ALTER TABLE rewrites (SET ACCESS METHOD, ... TYPE) and REFRESH
 * MATERIALIZED VIEW write into a transient relation named pg_temp_<oid> of
 * the relation being rewritten, whose file is then swapped into it: the
 * transient relation therefore writes with the keys of that relation.
 *
 * Two caches, both in TopMemoryContext:
 *	- key_cache: key_id -> unwrapped key (its row cipher, aead.c).  Keys never
 *	  change once created (re-wrapping does not change the key), so entries
 *	  stay valid; they are dropped only with the backend.
 *	- table_keys: table OID -> key_id of its current key.  Dropped on a
 *	  relcache invalidation of the table (rotation sends one) and on any
 *	  (sub)transaction abort, which may have rolled back a key we created.
 *
 * The key table is read and written through SPI as the bootstrap superuser,
 * so that any role that may write an encrypted table can create its key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/snapshot.h"
#include "utils/syscache.h"

#include "common/hdb_common.h"
#include "crypto/hdb_crypto.h"

typedef struct TableKeyEntry
{
	Oid			relid;			/* hash key */
	int32		key_id;
} TableKeyEntry;

typedef struct KeyCacheEntry
{
	int32		key_id;			/* hash key */
	HdbDataKey	key;
	/* the key as stored, for the workers of parallel scans */
	uint8		wrapped[HDB_WRAPPED_LEN];
	char		check[HDB_KEY_CHECK_HEX + 1];
} KeyCacheEntry;

static HTAB *key_cache = NULL;
static HTAB *table_keys = NULL;
static HdbDataKey *last_key = NULL;

#define Q_CURRENT \
	"SELECT key_id FROM " HDB_SCHEMA ".table_key" \
	" WHERE relid OPERATOR(pg_catalog.=) $1" \
	" ORDER BY version DESC LIMIT 1"
#define Q_BY_ID \
	"SELECT relid, version, wrapped, master_key_check, seal_mark" \
	" FROM " HDB_SCHEMA ".table_key WHERE key_id OPERATOR(pg_catalog.=) $1"
#define Q_NEXT_ID \
	"SELECT pg_catalog.nextval('" HDB_SCHEMA ".table_key_id_seq'::pg_catalog.regclass)"
#define Q_INSERT \
	"INSERT INTO " HDB_SCHEMA ".table_key" \
	" (key_id, relid, version, wrapped, master_key_check)" \
	" SELECT $1, $2, COALESCE(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1, $3, $4" \
	" FROM " HDB_SCHEMA ".table_key WHERE relid OPERATOR(pg_catalog.=) $2" \
	" RETURNING version, seal_mark"

static void
create_caches(void)
{
	HASHCTL		ctl;

	if (key_cache != NULL)
		return;
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(KeyCacheEntry);
	ctl.hcxt = TopMemoryContext;
	key_cache = hash_create("heliosdb data keys", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TableKeyEntry);
	table_keys = hash_create("heliosdb table keys", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
forget_table_keys(void)
{
	HASH_SEQ_STATUS seq;
	TableKeyEntry *e;

	if (table_keys == NULL)
		return;
	hash_seq_init(&seq, table_keys);
	while ((e = hash_seq_search(&seq)) != NULL)
		hash_search(table_keys, &e->relid, HASH_REMOVE, NULL);
}

static void
datakey_relcache_cb(Datum arg, Oid relid)
{
	if (table_keys == NULL)
		return;
	if (OidIsValid(relid))
		hash_search(table_keys, &relid, HASH_REMOVE, NULL);
	else
		forget_table_keys();
}

static void
datakey_xact_cb(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		forget_table_keys();
}

static void
datakey_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_table_keys();
}

void
hdb_datakey_init(void)
{
	CacheRegisterRelcacheCallback(datakey_relcache_cb, (Datum) 0);
	RegisterXactCallback(datakey_xact_cb, NULL);
	RegisterSubXactCallback(datakey_subxact_cb, NULL);
}

/*
 * The table whose keys rel writes with: rel itself, or for the transient
 * relation of a rewrite (named pg_temp_<oid>, in the same namespace and
 * with the same owner), the relation being rewritten.
 */
Oid
hdb_datakey_owner(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	unsigned int oid;
	char		tail;

	if (strncmp(name, "pg_temp_", 8) == 0 &&
		sscanf(name + 8, "%u%c", &oid, &tail) == 1 &&
		OidIsValid(oid) && oid != RelationGetRelid(rel))
	{
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(oid));

		if (HeapTupleIsValid(tp))
		{
			Form_pg_class c = (Form_pg_class) GETSTRUCT(tp);
			bool		same = c->relnamespace == RelationGetNamespace(rel) &&
				c->relowner == rel->rd_rel->relowner;

			ReleaseSysCache(tp);
			if (same)
				return (Oid) oid;
		}
	}
	return RelationGetRelid(rel);
}

/* SPI as the bootstrap superuser; undone by key_spi_end or by abort. */
static void
key_spi_begin(Oid *save_userid, int *save_sec)
{
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   *save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
key_spi_end(Oid save_userid, int save_sec)
{
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * Run a read-only query on the key table under SnapshotSelf: it sees every
 * committed key and the keys of our own transaction whatever their command
 * id, also in a parallel worker whose snapshot predates a key its leader
 * made (a parallel index build during ALTER TABLE), and keys committed
 * after our transaction snapshot (a row version reached by EvalPlanQual may
 * carry one).  Keys never change once made, so the newest is right.
 */
static void
key_spi_read(const char *query, Oid argtype, Datum arg)
{
	SPIPlanPtr	plan = SPI_prepare(query, 1, &argtype);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "could not prepare a query on heliosdb.table_key: %s",
			 SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, &arg, NULL, SnapshotSelf,
							  InvalidSnapshot, true, false, 1);
	SPI_freeplan(plan);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read heliosdb.table_key: %s",
			 SPI_result_code_string(rc));
}

/*
 * Put an unwrapped key into the cache, with its wrapped form and master key
 * check value; raw is wiped by the caller.
 */
static HdbDataKey *
cache_key(int32 key_id, Oid relid, int32 version, int64 seal_mark,
		  const uint8 *raw, const uint8 *wrapped, const char *check)
{
	KeyCacheEntry *e;
	bool		found;
	void	   *cipher;

	create_caches();
	cipher = hdb_row_cipher_new(raw);
	e = hash_search(key_cache, &key_id, HASH_ENTER, &found);
	if (found)
		hdb_row_cipher_free(e->key.cipher);
	e->key.key_id = key_id;
	e->key.relid = relid;
	e->key.version = version;
	e->key.cipher = cipher;
	e->key.seal_mark = seal_mark;
	e->key.checked_block = 0;
	memcpy(e->wrapped, wrapped, HDB_WRAPPED_LEN);
	strlcpy(e->check, check, sizeof(e->check));
	return &e->key;
}

/*
 * Unwrap data key key_id of table relid into raw with the keyring's master
 * key.  The key check values matter only when that fails: during a master
 * key rotation the data key may still be wrapped by the previous master
 * key, and otherwise they tell a wrong master key from a damaged wrapped
 * key.  (Computing one first cost every new backend about a millisecond,
 * and a parallel worker more: OpenSSL's first digest in the process.)
 * When the key does not unwrap: fails with XX001, or with report false
 * returns false.
 */
static bool
unwrap_data_key(int32 key_id, Oid relid, const uint8 *wrapped,
				const char *check, uint8 *raw, bool report)
{
	uint8		master[HDB_KEY_LEN];
	char		mcheck[HDB_KEY_CHECK_HEX + 1];
	bool		right_master = true;
	bool		ok;

	hdb_keyring_read(master);
	ok = hdb_unwrap_key(master, key_id, wrapped, raw);
	if (!ok)
	{
		hdb_master_key_check(master, mcheck);
		right_master = strcmp(mcheck, check) == 0;
		explicit_bzero(master, sizeof(master));
		if (!right_master && hdb_keyring_read_previous(master))
		{
			hdb_master_key_check(master, mcheck);
			right_master = strcmp(mcheck, check) == 0;
			if (right_master)
				ok = hdb_unwrap_key(master, key_id, wrapped, raw);
		}
	}
	explicit_bzero(master, sizeof(master));
	if (ok || !report)
		return ok;
	if (!right_master)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the configured master key did not wrap data key %d of table %u",
						key_id, relid),
				 errdetail("The key check value of the keyring's master key differs from the one stored with the data key."),
				 errhint("Configure the master key that encrypted this table in heliosdb.keyring.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not unwrap data key %d of table %u", key_id, relid),
			 errdetail("The wrapped key failed authentication under the configured master key.")));
	return false;				/* keep the compiler quiet */
}

/*
 * The unwrapped data key key_id: from the cache, or read from the key
 * table and unwrapped with the master key.
 */
HdbDataKey *
hdb_datakey_lookup(int32 key_id)
{
	KeyCacheEntry *e;
	Oid			save_userid;
	int			save_sec;
	Oid			relid;
	int32		version;
	int64		seal_mark;
	bytea	   *wrapped;
	char	   *check;
	bool		isnull;
	uint8		raw[HDB_KEY_LEN];
	HdbDataKey *key;

	if (last_key != NULL && last_key->key_id == key_id)
		return last_key;
	create_caches();
	e = hash_search(key_cache, &key_id, HASH_FIND, NULL);
	if (e != NULL)
		return last_key = &e->key;

	key_spi_begin(&save_userid, &save_sec);
	key_spi_read(Q_BY_ID, INT4OID, Int32GetDatum(key_id));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("data key %d does not exist", key_id),
				 errdetail("heliosdb.table_key has no key with this number.")));
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
	wrapped = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 3, &isnull));
	check = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	seal_mark = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 5, &isnull));
	if (VARSIZE_ANY_EXHDR(wrapped) != HDB_WRAPPED_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrapped data key %d has a wrong length", key_id)));

	(void) unwrap_data_key(key_id, relid, (uint8 *) VARDATA_ANY(wrapped),
						   check, raw, true);
	PG_TRY();
	{
		key = cache_key(key_id, relid, version, seal_mark, raw,
						(uint8 *) VARDATA_ANY(wrapped), check);
	}
	PG_FINALLY();
	{
		explicit_bzero(raw, sizeof(raw));
	}
	PG_END_TRY();
	key_spi_end(save_userid, save_sec);
	return last_key = key;
}

/*
 * What the leader of a parallel scan of rel hands its workers: the data key
 * its rows are most likely sealed with (the table's current key as far as
 * this backend knows, or the newest one it has used), wrapped.  Only what
 * is cached is shared, since this runs in parallel mode; key_id 0 means
 * none.  The wrapped form may be out of date after a master key rotation:
 * a worker that cannot unwrap it reads the key table instead.
 */
void
hdb_datakey_share(Relation rel, HdbSharedKey *shared)
{
	Oid			owner = hdb_datakey_owner(rel);
	KeyCacheEntry *best = NULL;
	TableKeyEntry *te;

	memset(shared, 0, sizeof(HdbSharedKey));
	if (key_cache == NULL)
		return;
	te = hash_search(table_keys, &owner, HASH_FIND, NULL);
	if (te != NULL)
		best = hash_search(key_cache, &te->key_id, HASH_FIND, NULL);
	if (best == NULL)
	{
		HASH_SEQ_STATUS seq;
		KeyCacheEntry *e;

		hash_seq_init(&seq, key_cache);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (e->key.relid == owner &&
				(best == NULL || e->key.version > best->key.version))
				best = e;
	}
	if (best == NULL)
		return;
	shared->key_id = best->key_id;
	shared->relid = best->key.relid;
	shared->version = best->key.version;
	memcpy(shared->wrapped, best->wrapped, HDB_WRAPPED_LEN);
	strlcpy(shared->check, best->check, sizeof(shared->check));
}

/*
 * In a parallel worker: cache the key its leader shared, unless it does not
 * unwrap (the worker then reads the key table when a row needs the key).
 */
void
hdb_datakey_adopt(const HdbSharedKey *shared)
{
	uint8		raw[HDB_KEY_LEN];

	if (shared->key_id == 0)
		return;
	create_caches();
	if (hash_search(key_cache, &shared->key_id, HASH_FIND, NULL) != NULL)
		return;
	if (!unwrap_data_key(shared->key_id, shared->relid, shared->wrapped,
						 shared->check, raw, false))
		return;
	PG_TRY();
	{
		/* a worker only reads: the key's seal budget is not its business */
		cache_key(shared->key_id, shared->relid, shared->version, 0, raw,
				  shared->wrapped, shared->check);
	}
	PG_FINALLY();
	{
		explicit_bzero(raw, sizeof(raw));
	}
	PG_END_TRY();
}

/*
 * Create a new data key version for table relid and make it the key the
 * table writes with.  Serialized against other key creations by a lock on
 * the key table, held until the end of the transaction.  Returns its id.
 */
int32
hdb_datakey_create(Oid relid)
{
	Oid			save_userid;
	int			save_sec;
	Oid			keytab;
	int32		key_id;
	int32		version;
	bool		isnull;
	uint8		master[HDB_KEY_LEN];
	uint8		raw[HDB_KEY_LEN];
	uint8		wrapped[HDB_WRAPPED_LEN];
	char		mcheck[HDB_KEY_CHECK_HEX + 1];
	bytea	   *wrapped_datum;
	int64		seal_mark;
	Oid			argtypes[4] = {INT4OID, OIDOID, BYTEAOID, TEXTOID};
	Datum		args[4];
	TableKeyEntry *te;

	keytab = hdb_crypto_relid("table_key", false);
	LockRelationOid(keytab, ShareRowExclusiveLock);

	key_spi_begin(&save_userid, &save_sec);
	if (SPI_execute(Q_NEXT_ID, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not allocate a data key number");
	key_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));

	hdb_random_bytes(raw, HDB_KEY_LEN);
	PG_TRY();
	{
		hdb_keyring_read(master);
		hdb_master_key_check(master, mcheck);
		hdb_wrap_key(master, key_id, raw, wrapped);
		explicit_bzero(master, sizeof(master));

		wrapped_datum = (bytea *) palloc(VARHDRSZ + HDB_WRAPPED_LEN);
		SET_VARSIZE(wrapped_datum, VARHDRSZ + HDB_WRAPPED_LEN);
		memcpy(VARDATA(wrapped_datum), wrapped, HDB_WRAPPED_LEN);
		args[0] = Int32GetDatum(key_id);
		args[1] = ObjectIdGetDatum(relid);
		args[2] = PointerGetDatum(wrapped_datum);
		args[3] = CStringGetTextDatum(mcheck);
		if (SPI_execute_with_args(Q_INSERT, 4, argtypes, args, NULL,
								  false, 1) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not store a data key");
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  &isnull));
		seal_mark = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2,
												&isnull));
		cache_key(key_id, relid, version, seal_mark, raw, wrapped, mcheck);
	}
	PG_FINALLY();
	{
		explicit_bzero(master, sizeof(master));
		explicit_bzero(raw, sizeof(raw));
	}
	PG_END_TRY();
	key_spi_end(save_userid, save_sec);

	/* other backends re-read the table's current key */
	CacheInvalidateRelcacheByRelid(relid);
	create_caches();
	te = hash_search(table_keys, &relid, HASH_ENTER, NULL);
	te->key_id = key_id;
	return key_id;
}

/*
 * The key rel writes with: its owner's newest key, created on first use.
 */
HdbDataKey *
hdb_datakey_for_write(Relation rel)
{
	Oid			owner = hdb_datakey_owner(rel);
	TableKeyEntry *te;
	int32		key_id = 0;
	Oid			save_userid;
	int			save_sec;
	bool		isnull;

	create_caches();
	te = hash_search(table_keys, &owner, HASH_FIND, NULL);
	if (te != NULL)
		return hdb_datakey_lookup(te->key_id);

	key_spi_begin(&save_userid, &save_sec);
	key_spi_read(Q_CURRENT, OIDOID, ObjectIdGetDatum(owner));
	if (SPI_processed == 1)
		key_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1,
											 &isnull));
	key_spi_end(save_userid, save_sec);

	if (key_id == 0)
	{
		Oid			keytab;

		/* under the creation lock, look again before creating */
		keytab = hdb_crypto_relid("table_key", true);
		if (OidIsValid(keytab))
		{
			LockRelationOid(keytab, ShareRowExclusiveLock);
			key_spi_begin(&save_userid, &save_sec);
			key_spi_read(Q_CURRENT, OIDOID, ObjectIdGetDatum(owner));
			if (SPI_processed == 1)
				key_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc,
													 1, &isnull));
			key_spi_end(save_userid, save_sec);
		}
		if (key_id == 0)
			key_id = hdb_datakey_create(owner);
	}
	te = hash_search(table_keys, &owner, HASH_ENTER, NULL);
	te->key_id = key_id;
	return hdb_datakey_lookup(key_id);
}

/*
 * The key to seal one row of rel with: its current key, or a new version
 * of it once the current one may have sealed heliosdb.max_rows_per_data_key
 * rows (seal_budget.c).  The new version is made only if no other backend
 * is making a key at the moment; otherwise the row is sealed with the
 * current key, and the budget checked again at this backend's next block
 * of seals (the budget leaves room for that).  Rows sealed with the old
 * version stay readable with it.
 */
HdbDataKey *
hdb_datakey_for_seal(Relation rel)
{
	HdbDataKey *key = hdb_datakey_for_write(rel);
	HdbDataKey *next;
	Oid			keytab;
	int32		old_version;

	if (!hdb_seal_budget_count(key->seal_mark, &key->checked_block))
		return key;
	keytab = hdb_crypto_relid("table_key", true);
	if (!OidIsValid(keytab) ||
		!ConditionalLockRelationOid(keytab, ShareRowExclusiveLock))
		return key;
	/* the lock brought any key another backend made meanwhile */
	next = hdb_datakey_for_write(rel);
	if (next->key_id != key->key_id)
	{
		UnlockRelationOid(keytab, ShareRowExclusiveLock);
		return next;
	}
	old_version = key->version;
	next = hdb_datakey_lookup(hdb_datakey_create(hdb_datakey_owner(rel)));
	ereport(LOG,
			(errmsg("table \"%s\" moves from data key version %d to version %d",
					RelationGetRelationName(rel), old_version, next->version),
			 errdetail("Version %d may have sealed %d rows, as many as heliosdb.max_rows_per_data_key allows.",
					   old_version, hdb_seal_budget_max_rows())));
	return next;
}

#define Q_ALL_KEYS \
	"SELECT key_id, wrapped, master_key_check FROM " HDB_SCHEMA ".table_key" \
	" ORDER BY key_id FOR UPDATE"
#define Q_REWRAP \
	"UPDATE " HDB_SCHEMA ".table_key SET wrapped = $2, master_key_check = $3" \
	" WHERE key_id OPERATOR(pg_catalog.=) $1"

PG_FUNCTION_INFO_V1(hdb_rotate_master_key);

/*
 * heliosdb.rotate_master_key(): re-wrap every data key still wrapped by
 * the previous master key (heliosdb.keyring_previous_*) with the master key
 * the keyring yields now.  Rows are not touched: data keys do not change.
 * Returns the number of keys re-wrapped.
 */
Datum
hdb_rotate_master_key(PG_FUNCTION_ARGS)
{
	uint8		current[HDB_KEY_LEN];
	uint8		previous[HDB_KEY_LEN];
	char		current_check[HDB_KEY_CHECK_HEX + 1];
	char		previous_check[HDB_KEY_CHECK_HEX + 1] = "";
	bool		have_previous;
	Oid			save_userid;
	int			save_sec;
	Oid			keytab;
	int			nkeys;
	int32	   *ids;
	bytea	  **wrapped;
	char	  **checks;
	int			i;
	int			rewrapped = 0;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to rotate the master key")));
	keytab = hdb_crypto_relid("table_key", false);
	LockRelationOid(keytab, ShareRowExclusiveLock);

	key_spi_begin(&save_userid, &save_sec);
	if (SPI_execute(Q_ALL_KEYS, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read heliosdb.table_key");
	nkeys = SPI_processed;
	ids = palloc(sizeof(int32) * (nkeys + 1));
	wrapped = palloc(sizeof(bytea *) * (nkeys + 1));
	checks = palloc(sizeof(char *) * (nkeys + 1));
	for (i = 0; i < nkeys; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		ids[i] = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		wrapped[i] = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		checks[i] = SPI_getvalue(tup, desc, 3);
	}

	PG_TRY();
	{
		hdb_keyring_read(current);
		hdb_master_key_check(current, current_check);
		have_previous = hdb_keyring_read_previous(previous);
		if (have_previous)
			hdb_master_key_check(previous, previous_check);

		for (i = 0; i < nkeys; i++)
		{
			uint8		raw[HDB_KEY_LEN];
			uint8		out[HDB_WRAPPED_LEN];
			bytea	   *datum;
			Oid			argtypes[3] = {INT4OID, BYTEAOID, TEXTOID};
			Datum		args[3];
			bool		ok;

			if (strcmp(checks[i], current_check) == 0)
				continue;
			if (!have_previous || strcmp(checks[i], previous_check) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("data key %d is wrapped by neither the current nor the previous master key",
								ids[i]),
						 errhint("Configure the master key that wrapped it as the previous master key (heliosdb.keyring_previous_file, heliosdb.keyring_previous_command or HELIOSDB_ENCRYPTION_KEY_PREVIOUS).")));
			ok = hdb_unwrap_key(previous, ids[i],
								(uint8 *) VARDATA_ANY(wrapped[i]), raw);
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("could not unwrap data key %d with the previous master key",
								ids[i])));
			hdb_wrap_key(current, ids[i], raw, out);
			explicit_bzero(raw, sizeof(raw));
			datum = palloc(VARHDRSZ + HDB_WRAPPED_LEN);
			SET_VARSIZE(datum, VARHDRSZ + HDB_WRAPPED_LEN);
			memcpy(VARDATA(datum), out, HDB_WRAPPED_LEN);
			args[0] = Int32GetDatum(ids[i]);
			args[1] = PointerGetDatum(datum);
			args[2] = CStringGetTextDatum(current_check);
			if (SPI_execute_with_args(Q_REWRAP, 3, argtypes, args, NULL,
									  false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not store a re-wrapped data key");
			rewrapped++;
		}
	}
	PG_FINALLY();
	{
		explicit_bzero(current, sizeof(current));
		explicit_bzero(previous, sizeof(previous));
	}
	PG_END_TRY();
	key_spi_end(save_userid, save_sec);
	PG_RETURN_INT32(rewrapped);
}
