/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Statement rate limits: every top-level statement of a client backend
 *	  takes one token from each bucket that applies to it, or is refused
 *	  with configuration_limit_exceeded (53400).
 *
 * Buckets, most specific first: the session's tenant (its qps_limit, or
 * heliosdb.default_qps_limit), the API key it logged in with
 * (heliosdb.rate_limit_per_apikey), its client address
 * (heliosdb.rate_limit_per_ip) and the whole server
 * (heliosdb.rate_limit_global).  A statement refused by one bucket keeps
 * the tokens it took from the buckets checked before it.  Each refusal of
 * a session with a client address counts as a violation of that address
 * (see ban.c).
 *
 * "Top-level" is tracked with a nesting counter, as pg_stat_statements
 * does: the planner, ExecutorRun, ExecutorFinish and ProcessUtility raise
 * it, and statements are counted in ExecutorStart and ProcessUtility only
 * at level 0.  Functions, DO blocks, EXPLAIN ANALYZE and CREATE TABLE AS
 * thus count once.  Transaction control statements are never counted, so
 * that a session can always end its transaction.
 *
 * Superusers and members of heliosdb.rate_limit_exempt_roles are exempt,
 * as are background workers and parallel workers.
 *
 * The same executor and utility hooks also run the storage quota checks
 * of storage.c, at every nesting level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <math.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/planner.h"
#include "portability/instr_time.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "quota/quota_internal.h"

static planner_hook_type prev_planner = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Depth of planner/executor/utility calls; 0 between top-level statements. */
static int	nesting_level = 0;

/* heliosdb.rate_limit_exempt_roles, parsed; rebuilt after each change. */
static List *exempt_role_names = NIL;
static bool exempt_roles_parsed = false;

static PlannedStmt *quota_planner(Query *parse, const char *query_string,
								  int cursorOptions,
								  ParamListInfo boundParams);
static void quota_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void quota_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							  uint64 count, bool execute_once);
static void quota_ExecutorFinish(QueryDesc *queryDesc);
static void quota_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree,
								 ProcessUtilityContext context,
								 ParamListInfo params,
								 QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

void
hdb_ratelimit_init(void)
{
	prev_planner = planner_hook;
	planner_hook = quota_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = quota_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = quota_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = quota_ExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = quota_ProcessUtility;
}

/*
 * GUC check hook of heliosdb.rate_limit_exempt_roles: a list of role names.
 * The roles need not exist (yet); unknown names exempt nobody.
 */
bool
hdb_check_exempt_roles(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	bool		ok = SplitIdentifierString(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(raw);
	return ok;
}

void
hdb_assign_exempt_roles(const char *newval, void *extra)
{
	exempt_roles_parsed = false;
}

/*
 * Is the current user exempt from rate limits?
 */
static bool
user_is_exempt(void)
{
	Oid			userid = GetUserId();
	ListCell   *lc;

	if (superuser_arg(userid))
		return true;

	if (!exempt_roles_parsed)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		char	   *raw = pstrdup(hdb_rate_limit_exempt_roles);

		list_free(exempt_role_names);
		exempt_role_names = NIL;
		/* The check hook accepted it, so it parses. */
		(void) SplitIdentifierString(raw, ',', &exempt_role_names);
		MemoryContextSwitchTo(old);
		exempt_roles_parsed = true;
	}

	foreach(lc, exempt_role_names)
	{
		Oid			role = get_role_oid((const char *) lfirst(lc), true);

		if (OidIsValid(role) && has_privs_of_role(userid, role))
			return true;
	}
	return false;
}

/*
 * Printable form of a key, palloc'd.
 */
char *
hdb_quota_key_display(const QuotaKey *key)
{
	char		buf[INET6_ADDRSTRLEN];

	if (key->kind != QUOTA_KEY_IP)
		return pnstrdup(key->data, key->len);
	if (key->data[0] == 4)
		inet_ntop(AF_INET, key->data + 1, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, key->data + 1, buf, sizeof(buf));
	return pstrdup(buf);
}

/*
 * When to retry, for hints: whole milliseconds under a second, whole
 * seconds (rounded up) above.
 */
