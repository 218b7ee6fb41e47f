/*-------------------------------------------------------------------------
 *
 * isolation.c
 *	  Tenant isolation in the backend: the heliosdb.auto_tenant_isolation
 *	  setting read by the extension's event trigger, and the count of
 *	  statements refused for writing outside the session's tenant.
 *
 * The isolation itself is row level security: enable_tenant_isolation()
 * (SQL, in the install script) creates policies that compare the tenant
 * column with current_tenant_id().  A row written for another tenant fails
 * the policy's WITH CHECK with insufficient_privilege; the executor hook
 * below counts such refusals.  An error passes through the hook once per
 * nested executor; it is counted at the innermost one, and the mark that
 * says so is cleared when the error is caught by a (sub)transaction abort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "tenant/tenant_internal.h"

static bool auto_tenant_isolation = true;

static ExecutorRun_hook_type prev_ExecutorRun = NULL;

/* The error being propagated has been counted already. */
static bool denial_counted = false;

static void hdb_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							uint64 count, bool execute_once);
static void isolation_xact_callback(XactEvent event, void *arg);
static void isolation_subxact_callback(SubXactEvent event,
									   SubTransactionId mySubid,
									   SubTransactionId parentSubid,
									   void *arg);

void
hdb_isolation_init(void)
{
	DefineCustomBoolVariable("heliosdb.auto_tenant_isolation",
							 "Enables tenant isolation on new tables that have a uuid column \"tenant_id\".",
							 NULL,
							 &auto_tenant_isolation,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = hdb_ExecutorRun;
	RegisterXactCallback(isolation_xact_callback, NULL);
	RegisterSubXactCallback(isolation_subxact_callback, NULL);
}

static void
isolation_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT)
		denial_counted = false;
}

static void
isolation_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		denial_counted = false;
}

static bool
statement_writes(QueryDesc *queryDesc)
{
	return queryDesc->operation != CMD_SELECT ||
		queryDesc->plannedstmt->hasModifyingCTE;
}

static void
hdb_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				uint64 count, bool execute_once)
{
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_CATCH();
	{
		if (!denial_counted &&
			hdb_tenant_shared != NULL &&
			geterrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE &&
			hdb_context_get_unchecked()->has_tenant &&
			statement_writes(queryDesc))
		{
			pg_atomic_fetch_add_u64(&hdb_tenant_shared->cross_tenant_denied, 1);
			denial_counted = true;
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * isolation_stats(): cluster-wide counters of the tenant module.
 */
PG_FUNCTION_INFO_V1(hdb_isolation_stats);
Datum
hdb_isolation_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {0};

	if (hdb_tenant_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not initialized"),
				 errhint("Add heliosdb to shared_preload_libraries and restart the server.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = Int64GetDatum((int64)
							  pg_atomic_read_u64(&hdb_tenant_shared->cross_tenant_denied));
	values[1] = Int64GetDatum((int64)
							  pg_atomic_read_u64(&hdb_tenant_shared->registry_generation));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
