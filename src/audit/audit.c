/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Set-up of heliosdb's audit module: its GUCs, its shared memory, and
 *	  the SQL functions that report on the queue (audit_stats) and wait
 *	  for it (audit_flush).
 *
 * The settings are read in two places: capture settings (enabled, events,
 * query text, redaction, excluded roles) by the audited backend, sink
 * settings (destination, file, retention) by the database's worker, which
 * rereads them on SIGHUP.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "audit/audit_internal.h"

bool		hdb_audit_enabled = true;
int			hdb_audit_events_mask = 0;
int			hdb_audit_destinations = HDB_AUDIT_DEST_DATABASE;
char	   *hdb_audit_file = NULL;
bool		hdb_audit_log_query_text = true;
bool		hdb_audit_redact = true;
int			hdb_audit_retention_days = 365;
char	   *hdb_audit_exclude_roles = NULL;
int			hdb_audit_queue_size_kb = 1024;
int			hdb_audit_max_databases = 8;
bool		hdb_audit_sync_read_only = false;

static char *audit_events_string = NULL;
static char *audit_destination_string = NULL;

static const char *const event_names[HDB_AUDIT_NUM_EVENT_TYPES] = {
	"authentication",
	"authorization",
	"data_access",
	"data_modification",
	"schema_changes",
	"admin_actions",
	"rls_bypass",
	"quota_exceeded"
};

const char *
hdb_audit_event_name(HdbAuditEventType type)
{
	return event_names[type];
}

const char *
hdb_audit_result_name(HdbAuditResult result)
{
	switch (result)
	{
		case HDB_AUDIT_SUCCESS:
			return "success";
		case HDB_AUDIT_FAILURE:
			return "failure";
		case HDB_AUDIT_DENIED:
			return "denied";
	}
	return "failure";
}

/*
 * Parse a GUC list value into a bit mask: item i of "names" sets bit i,
 * "all" (when allow_all) sets bits 0 .. nnames-1, "none" sets nothing.
 * On an error the GUC check detail names the item; "what" says what the
 * items are.  The mask travels to the assign hook in "extra".
 */
static bool
check_name_list(char **newval, void **extra, const char *const *names,
				int nnames, bool allow_all, const char *what)
{
	char	   *raw = pstrdup(*newval);
	List	   *items;
	ListCell   *lc;
	int			mask = 0;
	int		   *result;
	bool		ok = SplitIdentifierString(raw, ',', &items);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	foreach(lc, items)
	{
		char	   *item = (char *) lfirst(lc);
		int			i;

		if (!ok)
			break;
		if (allow_all && pg_strcasecmp(item, "all") == 0)
		{
			mask |= (1 << nnames) - 1;
			continue;
		}
		if (allow_all && pg_strcasecmp(item, "none") == 0)
			continue;
		for (i = 0; i < nnames; i++)
			if (pg_strcasecmp(item, names[i]) == 0)
				break;
		if (i == nnames)
		{
			GUC_check_errdetail("Unrecognized %s: \"%s\".", what, item);
			ok = false;
		}
		else
			mask |= 1 << i;
	}
	pfree(raw);
	list_free(items);
	if (!ok)
		return false;

	result = (int *) malloc(sizeof(int));
	if (result == NULL)
		return false;
	*result = mask;
	*extra = result;
	return true;
}

/* Check hook of heliosdb.audit_events: event type names, "all" or "none". */
static bool
check_audit_events(char **newval, void **extra, GucSource source)
{
	return check_name_list(newval, extra, event_names,
						   HDB_AUDIT_NUM_EVENT_TYPES, true, "audit event type");
}

static void
assign_audit_events(const char *newval, void *extra)
{
	hdb_audit_events_mask = *(int *) extra;
}

/*
 * Check hook of heliosdb.audit_destination: database, file and/or log,
 * which are bits 0, 1 and 2 (HDB_AUDIT_DEST_*).
 */
static bool
check_audit_destination(char **newval, void **extra, GucSource source)
{
	static const char *const destinations[] = {"database", "file", "log"};

	StaticAssertStmt(HDB_AUDIT_DEST_DATABASE == 1 << 0 &&
					 HDB_AUDIT_DEST_FILE == 1 << 1 &&
					 HDB_AUDIT_DEST_LOG == 1 << 2,
					 "audit destination bits out of order");
	return check_name_list(newval, extra, destinations,
						   lengthof(destinations), false, "audit destination");
}

static void
assign_audit_destination(const char *newval, void *extra)
{
	hdb_audit_destinations = *(int *) extra;
}

