/*-------------------------------------------------------------------------
 *
 * audit_internal.h
 *	  Declarations shared by the files of the audit module only.
 *
 * Flow of a record: a hook in the audited backend (capture.c) builds an
 * HdbAuditRecord, completes it with the session's fields into
 * HdbAuditFields and encodes that once in a compact binary form
 * (format.c), which it hands to the queue (queue.c).  The queue first
 * writes the bytes to WAL as a non-transactional logical message and then
 * copies them, tagged with the message's LSNs, into the ring of the
 * backend's database.  The database's background worker (worker.c) takes
 * records from its ring in order and writes them to the configured sinks:
 * the database sink decodes them straight into rows (chain.c), the file
 * and log sinks get them as JSON.  The database sink stores the LSN of the
 * last record it committed, and on start-up the worker reads WAL from that
 * point, so that every record whose message reached disk is materialized
 * exactly once; records of read-only transactions whose messages did not
 * reach disk before a crash it takes from the ring the crash left behind.
 *
 * Versions up to the binary form queued JSON text (format.c still writes
 * the same JSON for the file and log sinks): a queued record starting with
 * '{' is such JSON, one starting with HDB_AUDIT_BINARY_TAG is binary, so
 * that records left in WAL by an older version are still stored.
 *
 * Shared memory (HdbAuditShared, a file mapped by the postmaster, see
 * queue.c): one HdbAuditQueue per database that has captured records
 * since start-up, at most heliosdb.audit_max_databases.
 * Each queue has its own LWLock (tranche "heliosdb_audit", one lock per
 * queue plus one, the last, which guards claiming queues) and protects
 * with it: dboid, head, tail, the counters and worker state.  Only the
 * queue's worker advances tail; backends advance head.  The record bytes
 * between tail and head do not change until tail passes them, so the
 * worker reads them without the lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_INTERNAL_H
#define AUDIT_INTERNAL_H

#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "port/pg_crc32c.h"
#include "storage/condition_variable.h"
#include "storage/lockdefs.h"
#include "storage/lwlock.h"

#include "audit/hdb_audit.h"

/* Prefix of the logical WAL messages carrying records. */
#define HDB_AUDIT_WAL_PREFIX "heliosdb.audit"

/*
 * How long the writer lets records gather before it stores them, unless
 * the ring fills up or heliosdb.audit_flush() asks; they are durable in
 * WAL meanwhile.
 */
#define HDB_AUDIT_STORE_DELAY_MS	200L

/* GUCs (audit.c) */
extern bool hdb_audit_enabled;
extern int	hdb_audit_events_mask;
extern int	hdb_audit_destinations;
extern char *hdb_audit_file;
extern bool hdb_audit_log_query_text;
extern bool hdb_audit_redact;
extern int	hdb_audit_retention_days;
extern char *hdb_audit_exclude_roles;
extern int	hdb_audit_queue_size_kb;
extern int	hdb_audit_max_databases;
extern bool hdb_audit_sync_read_only;

/* Destinations (bits of hdb_audit_destinations) */
#define HDB_AUDIT_DEST_DATABASE	0x01
#define HDB_AUDIT_DEST_FILE		0x02
#define HDB_AUDIT_DEST_LOG		0x04

/* Worker states of a queue */
typedef enum HdbAuditWorkerState
{
	HDB_AUDIT_WORKER_NONE = 0,	/* not running, may be launched */
	HDB_AUDIT_WORKER_STARTING,	/* launched, replaying WAL */
	HDB_AUDIT_WORKER_READY		/* consuming the ring */
} HdbAuditWorkerState;

typedef struct HdbAuditQueue
{
	Oid			dboid;			/* InvalidOid: free */
	HdbAuditWorkerState worker_state;
	bool		retired;		/* extension dropped; backends stop capturing */
	int			worker_pid;
	int			worker_procno;	/* its PGPROC, for its latch */
	TimestampTz launched_at;	/* last launch attempt */
	uint64		head;			/* byte position of the next record */
	uint64		tail;			/* byte position of the oldest record */
	uint64		enqueued;		/* records enqueued since start-up */
	uint64		written;		/* records taken off the ring and stored */
	uint64		replayed;		/* records recovered from WAL */
	uint64		dropped;		/* records lost; stays 0 by design */
	uint64		waits;			/* enqueues that waited for space */
	ConditionVariable space_cv; /* broadcast when tail advances */
	ConditionVariable written_cv;	/* broadcast when written grows */
	/* the ring (HdbAuditShared.ring_size bytes) follows, see queue.c */
} HdbAuditQueue;

/*
 * The start of the queue file (queue.c), which the queues follow.  A file
 * left by an earlier run describes itself with these fields.
 */
typedef struct HdbAuditShared
{
	uint32		magic;
	uint32		version;
	int			num_queues;
	Size		ring_size;
	char		file[64];		/* its path, relative to the data directory */
	/* num_queues queues follow, each padded to queue_stride() */
} HdbAuditShared;

/* A record in a ring: header, then len bytes of the encoded record. */
typedef struct HdbAuditRingEntry
{
	uint32		len;			/* bytes of the record that follow */
	pg_crc32c	crc;			/* of this header (crc 0) and the record */
	XLogRecPtr	start;			/* start of its WAL message */
	XLogRecPtr	lsn;			/* end of its WAL message */
} HdbAuditRingEntry;

