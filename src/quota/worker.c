/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The quota background worker: refreshes the storage usage of the
 *	  tenants of heliosdb.quota_database every
 *	  heliosdb.quota_refresh_interval.
 *
 * One worker serves one database (a background worker connects to a single
 * database for its whole life).  When the extension is not installed there
 * it just waits.  Other databases are refreshed by heliosdb.quota_refresh()
 * (for instance from a scheduler).  An error ends the worker; the
 * postmaster starts it again after ten seconds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "audit/hdb_audit.h"
#include "quota/quota_internal.h"

PGDLLEXPORT void hdb_quota_worker_main(Datum main_arg);

void
hdb_quota_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "heliosdb", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "hdb_quota_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "heliosdb quota worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "heliosdb quota worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * One refresh, in its own transaction.
 */
static void
refresh_once(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "refreshing tenant storage usage");

	if (OidIsValid(get_extension_oid("heliosdb", true)))
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) hdb_usage_refresh();
		SPI_finish();
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
hdb_quota_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(hdb_quota_database, NULL, 0);
	pgstat_report_appname("heliosdb quota worker");
	/* its refreshes are housekeeping, not anyone's data access */
	hdb_audit_ignore_statements();

	loop_cxt = AllocSetContextCreate(TopMemoryContext,
									 "heliosdb quota worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		old = MemoryContextSwitchTo(loop_cxt);
		refresh_once();
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 hdb_quota_refresh_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