/* Check hook of heliosdb.audit_exclude_roles: a list of role names. */
static bool
check_exclude_roles(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *items;
	bool		ok = SplitIdentifierString(raw, ',', &items);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	pfree(raw);
	list_free(items);
	return ok;
}

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_audit_init(void)
{
	DefineCustomBoolVariable("heliosdb.audit_enabled",
							 "Enables audit capture.",
							 NULL,
							 &hdb_audit_enabled,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.audit_events",
							   "Event types to audit.",
							   "A list of authentication, authorization, data_access, data_modification, schema_changes, admin_actions, rls_bypass, quota_exceeded, or \"all\".",
							   &audit_events_string,
							   "authentication, authorization, data_modification, schema_changes, admin_actions, rls_bypass, quota_exceeded",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_audit_events, assign_audit_events, NULL);
	DefineCustomStringVariable("heliosdb.audit_destination",
							   "Sinks that audit records are written to.",
							   "A list of database, file and log.",
							   &audit_destination_string,
							   "database",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   check_audit_destination, assign_audit_destination,
							   NULL);
	DefineCustomStringVariable("heliosdb.audit_file",
							   "File the file sink appends JSON lines to.",
							   "A relative path is relative to the data directory.",
							   &hdb_audit_file,
							   "heliosdb_audit.json",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("heliosdb.audit_log_query_text",
							 "Includes the statement text in audit records.",
							 NULL,
							 &hdb_audit_log_query_text,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("heliosdb.audit_redact",
							 "Replaces literals and bind parameters in audit records by placeholders.",
							 "Passwords, API keys and tokens are never written, whatever this setting.",
							 &hdb_audit_redact,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.audit_retention_days",
							"Days after which the worker deletes audit records.",
							"0 keeps records forever.",
							&hdb_audit_retention_days,
							365, 0, 36500,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.audit_exclude_roles",
							   "Roles whose statements are not audited.",
							   NULL,
							   &hdb_audit_exclude_roles,
							   "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_exclude_roles, NULL, NULL);
	DefineCustomIntVariable("heliosdb.audit_queue_size",
							"Size of the audit queue of each database.",
							NULL,
							&hdb_audit_queue_size_kb,
							1024, 64, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.audit_max_databases",
							"Number of databases that can have an audit queue.",
							NULL,
							&hdb_audit_max_databases,
							8, 1, 256,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("heliosdb.audit_sync_read_only",
							 "Flushes WAL at the commit of read-only transactions that were audited.",
							 "Their records then also survive an operating system crash, at the cost of a disk flush per transaction; "
							 "otherwise they survive crashes of PostgreSQL only.",
							 &hdb_audit_sync_read_only,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	hdb_audit_queue_init();
	hdb_audit_capture_init();
	hdb_audit_login_init();
	hdb_audit_register_launcher();
}

static HdbAuditQueue *
current_queue(int *qi)
{
	if (hdb_audit_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not initialized"),
				 errhint("Add heliosdb to shared_preload_libraries and restart the server.")));
	*qi = hdb_audit_queue_for_db(MyDatabaseId, true);
	if (*qi < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many databases with an audit queue"),
				 errhint("Raise heliosdb.audit_max_databases.")));
	return hdb_audit_queue_get(*qi);
}

/*
 * audit_stats(): counters of the current database's queue.  "dropped" is
 * there to be checked: a full queue makes backends wait, never drop.
 */
PG_FUNCTION_INFO_V1(hdb_audit_stats);
Datum
hdb_audit_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	HdbAuditQueue *q;
	int			qi;
	LWLock	   *lock;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	q = current_queue(&qi);
	lock = hdb_audit_queue_lock(qi);

	LWLockAcquire(lock, LW_SHARED);
	values[0] = Int64GetDatum((int64) (q->enqueued - q->written));
	values[1] = Int64GetDatum((int64) q->enqueued);
	values[2] = Int64GetDatum((int64) q->written);
	values[3] = Int64GetDatum((int64) q->dropped);
	values[4] = Int64GetDatum((int64) q->replayed);
	values[5] = Int64GetDatum((int64) q->waits);
	values[6] = Int32GetDatum(q->worker_pid);
	nulls[6] = (q->worker_pid == 0);
	LWLockRelease(lock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * audit_flush(timeout_ms): wait until every record queued in this database
 * before the call is written by the worker (and the worker has recovered
 * what WAL held at its start).  Returns false when the timeout expires
 * first.
 */
PG_FUNCTION_INFO_V1(hdb_audit_flush);
Datum
hdb_audit_flush(PG_FUNCTION_ARGS)
{
	int			timeout_ms = PG_GETARG_INT32(0);
	HdbAuditQueue *q;
	int			qi;
	LWLock	   *lock;
	uint64		target;
	TimestampTz deadline;
	bool		done = false;

	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	q = current_queue(&qi);
	lock = hdb_audit_queue_lock(qi);

	LWLockAcquire(lock, LW_SHARED);
	target = q->enqueued;
	LWLockRelease(lock);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	for (;;)
	{
		long		left;

		LWLockAcquire(lock, LW_SHARED);
		done = (q->worker_state == HDB_AUDIT_WORKER_READY &&
				q->written >= target);
		LWLockRelease(lock);
		if (done)
			break;

		hdb_audit_ensure_worker(qi);
		hdb_audit_wake_worker(qi);
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
			break;
		ConditionVariableTimedSleep(&q->written_cv, Min(left, 200),
									PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	PG_RETURN_BOOL(done);
}
