/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The audit writer: one background worker per database that captures
 *	  records.  It recovers the records that were not stored when it last
 *	  stopped, then moves records from its database's ring to the sinks,
 *	  and expires old records.
 *
 * Start-up:
 *	1. Read heliosdb.audit_state: the end LSN of the last record stored.
 *	2. Make sure the replication slot heliosdb_audit_<database oid> exists;
 *	   its restart_lsn follows the stored LSN, so WAL that still holds
 *	   records not stored is kept.
 *	3. Read WAL from the stored LSN to its flushed end and store every
 *	   audit message of this database found there, together with the
 *	   records that WAL lost but the rings of earlier runs kept (records
 *	   of read-only transactions, see queue.c), then forget those rings.
 *	4. Serve the ring, skipping records whose LSN is not past the stored
 *	   one (they were recovered from WAL in step 3).
 *
 * A batch of records is stored in one transaction (insert_rows: the rows
 * are built, chained and inserted by chain.c and store.c), which also
 * advances the chain's end and the stored LSN in audit_state; only after
 * its commit does the ring's tail move, so a crash of the worker leaves
 * the records in the ring (and in WAL).  The file
 * sink is written before that commit (at least once), the log sink after.
 *
 * Signals follow pg_cron's worker: SIGHUP rereads the configuration (and
 * reopens the audit file), SIGTERM makes the worker store what it holds
 * and exit with status 0, so that the postmaster does not restart it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit/audit_internal.h"

PGDLLEXPORT void hdb_audit_worker_main(Datum arg);

/* Niceness of the writer process (see hdb_audit_worker_main). */
#define HDB_AUDIT_WRITER_NICE	10
/* Records stored per transaction at most. */
#define BATCH_RECORDS	500
/* Seconds between checks for the extension and for expired records. */
#define MAINTENANCE_INTERVAL_MS	10000
#define RETENTION_INTERVAL_MS	3600000

static volatile sig_atomic_t got_sigterm = false;

static int	my_qi = -1;
static XLogRecPtr stored_lsn = InvalidXLogRecPtr;
static FILE *audit_fp = NULL;
static char *audit_fp_path = NULL;
static TimestampTz last_slot_update = 0;

typedef struct Batch
{
	int			n;
	XLogRecPtr	max_lsn;
	char	   *recs[BATCH_RECORDS];	/* encoded records, as queued */
	int			lens[BATCH_RECORDS];
} Batch;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * On exit, free the queue's worker state.  After an error (status 1) the
 * postmaster starts the worker again by itself, so it stays "starting" and
 * backends do not launch another one.
 */
static void
worker_exit(int code, Datum arg)
{
	HdbAuditQueue *q;
	LWLock	   *lock;

	if (my_qi < 0)
		return;
	q = hdb_audit_queue_get(my_qi);
	lock = hdb_audit_queue_lock(my_qi);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (q->worker_pid == MyProcPid)
	{
		q->worker_pid = 0;
		q->worker_state = code == 0 ? HDB_AUDIT_WORKER_NONE :
			HDB_AUDIT_WORKER_STARTING;
	}
	LWLockRelease(lock);
	ConditionVariableBroadcast(&q->written_cv);
}

static void
slot_name(char *buf, Oid dboid)
{
	snprintf(buf, NAMEDATALEN, "heliosdb_audit_%u", dboid);
}

/*
 * Acquire (creating it if needed) the slot that keeps the WAL this
 * database's records may still have to be recovered from.  Without WAL
 * for replication or without free slots, the worker runs without it and
 * says so: records are then safe across crashes only while the WAL since
 * the last stored record has not been recycled.
 */
static void
acquire_slot(void)
{
	char		name[NAMEDATALEN];

	if (wal_level < WAL_LEVEL_REPLICA || max_replication_slots == 0)
	{
		ereport(LOG,
				(errmsg("heliosdb audit writer runs without a replication slot"),
				 errdetail("wal_level is minimal or max_replication_slots is 0.")));
		return;
	}
	slot_name(name, MyDatabaseId);
	if (SearchNamedReplicationSlot(name, true) != NULL)
	{
		ReplicationSlotAcquire(name, true);
		return;
	}
	ReplicationSlotCreate(name, false, RS_PERSISTENT, false);
	ReplicationSlotReserveWal();
	ReplicationSlotMarkDirty();
	ReplicationSlotSave();
}

