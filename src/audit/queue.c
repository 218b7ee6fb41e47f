/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The durable audit queue: one ring of records per database, in a file
 *	  mapped into shared memory and backed by logical WAL messages, and the
 *	  launching of each database's worker.
 *
 * Enqueueing a record, under the queue's lock: wait (lock released) until
 * the ring has room, write the record to WAL with LogLogicalMessage() (not
 * transactional, so it outlives an abort), then copy it into the ring with
 * the message's start and end LSN and a CRC.  Doing both under one lock
 * keeps ring order and WAL order the same, which the worker relies on to
 * skip, after a restart, records it already recovered from WAL.
 *
 * Why a file: a record must outlive its session once the statement's
 * commit is reported.  A transaction with an xid flushes the message with
 * its commit record.  A read-only transaction writes no commit record, and
 * flushing WAL for it costs a disk flush per audited SELECT.  Instead the
 * rings live in a file of the data directory mapped with MAP_SHARED
 * (heliosdb_audit/queues.<start time>, created by the postmaster each time
 * it sets up shared memory, so a new one after a crash): what a backend
 * copies there is in the kernel's page cache at once and survives the
 * backend's crash and an immediate shutdown, though not an operating
 * system crash (heliosdb.audit_sync_read_only flushes WAL instead).  The
 * writer of a database reads the rings that earlier runs left in their
 * files (hdb_audit_old_records) and stores the records whose WAL messages
 * did not reach disk, moving those rings' tails past what it stored
 * (hdb_audit_old_stored); then it forgets its queues there, and the last
 * writer to do so removes the file.  The postmaster removes the files that
 * hold no record when it creates its own.
 *
 * The ring is a byte array used circularly; positions (head, tail) grow
 * forever and are taken modulo the ring size.  See audit_internal.h for
 * the locking rules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "postmaster/bgworker.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "audit/audit_internal.h"
#include "common/hdb_common.h"

/* The tag of hdb_audit_lock_extension_lifecycle's lock ("hdb" and 'L'). */
#define HDB_LIFECYCLE_LOCK_KEY		0x686462
#define HDB_LIFECYCLE_LOCK_CLASS	0x4c

#define AUDIT_SHMEM_NAME "heliosdb_audit"

/* The queue files, in the data directory. */
#define AUDIT_QUEUE_DIR		"heliosdb_audit"
#define AUDIT_QUEUE_PREFIX	"queues."
#define AUDIT_FILE_MAGIC	0x48444151	/* "HDAQ" */
#define AUDIT_FILE_VERSION	1

HdbAuditShared *hdb_audit_shared = NULL;

/* Bytes mapped at hdb_audit_shared. */
static Size mapped_size = 0;

/* This backend's queue index, -1 until claimed. */
static int	my_queue = -1;

/* End of the last WAL message this backend wrote (capture.c flushes it). */
XLogRecPtr	hdb_audit_last_lsn = InvalidXLogRecPtr;

static Size
queue_stride(Size ring_size)
{
	return MAXALIGN(sizeof(HdbAuditQueue)) + MAXALIGN(ring_size);
}

static Size
queues_size(int num_queues, Size ring_size)
{
	return add_size(MAXALIGN(sizeof(HdbAuditShared)),
					mul_size(num_queues, queue_stride(ring_size)));
}

static HdbAuditQueue *
queue_at(HdbAuditShared *shared, int i)
{
	return (HdbAuditQueue *) ((char *) shared +
							  MAXALIGN(sizeof(HdbAuditShared)) +
							  i * queue_stride(shared->ring_size));
}

static char *
queue_ring(HdbAuditQueue *q)
{
	return (char *) q + MAXALIGN(sizeof(HdbAuditQueue));
}

/*
 * The region registered in the main shared memory is a placeholder: what
 * matters is its attach callback, which the postmaster runs whenever it
 * sets shared memory up, and which creates a new queue file and maps it.
 * Children inherit the mapping.
 */
static Size
audit_shmem_size(void)
{
	return sizeof(int);
}