/* A record read back from the queue file of an earlier run. */
typedef struct HdbAuditOldRecord
{
	XLogRecPtr	start;			/* start of its WAL message */
	int			len;
	char	   *data;
	const char *file;			/* where it was: the file's name, */
	int			queue;			/* the queue's index there */
	uint64		end;			/* and the ring position after it */
} HdbAuditOldRecord;

/* queue.c */
extern HdbAuditShared *hdb_audit_shared;
extern void hdb_audit_queue_init(void);
extern HdbAuditQueue *hdb_audit_queue_get(int i);
extern LWLock *hdb_audit_queue_lock(int i);
extern void hdb_audit_wake_worker(int qi);

/* chain.c */
#define HDB_AUDIT_HASH_LEN 32	/* SHA-256 */
extern int64 hdb_audit_chain_last_seq;
extern uint8 hdb_audit_chain_last_hash[HDB_AUDIT_HASH_LEN];
extern int	hdb_audit_queue_for_db(Oid dboid, bool claim);
extern void hdb_audit_enqueue(const char *data, int len);
extern void hdb_audit_ensure_worker(int qi);
extern void hdb_audit_release_database(Oid dboid);
extern void hdb_audit_register_launcher(void);
extern bool hdb_audit_my_queue_retired(void);
extern void hdb_audit_unretire(Oid dboid);
extern void hdb_audit_lock_extension_lifecycle(LOCKMODE mode);
extern void hdb_audit_ring_read(HdbAuditQueue *q, uint64 pos, char *dst,
								Size len);
extern HdbAuditOldRecord *hdb_audit_old_records(Oid dboid, XLogRecPtr after,
												int *count);
extern void hdb_audit_old_stored(Oid dboid, const HdbAuditOldRecord *recs,
								 int n);
extern void hdb_audit_forget_old_queues(Oid dboid);

/* How to build and hash rows of the audit_log row type (chain.c). */
typedef struct HdbAuditRowInfo HdbAuditRowInfo;
extern HdbAuditRowInfo *hdb_audit_row_info(TupleDesc tupdesc,
										   MemoryContext cxt);
extern void hdb_audit_build_row(HdbAuditRowInfo *ri, const char *data,
								int len, int64 seq, const uint8 *prev,
								TimestampTz now, Datum *values, bool *nulls,
								uint8 hash[HDB_AUDIT_HASH_LEN]);

/* store.c */
extern bool hdb_audit_store_rows(char **recs, int *lens, int n,
								 int64 last_seq, const uint8 *last_hash);

extern XLogRecPtr hdb_audit_last_lsn;

/*
 * A record with every field final, as stored: the captured record plus the
 * session's fields, secrets scrubbed.  NULL pointers and negative numbers
 * are NULLs; nparams 0 (no parameters) and npolicies 0 are NULLs too.
 */
typedef struct HdbAuditFields
{
	TimestampTz ts;
	HdbAuditEventType event_type;
	HdbAuditResult result;
	const char *user_id;
	const char *tenant_id;
	const char *role;
	const char *ip_address;
	const char *action;
	const char *resource;
	const char *query;
	int			nparams;
	bool		params_redacted;	/* each shown as [REDACTED] */
	const char **params;		/* unless redacted; NULL elements: null */
	const char *error_code;
	const char *error_message;
	int64		rows_affected;
	int64		duration_us;
	int			npolicies;
	const char **policies;
	uint64		request_no;
	const char *session_id;		/* request_id is session_id.request_no */
	const char *database;
} HdbAuditFields;

/* First byte of a binary record (JSON records start with '{'). */
#define HDB_AUDIT_BINARY_TAG	0x01

/* format.c */
extern void hdb_audit_fields(const HdbAuditRecord *rec, HdbAuditFields *f);
extern char *hdb_audit_encode(const HdbAuditFields *f, int *len);
extern void hdb_audit_decode(const char *data, int len, HdbAuditFields *f);
extern char *hdb_audit_json(const HdbAuditFields *f, int *len);
extern char *hdb_audit_format(const HdbAuditRecord *rec, int *len);
extern char *hdb_audit_record_json(const char *data, int len, int *jsonlen);
extern void hdb_audit_append_params(StringInfo buf, const HdbAuditFields *f);
extern void hdb_audit_append_duration(StringInfo buf, int64 us);
extern void hdb_audit_append_timestamp(StringInfo buf, TimestampTz ts);
extern char *hdb_audit_scrub_secrets(const char *s);
extern bool hdb_audit_has_secret(const char *s);

/* redact.c */
extern char *hdb_audit_redact_query(const char *query, int len, bool all);

/* capture.c */
extern void hdb_audit_capture_init(void);
extern bool hdb_audit_in_worker;
extern bool hdb_audit_event_enabled(HdbAuditEventType type);
extern void hdb_audit_event_ext(HdbAuditEventType type, const char *action,
								HdbAuditResult result, const char *resource,
								const char *error_code, const char *detail,
								bool with_query);

/* login.c */
extern void hdb_audit_login_init(void);
extern void hdb_audit_login_emit(void);

/* worker.c */
extern void hdb_audit_worker_main(Datum arg);
extern void hdb_audit_launcher_main(Datum arg);

#endif							/* AUDIT_INTERNAL_H */