/* Let the slot release WAL up to the last stored record. */
static void
advance_slot(bool force)
{
	TimestampTz now;

	if (MyReplicationSlot == NULL || XLogRecPtrIsInvalid(stored_lsn))
		return;
	now = GetCurrentTimestamp();
	if (!force && !TimestampDifferenceExceeds(last_slot_update, now, 1000))
		return;
	last_slot_update = now;
	if (MyReplicationSlot->data.restart_lsn >= stored_lsn)
		return;
	SpinLockAcquire(&MyReplicationSlot->mutex);
	MyReplicationSlot->data.restart_lsn = stored_lsn;
	SpinLockRelease(&MyReplicationSlot->mutex);
	ReplicationSlotMarkDirty();
	ReplicationSlotsComputeRequiredLSN();
}

static void
open_audit_file(void)
{
	if (audit_fp != NULL)
	{
		fclose(audit_fp);
		audit_fp = NULL;
	}
	if (!(hdb_audit_destinations & HDB_AUDIT_DEST_FILE) ||
		hdb_audit_file == NULL || hdb_audit_file[0] == '\0')
		return;
	audit_fp = fopen(hdb_audit_file, "a");
	if (audit_fp == NULL)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not open audit file \"%s\": %m", hdb_audit_file)));
	else
	{
		if (audit_fp_path)
			pfree(audit_fp_path);
		audit_fp_path = MemoryContextStrdup(TopMemoryContext, hdb_audit_file);
	}
}

/* Whether the extension is (still) installed; in a transaction. */
static bool
extension_installed(void)
{
	return OidIsValid(get_extension_oid("heliosdb", true));
}

/* The writer's statements on the audit tables. */
static const char *const chain_end_sql =
"SELECT last_seq, last_hash FROM heliosdb.audit_state FOR UPDATE";
static const char *const insert_sql =
"INSERT INTO heliosdb.audit_log SELECT * FROM heliosdb._audit_rows($1, $2, $3)";
static const char *const save_end_sql =
"UPDATE heliosdb.audit_state SET last_seq = $1, last_hash = $2, "
"stored_lsn = GREATEST(stored_lsn, $3)";
static const char *const save_lsn_sql =
"UPDATE heliosdb.audit_state SET stored_lsn = GREATEST(stored_lsn, $1)";

/* Their plans, prepared at first use (run_kept). */
static SPIPlanPtr chain_end_plan = NULL;
static SPIPlanPtr save_end_plan = NULL;
static SPIPlanPtr save_lsn_plan = NULL;

static void
spi_check(int ret, int expected)
{
	if (ret != expected)
		elog(ERROR, "could not store audit records: SPI error %d", ret);
}

/*
 * Run one of the statements above (no NULL arguments) through a plan that
 * the writer prepares once and keeps: parsing and planning them for every
 * batch cost more than the statements themselves.
 */
static int
run_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
		 Datum *args)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": SPI error %d", sql,
				 SPI_result);
		SPI_keepplan(p);
		*plan = p;
	}
	return SPI_execute_plan(*plan, args, NULL, false, 0);
}

/*
 * Make sure the day partitions of audit_log around today (UTC) exist, once
 * a day; records of other days go to the default partition.
 */
static void
ensure_partitions(void)
{
	static int32 done_for = -1;
	int32		today = (int32) (GetCurrentTransactionStartTimestamp() /
								 USECS_PER_DAY);

	if (today == done_for)
		return;
	for (int d = -1; d <= 1; d++)
	{
		Oid			argtypes[1] = {DATEOID};
		Datum		args[1] = {DateADTGetDatum(today + d)};

		spi_check(SPI_execute_with_args("SELECT heliosdb._audit_partition($1)",
										1, argtypes, args, NULL, false, 0),
				  SPI_OK_SELECT);
	}
	done_for = today;
}

/*
 * Insert a batch into audit_log, chained after the end recorded in
 * audit_state, and move that end and the stored LSN; in the caller's
 * transaction.  The rows go in without SQL (store.c) unless audit_log has
 * triggers, which an INSERT statement fires.
 */