static void
audit_shmem_attach(void *ptr, bool found)
{
	Size		ring_size = (Size) hdb_audit_queue_size_kb * 1024;
	Size		size = queues_size(hdb_audit_max_databases, ring_size);
	char		path[MAXPGPATH];
	int			fd = -1;
	void	   *map;

	if (found)
		return;
	/* After a crash the postmaster sets up everything again. */
	if (hdb_audit_shared != NULL)
		munmap(hdb_audit_shared, mapped_size);
	hdb_audit_shared = NULL;

	path[0] = '\0';
	if (IsPostmasterEnvironment)
	{
		uint64		stamp = (uint64) GetCurrentTimestamp();

		if (MakePGDirectory(AUDIT_QUEUE_DIR) < 0 && errno != EEXIST)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m",
							AUDIT_QUEUE_DIR)));
		/* Files of earlier runs that hold no record are of no more use. */
		hdb_audit_forget_old_queues(InvalidOid);
		for (;;)
		{
			snprintf(path, sizeof(path), "%s/%s%016" INT64_MODIFIER "X",
					 AUDIT_QUEUE_DIR, AUDIT_QUEUE_PREFIX, stamp);
			fd = OpenTransientFile(path, O_RDWR | O_CREAT | O_EXCL | PG_BINARY);
			if (fd >= 0 || errno != EEXIST)
				break;
			stamp++;
		}
		if (fd < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not create audit queue file \"%s\": %m",
							path)));
		/* Allocate blocks now: a full disk is an error here, not a SIGBUS. */
		errno = posix_fallocate(fd, 0, size);
		if (errno != 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not allocate %zu bytes for audit queue file \"%s\": %m",
							size, path)));
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	else
	{
		/* Single-user mode queues nothing (hdb_audit_enqueue). */
		map = mmap(NULL, size, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	if (map == MAP_FAILED)
		ereport(FATAL,
				(errmsg("could not map the audit queues: %m")));
	if (fd >= 0)
		CloseTransientFile(fd);

	mapped_size = size;
	hdb_audit_shared = (HdbAuditShared *) map;
	memset(hdb_audit_shared, 0, sizeof(HdbAuditShared));
	hdb_audit_shared->magic = AUDIT_FILE_MAGIC;
	hdb_audit_shared->version = AUDIT_FILE_VERSION;
	hdb_audit_shared->num_queues = hdb_audit_max_databases;
	hdb_audit_shared->ring_size = ring_size;
	strlcpy(hdb_audit_shared->file, path, sizeof(hdb_audit_shared->file));
	for (int i = 0; i < hdb_audit_max_databases; i++)
	{
		HdbAuditQueue *q = queue_at(hdb_audit_shared, i);

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
	return queue_at(hdb_audit_shared, i);
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

/* Copy len bytes into a ring of "size" bytes at position pos, wrapping around. */
static void
ring_write(char *ring, Size size, uint64 pos, const char *src, Size len)
{
	Size		off = pos % size;
	Size		first = Min(len, size - off);

	memcpy(ring + off, src, first);
	if (first < len)
		memcpy(ring, src + first, len - first);
}

/* Copy len bytes out of a ring of "size" bytes from position pos. */
static void
ring_read(const char *ring, Size size, uint64 pos, char *dst, Size len)
{
	Size		off = pos % size;
	Size		first = Min(len, size - off);

	memcpy(dst, ring + off, first);
	if (first < len)
		memcpy(dst + first, ring, len - first);
}

void
hdb_audit_ring_read(HdbAuditQueue *q, uint64 pos, char *dst, Size len)
{
	ring_read(queue_ring(q), hdb_audit_shared->ring_size, pos, dst, len);
}

/* The CRC of a ring entry: its header (crc field zero) and its record. */
static pg_crc32c
entry_crc(const HdbAuditRingEntry *e, const char *data)
{
	HdbAuditRingEntry h = *e;
	pg_crc32c	crc;

	h.crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &h, sizeof(h));
	COMP_CRC32C(crc, data, e->len);
	FIN_CRC32C(crc);
	return crc;
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
	char	   *ring;
	XLogRecPtr	xact_end;

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

	/*
	 * WAL first, so the ring never holds a record WAL lacks.  The message
	 * is the queue's business, not the transaction's: XactLastRecEnd stays
	 * as it was, or a read-only transaction would wake the WAL writer at
	 * its commit to write the message out, which the ring makes needless.
	 */
	entry.len = len;
	xact_end = XactLastRecEnd;
	entry.lsn = LogLogicalMessage(HDB_AUDIT_WAL_PREFIX, data, len, false);
	entry.start = ProcLastRecPtr;
	XactLastRecEnd = xact_end;
	entry.crc = entry_crc(&entry, data);
	ring = queue_ring(q);
	ring_write(ring, hdb_audit_shared->ring_size, q->head,
			   (const char *) &entry, sizeof(entry));
	ring_write(ring, hdb_audit_shared->ring_size, q->head + sizeof(entry),
			   data, len);
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
	hdb_audit_forget_old_queues(dboid);
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

/*
 * The lock that CREATE and DROP EXTENSION heliosdb hold until their
 * transaction ends (ExclusiveLock), and that a writer waits for (ShareLock)
 * before it concludes, from a snapshot without the extension, that the
 * extension was dropped: a writer launched by a record of the transaction
 * that creates the extension does not see the extension yet.  It is an
 * advisory lock of the database, with a fourth tag field that the SQL
 * advisory lock functions never use (they use 1 and 2).
 */
void
hdb_audit_lock_extension_lifecycle(LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, HDB_LIFECYCLE_LOCK_KEY, 0,
						 HDB_LIFECYCLE_LOCK_CLASS);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * Map the queue file of an earlier run, "name" in AUDIT_QUEUE_DIR, if it
 * is one and describes itself sanely; NULL otherwise.  *size is set to the
 * bytes mapped and *fd to the open file, which the caller closes.
 */
static HdbAuditShared *
map_old_file(const char *name, bool writable, Size *size, int *fd)
{
	char		path[MAXPGPATH];
	struct stat st;
	HdbAuditShared *old;

	if (strncmp(name, AUDIT_QUEUE_PREFIX, strlen(AUDIT_QUEUE_PREFIX)) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", AUDIT_QUEUE_DIR, name);
	if (hdb_audit_shared != NULL && strcmp(path, hdb_audit_shared->file) == 0)
		return NULL;
	*fd = OpenTransientFile(path, (writable ? O_RDWR : O_RDONLY) | PG_BINARY);
	if (*fd < 0)
	{
		if (errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not open audit queue file \"%s\": %m", path)));
		return NULL;
	}
	if (fstat(*fd, &st) == 0 && st.st_size >= sizeof(HdbAuditShared))
	{
		old = mmap(NULL, st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
				   MAP_SHARED, *fd, 0);
		if (old != MAP_FAILED)
		{
			if (old->magic == AUDIT_FILE_MAGIC &&
				old->version == AUDIT_FILE_VERSION &&
				old->num_queues > 0 && old->num_queues <= 256 &&
				old->ring_size >= 64 * 1024 &&
				old->ring_size <= (Size) 1024 * 1024 * 1024 &&
				queues_size(old->num_queues, old->ring_size) <= st.st_size)
			{
				*size = st.st_size;
				return old;
			}
			munmap(old, st.st_size);
		}
	}
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ignoring audit queue file \"%s\": not a valid queue file",
					path)));
	CloseTransientFile(*fd);
	return NULL;
}

