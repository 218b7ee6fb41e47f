/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The durable audit queue: one ring of records per database in shared
 *	  memory, backed by logical WAL messages, and the launching of each
 *	  database's worker.
 *
 * Enqueueing a record, under the queue's lock: wait (lock released) until
 * the ring has room, write the record to WAL with LogLogicalMessage() (not
 * transactional, so it outlives an abort), then copy it into the ring with
 * the message's end LSN.  Doing both under one lock keeps ring order and
 * WAL order the same, which the worker relies on to skip, after a restart,
 * records it already recovered from WAL.  The WAL message is flushed by
 * the commit that follows it; read-only transactions, which write no
 * commit record, flush it from the commit callback in capture.c.
 *
 * The ring is a byte array used circularly; positions (head, tail) grow
 * forever and are taken modulo the ring size.  See audit_internal.h for
 * the locking rules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "replication/message.h"
#include "replication/slot.h"
#include <signal.h>
#include "storage/latch.h"
#include "utils/acl.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "audit/audit_internal.h"
#include "common/hdb_common.h"

#define AUDIT_SHMEM_NAME "heliosdb_audit"

HdbAuditShared *hdb_audit_shared = NULL;

static Size queue_stride(void);

/* This backend's queue index, -1 until claimed. */
static int	my_queue = -1;

/* End of the last WAL message this backend wrote (capture.c flushes it). */
XLogRecPtr	hdb_audit_last_lsn = InvalidXLogRecPtr;

static Size
ring_size(void)
{
	return (Size) hdb_audit_queue_size_kb * 1024;
}

static Size
queue_stride(void)
{
	return MAXALIGN(sizeof(HdbAuditQueue)) + MAXALIGN(ring_size());
}

static Size
audit_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(HdbAuditShared)),
					mul_size(hdb_audit_max_databases, queue_stride()));
}

static void
audit_shmem_attach(void *ptr, bool found)
{
	hdb_audit_shared = (HdbAuditShared *) ptr;
	if (found)
		return;

	memset(ptr, 0, sizeof(HdbAuditShared));
	hdb_audit_shared->num_queues = hdb_audit_max_databases;
	hdb_audit_shared->ring_size = ring_size();
	for (int i = 0; i < hdb_audit_max_databases; i++)
	{
		HdbAuditQueue *q = hdb_audit_queue_get(i);

		memset(q, 0, sizeof(HdbAuditQueue));
		q->dboid = InvalidOid;
		ConditionVariableInit(&q->space_cv);
		ConditionVariableInit(&q->written_cv);
	}
}

/* Register the module's shared memory: queues plus one lock each and one. */
void
hdb_audit_queue_init(void)
{
	hdb_shmem_register(AUDIT_SHMEM_NAME, audit_shmem_size, audit_shmem_attach,
					   hdb_audit_max_databases + 1);
}

HdbAuditQueue *
hdb_audit_queue_get(int i)
{
	return (HdbAuditQueue *) ((char *) hdb_audit_shared +
							  MAXALIGN(sizeof(HdbAuditShared)) +
							  i * queue_stride());
}

char *
hdb_audit_queue_ring(HdbAuditQueue *q)
{
	return (char *) q + MAXALIGN(sizeof(HdbAuditQueue));
}

LWLock *
hdb_audit_queue_lock(int i)
{
	return &hdb_shmem_lwlocks(AUDIT_SHMEM_NAME)[i].lock;
}

/*
 * The queue of a database, or -1.  With "claim", a free queue is taken for
 * it when it has none yet (-1 then means that all are taken).
 */
int
hdb_audit_queue_for_db(Oid dboid, bool claim)
{
	LWLock	   *claim_lock;
	int			found = -1;

	if (dboid == MyDatabaseId && my_queue >= 0)
		return my_queue;

	claim_lock = hdb_audit_queue_lock(hdb_audit_shared->num_queues);
	LWLockAcquire(claim_lock, claim ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < hdb_audit_shared->num_queues; i++)
	{
		if (hdb_audit_queue_get(i)->dboid == dboid)
		{
			found = i;
			break;
		}
	}
	if (found < 0 && claim)
	{
		for (int i = 0; i < hdb_audit_shared->num_queues; i++)
		{
			HdbAuditQueue *q = hdb_audit_queue_get(i);

			if (q->dboid == InvalidOid)
			{
				LWLock	   *lock = hdb_audit_queue_lock(i);

				LWLockAcquire(lock, LW_EXCLUSIVE);
				q->dboid = dboid;
				LWLockRelease(lock);
				found = i;
				break;
			}
		}
	}
	LWLockRelease(claim_lock);

	if (dboid == MyDatabaseId && found >= 0)
		my_queue = found;
	return found;
}