static void
insert_rows(Batch *b)
{
	Datum	   *elems = palloc(sizeof(Datum) * b->n);
	Oid			argtypes[3] = {BYTEAARRAYOID, INT8OID, BYTEAOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	bytea	   *hash;
	uint8		last_hash[HDB_AUDIT_HASH_LEN];

	spi_check(run_kept(&chain_end_plan, chain_end_sql, 0, NULL, NULL),
			  SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "heliosdb.audit_state does not have exactly one row");
	args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							&isnull);
	args[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							&isnull);
	if (isnull)
		nulls[2] = 'n';

	ensure_partitions();

	if (nulls[2] == ' ')
	{
		bytea	   *h = DatumGetByteaPP(args[2]);

		if (VARSIZE_ANY_EXHDR(h) != HDB_AUDIT_HASH_LEN)
			elog(ERROR, "audit chain end has a hash of the wrong length");
		memcpy(last_hash, VARDATA_ANY(h), HDB_AUDIT_HASH_LEN);
	}
	if (!hdb_audit_store_rows(b->recs, b->lens, b->n,
							  DatumGetInt64(args[1]),
							  nulls[2] == ' ' ? last_hash : NULL))
	{
		/* audit_log has triggers: let INSERT fire them */
		for (int i = 0; i < b->n; i++)
		{
			bytea	   *r = palloc(VARHDRSZ + b->lens[i]);

			SET_VARSIZE(r, VARHDRSZ + b->lens[i]);
			memcpy(VARDATA(r), b->recs[i], b->lens[i]);
			elems[i] = PointerGetDatum(r);
		}
		args[0] = PointerGetDatum(construct_array(elems, b->n, BYTEAOID, -1,
												  false, TYPALIGN_INT));
		spi_check(SPI_execute_with_args(insert_sql, 3, argtypes, args, nulls,
										false, 0),
				  SPI_OK_INSERT);
		if (SPI_processed != (uint64) b->n)
			elog(ERROR, "stored " UINT64_FORMAT " audit records of %d",
				 SPI_processed, b->n);
	}

	hash = palloc(VARHDRSZ + HDB_AUDIT_HASH_LEN);
	SET_VARSIZE(hash, VARHDRSZ + HDB_AUDIT_HASH_LEN);
	memcpy(VARDATA(hash), hdb_audit_chain_last_hash, HDB_AUDIT_HASH_LEN);
	argtypes[0] = INT8OID;
	args[0] = Int64GetDatum(hdb_audit_chain_last_seq);
	argtypes[1] = BYTEAOID;
	args[1] = PointerGetDatum(hash);
	argtypes[2] = PG_LSNOID;
	args[2] = LSNGetDatum(b->max_lsn);
	spi_check(run_kept(&save_end_plan, save_end_sql, 3, argtypes, args),
			  SPI_OK_UPDATE);
}

/*
 * Store a batch: file sink first, then the table and the stored LSN in one
 * transaction, then the log sink.  Returns false when the extension has
 * gone (nothing stored).
 */
static bool
store_batch(Batch *b)
{
	bool		installed;
	MemoryContext caller = CurrentMemoryContext;

	if (b->n == 0)
		return true;

	if ((hdb_audit_destinations & HDB_AUDIT_DEST_FILE))
	{
		if (audit_fp == NULL ||
			(audit_fp_path && strcmp(audit_fp_path, hdb_audit_file) != 0))
			open_audit_file();
		if (audit_fp != NULL)
		{
			for (int i = 0; i < b->n; i++)
			{
				int			len;
				char	   *json = hdb_audit_record_json(b->recs[i],
														 b->lens[i], &len);

				fwrite(json, 1, len, audit_fp);
				fputc('\n', audit_fp);
			}
			if (fflush(audit_fp) != 0)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not write audit file \"%s\": %m",
								hdb_audit_file)));
		}
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "storing audit records");

	installed = extension_installed();
	if (installed)
	{
		if (hdb_audit_destinations & HDB_AUDIT_DEST_DATABASE)
			insert_rows(b);
		else
		{
			Oid			argtypes[1] = {PG_LSNOID};
			Datum		args[1] = {LSNGetDatum(b->max_lsn)};

			spi_check(run_kept(&save_lsn_plan, save_lsn_sql, 1, argtypes,
							   args),
					  SPI_OK_UPDATE);
		}
	}

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (!installed)
		return false;
	if (b->max_lsn > stored_lsn)
		stored_lsn = b->max_lsn;
	advance_slot(false);

	if (hdb_audit_destinations & HDB_AUDIT_DEST_LOG)
	{
		for (int i = 0; i < b->n; i++)
		{
			int			len;
			char	   *json = hdb_audit_record_json(b->recs[i], b->lens[i],
													 &len);

			ereport(LOG_SERVER_ONLY,
					(errmsg_internal("%.*s", len, json),
					 errhidestmt(true), errhidecontext(true)));
		}
	}
	return true;
}