/* qsort comparator: old records in order of their WAL messages' starts. */
static int
old_record_cmp(const void *a, const void *b)
{
	const HdbAuditOldRecord *x = a;
	const HdbAuditOldRecord *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/*
 * The records of database dboid left in the rings of earlier runs whose
 * WAL messages end after "after" (the LSN of the last record stored), in
 * the order of their messages' starts.  A ring is read from its tail
 * while its entries have plausible lengths and correct CRCs: after an
 * operating system crash its file may hold pages that never reached disk,
 * whose records then are lost as the guarantee allows.  Allocated in the
 * current memory context.
 */
HdbAuditOldRecord *
hdb_audit_old_records(Oid dboid, XLogRecPtr after, int *count)
{
	DIR		   *dir;
	struct dirent *de;
	int			n = 0;
	int			cap = 64;
	HdbAuditOldRecord *recs = palloc(cap * sizeof(HdbAuditOldRecord));

	dir = AllocateDir(AUDIT_QUEUE_DIR);
	while ((de = ReadDir(dir, AUDIT_QUEUE_DIR)) != NULL)
	{
		Size		size;
		int			fd;
		HdbAuditShared *old = map_old_file(de->d_name, false, &size, &fd);
		char	   *file;

		if (old == NULL)
			continue;
		file = pstrdup(de->d_name);
		for (int i = 0; i < old->num_queues; i++)
		{
			HdbAuditQueue *q = queue_at(old, i);
			char	   *ring = queue_ring(q);
			uint64		pos = q->tail;

			if (q->dboid != dboid || q->head < q->tail ||
				q->head - q->tail > old->ring_size)
				continue;
			while (pos < q->head)
			{
				HdbAuditRingEntry e;
				char	   *data;
				Size		need;

				ring_read(ring, old->ring_size, pos, (char *) &e, sizeof(e));
				need = MAXALIGN(sizeof(e) + (Size) e.len);
				if (e.len == 0 || need > old->ring_size / 2 ||
					need > q->head - pos)
					break;
				data = palloc(e.len);
				ring_read(ring, old->ring_size, pos + sizeof(e), data, e.len);
				if (entry_crc(&e, data) != e.crc)
				{
					pfree(data);
					break;
				}
				pos += need;
				if (e.lsn <= after)
				{
					pfree(data);
					continue;
				}
				if (n == cap)
				{
					cap *= 2;
					recs = repalloc(recs, cap * sizeof(HdbAuditOldRecord));
				}
				recs[n].start = e.start;
				recs[n].len = e.len;
				recs[n].data = data;
				recs[n].file = file;
				recs[n].queue = i;
				recs[n].end = pos;
				n++;
			}
			if (pos < q->head)
				ereport(WARNING,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("audit queue file \"%s/%s\" is damaged at position " UINT64_FORMAT,
								AUDIT_QUEUE_DIR, de->d_name, pos),
						 errdetail("Records of read-only transactions queued before the server's last crash may be lost.")));
		}
		munmap(old, size);
		CloseTransientFile(fd);
	}
	FreeDir(dir);

	qsort(recs, n, sizeof(HdbAuditOldRecord), old_record_cmp);
	*count = n;
	return recs;
}