char *
hdb_quota_retry_text(double seconds)
{
	if (seconds < 1.0)
		return psprintf("%ld ms", Max((long) ceil(seconds * 1000.0), 1));
	return psprintf("%.0f s", ceil(seconds));
}

/*
 * Refuse the current statement; "key" is NULL for the global limit.
 */
static void
reject(const QuotaKey *key, double rate, QuotaVerdict v,
	   const QuotaKey *ip, TimestampTz now)
{
	char	   *retry = hdb_quota_retry_text(v.retry_after);
	QuotaKeyKind kind = key != NULL ? (QuotaKeyKind) key->kind : 0;
	char	   *name = key != NULL ? hdb_quota_key_display(key) : NULL;

	if (ip != NULL)
		hdb_quota_record_violation(ip, now);

	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 kind == QUOTA_KEY_TENANT ?
			 errmsg("rate limit exceeded for tenant \"%s\"", name) :
			 kind == QUOTA_KEY_APIKEY ?
			 errmsg("rate limit exceeded for API key \"%s\"", name) :
			 kind == QUOTA_KEY_IP ?
			 errmsg("rate limit exceeded for client address \"%s\"", name) :
			 errmsg("server-wide rate limit exceeded"),
			 errhint("The limit is %g statements per second with bursts of up to %d; retry in %s.",
					 rate, hdb_rate_limit_burst, retry)));
}

/*
 * Take the tokens of one top-level statement.
 */
static void
ratelimit_check(void)
{
	const HdbSecurityContext *ctx;
	TimestampTz now;
	QuotaKey	ipkey;
	QuotaKey	key;
	const QuotaKey *ip = NULL;
	QuotaVerdict v;

	if (hdb_quota_shared == NULL || MyBackendType != B_BACKEND ||
		IsParallelWorker() || !IsTransactionState())
		return;
	if (user_is_exempt())
		return;

	now = GetCurrentTimestamp();
	ctx = hdb_context_get_unchecked();
	if (MyProcPort != NULL &&
		hdb_quota_key_from_addr(&ipkey, &MyProcPort->raddr))
		ip = &ipkey;

	if (ctx->has_tenant)
	{
		const HdbTenantLimits *limits = hdb_tenant_limits(ctx->tenant_name);
		double		rate = limits->qps_limit > 0 ?
			(double) limits->qps_limit : hdb_default_qps_limit;

		if (rate > 0)
		{
			hdb_quota_key_text(&key, QUOTA_KEY_TENANT, ctx->tenant_name);
			v = hdb_quota_take(&key, rate, now);
			if (!v.allowed)
				reject(&key, rate, v, ip, now);
		}
	}

	if (ctx->source == HDB_SOURCE_APIKEY && ctx->user_id[0] != '\0' &&
		hdb_rate_limit_per_apikey > 0)
	{
		hdb_quota_key_text(&key, QUOTA_KEY_APIKEY, ctx->user_id);
		v = hdb_quota_take(&key, hdb_rate_limit_per_apikey, now);
		if (!v.allowed)
			reject(&key, hdb_rate_limit_per_apikey, v, ip, now);
	}

	if (ip != NULL && hdb_rate_limit_per_ip > 0)
	{
		v = hdb_quota_take(ip, hdb_rate_limit_per_ip, now);
		if (!v.allowed)
			reject(ip, hdb_rate_limit_per_ip, v, ip, now);
	}

	if (hdb_rate_limit_global > 0)
	{
		v = hdb_quota_take_global(hdb_rate_limit_global, now);
		if (!v.allowed)
			reject(NULL, hdb_rate_limit_global, v, ip, now);
	}
}

static PlannedStmt *
quota_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	PlannedStmt *result;

	nesting_level++;
	PG_TRY();
	{
		if (prev_planner)
			result = prev_planner(parse, query_string, cursorOptions,
								  boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions,
									  boundParams);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
	return result;
}

static void
quota_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (nesting_level == 0)
		ratelimit_check();
	hdb_storage_check_query(queryDesc, eflags);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
quota_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				  uint64 count, bool execute_once)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
quota_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
quota_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	if (nesting_level == 0 && !IsA(pstmt->utilityStmt, TransactionStmt))
		ratelimit_check();
	hdb_storage_check_utility(pstmt->utilityStmt);

	nesting_level++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