/* Copy len bytes into the ring at position pos, wrapping around. */
static void
ring_write(HdbAuditQueue *q, uint64 pos, const char *src, Size len)
{
	Size		size = hdb_audit_shared->ring_size;
	char	   *ring = hdb_audit_queue_ring(q);
	Size		off = pos % size;
	Size		first = Min(len, size - off);

	memcpy(ring + off, src, first);
	if (first < len)
		memcpy(ring, src + first, len - first);
}

/* Copy len bytes out of the ring from position pos, wrapping around. */
void
hdb_audit_ring_read(HdbAuditQueue *q, uint64 pos, char *dst, Size len)
{
	Size		size = hdb_audit_shared->ring_size;
	char	   *ring = hdb_audit_queue_ring(q);
	Size		off = pos % size;
	Size		first = Min(len, size - off);

	memcpy(dst, ring + off, first);
	if (first < len)
		memcpy(dst + first, ring, len - first);
}

/*
 * Launch the worker of queue qi unless one runs or was launched less than
 * a second ago.  A failed launch is retried by a later call; the records
 * wait in the ring and in WAL meanwhile.
 */
void
hdb_audit_ensure_worker(int qi)
{
	HdbAuditQueue *q = hdb_audit_queue_get(qi);
	LWLock	   *lock = hdb_audit_queue_lock(qi);
	TimestampTz now = GetCurrentTimestamp();
	BackgroundWorker worker;
	Oid			dboid;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (q->worker_state != HDB_AUDIT_WORKER_NONE ||
		(q->launched_at != 0 &&
		 !TimestampDifferenceExceeds(q->launched_at, now, 1000)))
	{
		LWLockRelease(lock);
		return;
	}
	q->worker_state = HDB_AUDIT_WORKER_STARTING;
	q->launched_at = now;
	dboid = q->dboid;
	LWLockRelease(lock);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "heliosdb");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hdb_audit_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "heliosdb audit writer %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "heliosdb audit writer");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;

	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (q->worker_state == HDB_AUDIT_WORKER_STARTING && q->worker_pid == 0)
			q->worker_state = HDB_AUDIT_WORKER_NONE;
		LWLockRelease(lock);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the heliosdb audit writer"),
				 errdetail("Audit records wait in the queue and in WAL until it starts."),
				 errhint("Raise max_worker_processes.")));
	}
}