/*
 * Records recs[0..n) of database dboid, taken from the rings of earlier
 * runs, are stored (durably) or found in WAL: move their queues' tails
 * past them, so that a writer that fails before it forgets those queues
 * does not store them a second time.
 */
void
hdb_audit_old_stored(Oid dboid, const HdbAuditOldRecord *recs, int n)
{
	int			i = 0;

	while (i < n)
	{
		const char *file = recs[i].file;
		Size		size;
		int			fd;
		HdbAuditShared *old = map_old_file(file, true, &size, &fd);

		for (; i < n && recs[i].file == file; i++)
		{
			HdbAuditQueue *q;

			if (old == NULL || recs[i].queue >= old->num_queues)
				continue;
			q = queue_at(old, recs[i].queue);
			if (q->dboid == dboid && recs[i].end > q->tail &&
				recs[i].end <= q->head)
				q->tail = recs[i].end;
		}
		if (old != NULL)
		{
			munmap(old, size);
			CloseTransientFile(fd);
		}
	}
}

/*
 * Forget the queues of database dboid in the files of earlier runs, once
 * their records are stored (or the database or the extension is gone), and
 * remove the files that keep no queue of any database.  The file lock
 * keeps two writers from each leaving the file to the other.  The
 * postmaster calls this with InvalidOid, to remove files only.
 */
void
hdb_audit_forget_old_queues(Oid dboid)
{
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir(AUDIT_QUEUE_DIR);
	while ((de = ReadDir(dir, AUDIT_QUEUE_DIR)) != NULL)
	{
		Size		size;
		int			fd;
		bool		in_use = false;
		HdbAuditShared *old = map_old_file(de->d_name, true, &size, &fd);

		if (old == NULL)
			continue;
		if (flock(fd, LOCK_EX) != 0)
		{
			int			save_errno = errno;

			munmap(old, size);
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not lock audit queue file \"%s/%s\": %m",
							AUDIT_QUEUE_DIR, de->d_name)));
		}
		for (int i = 0; i < old->num_queues; i++)
		{
			HdbAuditQueue *q = queue_at(old, i);

			if (q->dboid == dboid)
				q->dboid = InvalidOid;
			if (q->dboid != InvalidOid && q->head != q->tail)
				in_use = true;
		}
		munmap(old, size);
		if (!in_use)
		{
			char		path[MAXPGPATH];

			snprintf(path, sizeof(path), "%s/%s", AUDIT_QUEUE_DIR,
					 de->d_name);
			if (unlink(path) != 0 && errno != ENOENT)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not remove audit queue file \"%s\": %m",
								path)));
		}
		CloseTransientFile(fd);
	}
	FreeDir(dir);
}