static void
batch_add(Batch *b, const char *data, int len, XLogRecPtr lsn)
{
	b->recs[b->n] = palloc(len);
	memcpy(b->recs[b->n], data, len);
	b->lens[b->n] = len;
	b->n++;
	if (lsn > b->max_lsn)
		b->max_lsn = lsn;
}

/*
 * Stop for good: the extension was dropped from this database.
 *
 * The snapshot that missed the extension may be older than a CREATE
 * EXTENSION heliosdb, such as the one whose records launched this writer.
 * So wait for the lock that CREATE and DROP EXTENSION hold until they end,
 * look again with a snapshot taken under it, and keep it while the queue
 * is marked retired, so that a CREATE EXTENSION can only unretire it
 * after.  When the extension is there after all, exit with status 1
 * instead: the postmaster starts the writer again a second later, and the
 * queued records wait for it.
 */
static void
retire(void)
{
	HdbAuditQueue *q = hdb_audit_queue_get(my_qi);
	LWLock	   *lock = hdb_audit_queue_lock(my_qi);
	char		name[NAMEDATALEN];
	bool		dropped;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING,
						   "waiting for CREATE or DROP EXTENSION heliosdb");
	hdb_audit_lock_extension_lifecycle(ShareLock);
	PushActiveSnapshot(GetTransactionSnapshot());
	dropped = !extension_installed();
	PopActiveSnapshot();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (dropped)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		q->retired = true;
		q->dropped += q->enqueued - q->written;
		q->written = q->enqueued;
		q->tail = q->head;
		LWLockRelease(lock);
	}
	CommitTransactionCommand();
	if (!dropped)
	{
		ereport(DEBUG1,
				(errmsg("heliosdb audit writer restarts: the extension was created meanwhile")));
		proc_exit(1);
	}
	ConditionVariableBroadcast(&q->space_cv);

	/* Drop the slot, whether this writer had acquired it yet or not. */
	slot_name(name, MyDatabaseId);
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
	if (SearchNamedReplicationSlot(name, true) != NULL)
		ReplicationSlotDrop(name, true);
	hdb_audit_forget_old_queues(MyDatabaseId);
	ereport(LOG,
			(errmsg("heliosdb audit writer stops: the extension is not installed in this database")));
	proc_exit(0);
}

/*
 * Recovery's progress through the records of earlier runs' rings: the
 * first "passed" have been added to a batch or found in WAL, the first
 * "marked" of those are marked stored in their files.
 */
typedef struct RingProgress
{
	HdbAuditOldRecord *recs;
	int			passed;
	int			marked;
} RingProgress;

/*
 * Store a recovery batch; then, once its commit is on disk (the writer's
 * commits do not wait for that), mark the ring records it took or passed.
 */
static void
recovery_store(Batch *b, MemoryContext cxt, RingProgress *rp)
{
	if (b->n > 0 && !store_batch(b))
		retire();
	b->n = 0;
	b->max_lsn = InvalidXLogRecPtr;
	MemoryContextReset(cxt);
	if (rp->passed > rp->marked)
	{
		XLogFlush(XactLastCommitEnd);
		hdb_audit_old_stored(MyDatabaseId, rp->recs + rp->marked,
							 rp->passed - rp->marked);
		rp->marked = rp->passed;
	}
}