require_shared(void)
{
	if (hdb_quota_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not initialized"),
				 errhint("Add heliosdb to shared_preload_libraries and restart the server.")));
}

static const char *
kind_name(uint8 kind)
{
	switch ((QuotaKeyKind) kind)
	{
		case QUOTA_KEY_TENANT:
			return "tenant";
		case QUOTA_KEY_APIKEY:
			return "apikey";
		case QUOTA_KEY_IP:
			return "ip";
		case QUOTA_KEY_BENCH:
			return "bench";
	}
	return "unknown";
}

#define STATUS_COLS 10

static void
status_row(Tuplestorestate *store, TupleDesc desc, const char *kind,
		   const char *key, const QuotaEntry *e, TimestampTz now)
{
	Datum		values[STATUS_COLS];
	bool		nulls[STATUS_COLS] = {0};
	bool		in_window;

	values[0] = CStringGetTextDatum(kind);
	if (key != NULL)
		values[1] = CStringGetTextDatum(key);
	else
		nulls[1] = true;
	if (e->stmt.rate > 0)
		values[2] = Float8GetDatum(e->stmt.rate);
	else
		nulls[2] = true;
	values[3] = Int32GetDatum(hdb_rate_limit_burst);
	values[4] = Float8GetDatum(hdb_quota_tokens_now(&e->stmt, now));
	values[5] = Int64GetDatum((int64) e->allowed);
	values[6] = Int64GetDatum((int64) e->rejected);
	in_window = e->violations > 0 &&
		now - e->violation_start < 60 * USECS_PER_SEC;
	values[7] = Int32GetDatum(in_window ? e->violations : 0);
	if (e->banned_until > now)
		values[8] = TimestampTzGetDatum(e->banned_until);
	else
		nulls[8] = true;
	if (e->last_seen != 0)
		values[9] = TimestampTzGetDatum(e->last_seen);
	else
		nulls[9] = true;
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * _rate_limit_status(): one row for the global bucket and one per entry of
 * the shared table, behind the view heliosdb.rate_limit_status.
 */
PG_FUNCTION_INFO_V1(hdb_rate_limit_status);
Datum
hdb_rate_limit_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	QuotaEntry *entries;
	QuotaEntry	server;
	int			n;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);

	n = hdb_quota_copy_entries(&entries, &server);
	server.stmt.rate = hdb_rate_limit_global;
	status_row(rsinfo->setResult, rsinfo->setDesc, "global", NULL, &server,
			   now);
	for (int i = 0; i < n; i++)
		status_row(rsinfo->setResult, rsinfo->setDesc,
				   kind_name(entries[i].key.kind),
				   hdb_quota_key_display(&entries[i].key), &entries[i], now);
	return (Datum) 0;
}

/*
 * rate_limit_reset(): forget every bucket, violation and ban.
 */
PG_FUNCTION_INFO_V1(hdb_rate_limit_reset);
Datum
hdb_rate_limit_reset(PG_FUNCTION_ARGS)
{
	require_shared();
	hdb_quota_forget_all();
	PG_RETURN_VOID();
}

/*
 * _rate_limit_bench(iterations): microseconds one bucket check costs in
 * this backend (clock read, table lookup under the shared LWLock, refill
 * under the entry's spinlock), averaged over "iterations" checks of a
 * private entry that is removed afterwards.  For test/bench/quota.
 */
PG_FUNCTION_INFO_V1(hdb_rate_limit_bench);
Datum
hdb_rate_limit_bench(PG_FUNCTION_ARGS)
{
	int32		iterations = PG_GETARG_INT32(0);
	QuotaKey	key;
	instr_time	start;
	instr_time	elapsed;

	require_shared();
	if (iterations < 1 || iterations > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("iterations must be between 1 and 100000000")));

	hdb_quota_key_text(&key, QUOTA_KEY_BENCH, "bench");
	INSTR_TIME_SET_CURRENT(start);
	for (int32 i = 0; i < iterations; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		(void) hdb_quota_take(&key, 1e9, GetCurrentTimestamp());
	}
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	hdb_quota_forget(&key);

	PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(elapsed) * 1000000.0 / iterations);
}