/* Make the queue's writer, if it runs, look at its ring now. */
void
hdb_audit_wake_worker(int qi)
{
	HdbAuditQueue *q = hdb_audit_queue_get(qi);
	LWLock	   *lock = hdb_audit_queue_lock(qi);
	Latch	   *latch = NULL;

	LWLockAcquire(lock, LW_SHARED);
	if (q->worker_pid != 0)
		latch = &ProcGlobal->allProcs[q->worker_procno].procLatch;
	LWLockRelease(lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Queue one encoded record for this database.  Waits while the ring is
 * full; never drops.
 *
 * In single-user mode no writer can run, and a ring that filled up would
 * wait forever: the record goes to WAL only, where the database's writer
 * finds it when the server runs normally again.
 */
void
hdb_audit_enqueue(const char *data, int len)
{
	int			qi;
	HdbAuditQueue *q;
	LWLock	   *lock;
	HdbAuditRingEntry entry;
	Size		need = MAXALIGN(sizeof(HdbAuditRingEntry) + len);
	bool		waited = false;
	Latch	   *latch;

	if (!IsUnderPostmaster)
	{
		hdb_audit_last_lsn = LogLogicalMessage(HDB_AUDIT_WAL_PREFIX, data, len,
											   false);
		return;
	}

	qi = hdb_audit_queue_for_db(MyDatabaseId, true);
	if (qi < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many databases with an audit queue"),
				 errhint("Raise heliosdb.audit_max_databases.")));
	q = hdb_audit_queue_get(qi);
	lock = hdb_audit_queue_lock(qi);

	if (need > hdb_audit_shared->ring_size / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("audit record of %d bytes does not fit the audit queue", len),
				 errhint("Raise heliosdb.audit_queue_size.")));

	if (q->worker_state == HDB_AUDIT_WORKER_NONE)
		hdb_audit_ensure_worker(qi);

	for (;;)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (hdb_audit_shared->ring_size - (q->head - q->tail) >= need)
			break;
		if (!waited)
			q->waits++;
		waited = true;
		LWLockRelease(lock);
		hdb_audit_ensure_worker(qi);
		hdb_audit_wake_worker(qi);
		ConditionVariableTimedSleep(&q->space_cv, 1000, PG_WAIT_EXTENSION);
	}
	if (waited)
		ConditionVariableCancelSleep();

	/* WAL first, so the ring never holds a record WAL lacks. */
	entry.len = len;
	entry.pad = 0;
	entry.lsn = LogLogicalMessage(HDB_AUDIT_WAL_PREFIX, data, len, false);
	ring_write(q, q->head, (const char *) &entry, sizeof(entry));
	ring_write(q, q->head + sizeof(entry), data, len);
	q->head += need;
	q->enqueued++;
	hdb_audit_last_lsn = entry.lsn;

	/*
	 * The writer stores what it finds every HDB_AUDIT_STORE_DELAY_MS; wake
	 * it earlier only when the ring is filling up (or when we had to wait
	 * for room), so that it stores large batches in few transactions.
	 */
	latch = NULL;
	if (q->worker_pid != 0 &&
		(waited || q->head - q->tail >= hdb_audit_shared->ring_size / 4))
		latch = &ProcGlobal->allProcs[q->worker_procno].procLatch;
	LWLockRelease(lock);

	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Before DROP DATABASE by its owner: stop the database's writer, whose
 * connection would make the drop fail, and drop its replication slot.  On
 * SIGTERM the writer stores what its ring holds before it exits.  The
 * queue itself stays assigned to the database until the server restarts.
 * Waits up to 10 seconds for the writer to exit.
 */
void
hdb_audit_release_database(Oid dboid)
{
	int			qi;
	HdbAuditQueue *q;
	LWLock	   *lock;
	int			pid;
	char		name[NAMEDATALEN];
	TimestampTz deadline;

	if (hdb_audit_shared == NULL || !OidIsValid(dboid) ||
		!pg_database_ownercheck(dboid, GetUserId()))
		return;
	qi = hdb_audit_queue_for_db(dboid, false);
	if (qi < 0)
		return;
	q = hdb_audit_queue_get(qi);
	lock = hdb_audit_queue_lock(qi);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000);
	for (;;)
	{
		LWLockAcquire(lock, LW_SHARED);
		pid = q->worker_pid;
		LWLockRelease(lock);
		if (pid == 0 || GetCurrentTimestamp() > deadline)
			break;
		kill(pid, SIGTERM);
		ConditionVariableTimedSleep(&q->written_cv, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	snprintf(name, sizeof(name), "heliosdb_audit_%u", dboid);
	if (pid == 0 && SearchNamedReplicationSlot(name, true) != NULL)
		ReplicationSlotDrop(name, true);
}

/* Register the launcher (worker.c); called while the library is preloaded. */
void
hdb_audit_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "heliosdb");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hdb_audit_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "heliosdb audit launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "heliosdb audit launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Whether the writer of this backend's database found the extension gone.
 * Read without the lock: a stale answer only delays the check by one
 * statement.
 */
bool
hdb_audit_my_queue_retired(void)
{
	return my_queue >= 0 && hdb_audit_queue_get(my_queue)->retired;
}

/* After CREATE EXTENSION: the database is audited again. */
void
hdb_audit_unretire(Oid dboid)
{
	int			qi = hdb_audit_queue_for_db(dboid, false);

	if (qi < 0)
		return;
	LWLockAcquire(hdb_audit_queue_lock(qi), LW_EXCLUSIVE);
	hdb_audit_queue_get(qi)->retired = false;
	LWLockRelease(hdb_audit_queue_lock(qi));
}