/* Add a record to a recovery batch, storing the batch when it is full. */
static void
recovery_add(Batch *b, MemoryContext cxt, RingProgress *rp,
			 const char *data, int len, XLogRecPtr lsn)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	batch_add(b, data, len, lsn);
	MemoryContextSwitchTo(old);
	if (b->n == BATCH_RECORDS)
		recovery_store(b, cxt, rp);
}

/*
 * Store the records that were queued but not stored when the server last
 * stopped: read WAL from the stored LSN to its flushed end and store the
 * audit messages of this database found there, and the records that the
 * rings of earlier runs hold (queue.c) but WAL lost.
 *
 * WAL and a ring list their records in the same order, so the two merge by
 * position: a ring record whose message start WAL reaches with the same
 * bytes is the message stored from WAL; one whose start WAL passes, or
 * reaches with other bytes (positions after the end of WAL that survived a
 * crash are written again by the next run), or never reaches, was lost
 * from WAL, and is stored from the ring where WAL has got to.  Those do not
 * move the stored LSN: their positions say nothing about WAL today.
 */
static void
recover_queued(void)
{
	ReadLocalXLogPageNoWaitPrivate *priv;
	XLogReaderState *reader;
	Batch	   *b;
	MemoryContext cxt;
	MemoryContext old;
	HdbAuditQueue *q = hdb_audit_queue_get(my_qi);
	LWLock	   *lock = hdb_audit_queue_lock(my_qi);
	uint64		recovered = 0;
	int			from_ring = 0;
	HdbAuditOldRecord *ring;
	int			nring;
	RingProgress rp = {NULL, 0, 0};

	if (XLogRecPtrIsInvalid(stored_lsn))
		return;
	/* The reader lives in one context, the batch's records in another. */
	old = MemoryContextSwitchTo(AllocSetContextCreate(TopMemoryContext,
													  "heliosdb audit recovery",
													  ALLOCSET_DEFAULT_SIZES));
	b = palloc0(sizeof(Batch));
	cxt = AllocSetContextCreate(TopMemoryContext, "heliosdb audit recovery batch",
								ALLOCSET_DEFAULT_SIZES);
	ring = hdb_audit_old_records(MyDatabaseId, stored_lsn, &nring);
	rp.recs = ring;

	priv = palloc0(sizeof(ReadLocalXLogPageNoWaitPrivate));
	reader = XLogReaderAllocate(wal_segment_size, NULL,
								XL_ROUTINE(.page_read = &read_local_xlog_page_no_wait,
										   .segment_open = &wal_segment_open,
										   .segment_close = &wal_segment_close),
								priv);
	if (reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed while allocating a WAL reading processor.")));

	if (!XLogRecPtrIsInvalid(XLogFindNextRecord(reader, stored_lsn)))
	{
		for (;;)
		{
			char	   *errormsg;
			XLogRecord *record = XLogReadRecord(reader, &errormsg);
			xl_logical_message *m = NULL;

			if (record == NULL)
			{
				if (!priv->end_of_wal && errormsg)
					ereport(WARNING,
							(errmsg("heliosdb audit recovery stopped at %X/%X: %s",
									LSN_FORMAT_ARGS(reader->EndRecPtr), errormsg)));
				break;
			}
			if (XLogRecGetRmid(reader) == RM_LOGICALMSG_ID &&
				(XLogRecGetInfo(reader) & ~XLR_INFO_MASK) == XLOG_LOGICAL_MESSAGE)
			{
				m = (xl_logical_message *) XLogRecGetData(reader);
				if (m->dbId != MyDatabaseId || m->transactional ||
					m->prefix_size != sizeof(HDB_AUDIT_WAL_PREFIX) ||
					strcmp(m->message, HDB_AUDIT_WAL_PREFIX) != 0)
					m = NULL;
			}

			/* Ring records this record's start passes or reaches. */
			while (rp.passed < nring &&
				   ring[rp.passed].start <= reader->ReadRecPtr)
			{
				HdbAuditOldRecord *r = &ring[rp.passed++];

				if (m != NULL && r->start == reader->ReadRecPtr &&
					r->len == m->message_size &&
					memcmp(r->data, m->message + m->prefix_size, r->len) == 0)
					continue;	/* the same message, stored below */
				recovery_add(b, cxt, &rp, r->data, r->len, InvalidXLogRecPtr);
				from_ring++;
			}

			if (m != NULL && reader->EndRecPtr > stored_lsn)
			{
				recovery_add(b, cxt, &rp, m->message + m->prefix_size,
							 m->message_size, reader->EndRecPtr);
				recovered++;
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	/* What WAL never reached. */
	while (rp.passed < nring)
	{
		HdbAuditOldRecord *r = &ring[rp.passed++];

		recovery_add(b, cxt, &rp, r->data, r->len, InvalidXLogRecPtr);
		from_ring++;
	}
	recovery_store(b, cxt, &rp);
	XLogReaderFree(reader);
	MemoryContextDelete(cxt);
	MemoryContextDelete(MemoryContextSwitchTo(old));

	/* The rings of earlier runs hold nothing more for this database. */
	hdb_audit_forget_old_queues(MyDatabaseId);

	recovered += from_ring;
	if (recovered > 0)
		ereport(LOG,
				(errmsg("heliosdb audit writer recovered " UINT64_FORMAT " records",
						recovered),
				 errdetail("%d of them from the queue of an earlier run, the others from WAL.",
						   from_ring)));
	LWLockAcquire(lock, LW_EXCLUSIVE);
	q->replayed += recovered;
	LWLockRelease(lock);
}

/* Read heliosdb.audit_state; false when the extension is not installed. */
static bool
load_state(void)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = extension_installed();
	if (installed &&
		SPI_execute("SELECT stored_lsn FROM heliosdb.audit_state", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			stored_lsn = DatumGetLSN(d);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	return installed;
}

/* Expire records and check that the extension is still there. */
static void
maintenance(bool retention)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = extension_installed();
	if (installed && retention && hdb_audit_retention_days > 0)
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		args[1] = {Int32GetDatum(hdb_audit_retention_days)};

		pgstat_report_activity(STATE_RUNNING, "expiring audit records");
		SPI_execute_with_args("SELECT heliosdb.audit_expire($1)", 1,
							  argtypes, args, NULL, false, 0);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (!installed)
		retire();
}

/*
 * Take up to BATCH_RECORDS records off the ring and store them.  Returns
 * the number of records taken.
 */
static int
serve_ring(MemoryContext cxt)
{
	HdbAuditQueue *q = hdb_audit_queue_get(my_qi);
	LWLock	   *lock = hdb_audit_queue_lock(my_qi);
	uint64		pos;
	uint64		head;
	int			taken = 0;
	Batch	   *b;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	LWLockAcquire(lock, LW_SHARED);
	pos = q->tail;
	head = q->head;
	LWLockRelease(lock);

	b = palloc0(sizeof(Batch));
	while (pos < head && taken < BATCH_RECORDS)
	{
		HdbAuditRingEntry e;
		char	   *data;

		hdb_audit_ring_read(q, pos, (char *) &e, sizeof(e));
		data = palloc(e.len);
		hdb_audit_ring_read(q, pos + sizeof(e), data, e.len);
		/* Already recovered from WAL at start-up? */
		if (e.lsn > stored_lsn)
		{
			b->recs[b->n] = data;
			b->lens[b->n] = e.len;
			b->n++;
			b->max_lsn = Max(b->max_lsn, e.lsn);
		}
		pos += MAXALIGN(sizeof(e) + e.len);
		taken++;
	}
	if (taken > 0)
	{
		if (!store_batch(b))
			retire();
		LWLockAcquire(lock, LW_EXCLUSIVE);
		q->tail = pos;
		q->written += taken;
		LWLockRelease(lock);
		ConditionVariableBroadcast(&q->space_cv);
		ConditionVariableBroadcast(&q->written_cv);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	return taken;
}

void
hdb_audit_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	HdbAuditQueue *q;
	LWLock	   *lock;
	MemoryContext loop_cxt;
	TimestampTz last_maintenance = 0;
	TimestampTz last_retention = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	hdb_audit_in_worker = true;
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("heliosdb audit writer");

	/*
	 * Records are durable in WAL before the writer sees them, so storing
	 * them can wait: give way to the sessions being audited, like a
	 * background task (a full ring still makes them wait for the writer).
	 */
	if (setpriority(PRIO_PROCESS, 0, HDB_AUDIT_WRITER_NICE) != 0)
		ereport(LOG,
				(errmsg("could not lower the priority of the heliosdb audit writer: %m")));

	/*
	 * The writer's commits need not wait for a flush: a batch lost in a
	 * crash takes its stored LSN with it, so the batch is recovered from
	 * WAL again.  (A checkpoint, which could remove that WAL, flushes the
	 * commit first.)
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	my_qi = hdb_audit_queue_for_db(dboid, true);
	if (my_qi < 0)
		proc_exit(0);
	q = hdb_audit_queue_get(my_qi);
	lock = hdb_audit_queue_lock(my_qi);

	/* One writer per database: leave if another one runs. */
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (q->worker_pid != 0 && q->worker_pid != MyProcPid)
	{
		LWLockRelease(lock);
		my_qi = -1;
		proc_exit(0);
	}
	q->worker_pid = MyProcPid;
	q->worker_procno = MyProc->pgprocno;
	q->worker_state = HDB_AUDIT_WORKER_STARTING;
	LWLockRelease(lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	if (!load_state())
		retire();
	acquire_slot();
	recover_queued();
	advance_slot(true);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	q->worker_state = HDB_AUDIT_WORKER_READY;
	LWLockRelease(lock);
	ConditionVariableBroadcast(&q->written_cv);

	/* A batch's records fit the first megabyte, kept across resets. */
	loop_cxt = AllocSetContextCreate(TopMemoryContext,
									 "heliosdb audit writer loop",
									 1024 * 1024, 1024 * 1024,
									 8 * 1024 * 1024);
	for (;;)
	{
		TimestampTz now;
		int			taken;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			open_audit_file();
		}

		taken = serve_ring(loop_cxt);

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_maintenance, now,
									   MAINTENANCE_INTERVAL_MS))
		{
			bool		retention = TimestampDifferenceExceeds(last_retention, now,
															   RETENTION_INTERVAL_MS);

			maintenance(retention);
			last_maintenance = now;
			if (retention)
				last_retention = now;
			advance_slot(true);
		}

		if (taken > 0)
			continue;
		if (got_sigterm)
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 HDB_AUDIT_STORE_DELAY_MS, PG_WAIT_EXTENSION);
	}

	advance_slot(true);
	if (audit_fp != NULL)
		fclose(audit_fp);
	proc_exit(0);
}

/*
 * The launcher: a static worker, without a database, that starts the
 * writer of every database holding an audit replication slot, at server
 * start (so that records left in WAL by a crash are recovered and old
 * records expire without waiting for a statement to be audited) and every
 * ten seconds after (a writer that stopped on an error is started again
 * even when nothing new is queued).  Databases without a slot (wal_level
 * minimal) get their writer from the first backend that queues a record.
 */
PGDLLEXPORT void hdb_audit_launcher_main(Datum arg);

void
hdb_audit_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();
	hdb_audit_in_worker = true;
	pgstat_report_appname("heliosdb audit launcher");

	while (!got_sigterm)
	{
		Oid		   *dbs = palloc(sizeof(Oid) * Max(max_replication_slots, 1));
		int			ndbs = 0;
		const char *prefix = "heliosdb_audit_";

		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		for (int i = 0; i < max_replication_slots; i++)
		{
			ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];
			const char *name = NameStr(s->data.name);

			if (s->in_use && strncmp(name, prefix, strlen(prefix)) == 0)
				dbs[ndbs++] = (Oid) strtoul(name + strlen(prefix), NULL, 10);
		}
		LWLockRelease(ReplicationSlotControlLock);

		for (int i = 0; i < ndbs; i++)
		{
			int			qi = hdb_audit_queue_for_db(dbs[i], true);

			if (qi >= 0)
				hdb_audit_ensure_worker(qi);
		}
		pfree(dbs);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10000L, PG_WAIT_EXTENSION);
	}
	proc_exit(0);
}
