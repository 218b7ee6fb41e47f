/*-------------------------------------------------------------------------
 *
 * context.c
 *	  The session security context: who the session acts for, and the SQL
 *	  functions that read it (current_tenant_id() and friends) or set it
 *	  on an administrator's word (set_tenant(), reset_context()).
 *
 * Changes follow the rules of GUC assignments.  The first change made in
 * a (sub)transaction saves the context in effect before it; an abort of
 * that (sub)transaction restores it.  "at_commit" tracks what stays in
 * effect once the top-level transaction commits: session-wide changes
 * update it, local ones do not, so they end with the transaction.
 *
 * Parallel workers cannot change the context; they read the leader's copy
 * from shared memory (see tenant_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "tenant/tenant_internal.h"

/* Context in effect, and what stays in effect after a top-level commit. */
static HdbSecurityContext current_ctx;
static HdbSecurityContext at_commit;

/* Contexts saved by the first change in each open (sub)transaction. */
typedef struct SavedContext
{
	SubTransactionId subid;
	HdbSecurityContext current;
	HdbSecurityContext at_commit;
	struct SavedContext *next;	/* entry of an enclosing (sub)transaction */
} SavedContext;

static SavedContext *saved = NULL;

static bool slot_exit_registered = false;
static bool worker_ctx_loaded = false;

static void context_xact_callback(XactEvent event, void *arg);
static void context_subxact_callback(SubXactEvent event,
									 SubTransactionId mySubid,
									 SubTransactionId parentSubid,
									 void *arg);

void
hdb_context_init(void)
{
	RegisterXactCallback(context_xact_callback, NULL);
	RegisterSubXactCallback(context_subxact_callback, NULL);
}

static void
clear_slot(int code, Datum arg)
{
	if (hdb_tenant_shared != NULL && MyBackendId != InvalidBackendId)
	{
		HdbContextSlot *slot = &hdb_tenant_shared->slots[MyBackendId - 1];

		slot->pid = 0;
		memset(&slot->ctx, 0, sizeof(slot->ctx));
	}
}

/*
 * Copy the context in effect to this backend's slot for parallel workers.
 */
static void
publish_context(void)
{
	HdbContextSlot *slot;

	if (hdb_tenant_shared == NULL || MyBackendId == InvalidBackendId)
		return;
	if (!slot_exit_registered)
	{
		on_shmem_exit(clear_slot, (Datum) 0);
		slot_exit_registered = true;
	}
	slot = &hdb_tenant_shared->slots[MyBackendId - 1];
	slot->ctx = current_ctx;
	pg_write_barrier();
	slot->pid = MyProcPid;
}

/*
 * In a parallel worker, load the leader's context once.  A worker serves a
 * single parallel query, during which the leader cannot change it.
 */
static void
load_leader_context(void)
{
	PGPROC	   *leader = MyProc->lockGroupLeader;

	memset(&current_ctx, 0, sizeof(current_ctx));
	if (hdb_tenant_shared != NULL && leader != NULL &&
		ParallelLeaderBackendId != InvalidBackendId)
	{
		HdbContextSlot *slot;

		slot = &hdb_tenant_shared->slots[ParallelLeaderBackendId - 1];

		if (slot->pid == leader->pid)
		{
			pg_read_barrier();
			current_ctx = slot->ctx;
		}
	}
	worker_ctx_loaded = true;
}

static void
free_saved(void)
{
	while (saved != NULL)
	{
		SavedContext *next = saved->next;

		pfree(saved);
		saved = next;
	}
}

/*
 * Remember the context in effect before the first change of the current
 * (sub)transaction, so that an abort can bring it back.
 */
static void
save_for_rollback(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	SavedContext *entry;

	if (saved == NULL)
		at_commit = current_ctx;
	else if (saved->subid == subid)
		return;

	entry = MemoryContextAlloc(TopMemoryContext, sizeof(SavedContext));
	entry->subid = subid;
	entry->current = current_ctx;
	entry->at_commit = at_commit;
	entry->next = saved;
	saved = entry;
}

static void
check_can_change(void)
{
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot change the heliosdb security context during a parallel operation")));
	if (!IsTransactionState())
		elog(ERROR, "heliosdb security context changed outside a transaction");
}

/*
 * Install a new security context.  Callers must have verified the caller's
 * right to it; this function only makes the change transactional.
 */
void
hdb_context_set(const HdbSecurityContext *ctx)
{
	Assert(ctx->source != HDB_SOURCE_NONE);
	check_can_change();
	save_for_rollback();
	current_ctx = *ctx;
	if (!ctx->local)
		at_commit = *ctx;
	publish_context();
}

/*
 * Remove the security context; the session then acts for no tenant.
 */
void
hdb_context_reset(void)
{
	check_can_change();
	save_for_rollback();
	memset(&current_ctx, 0, sizeof(current_ctx));
	at_commit = current_ctx;
	publish_context();
}

const HdbSecurityContext *
hdb_context_get_unchecked(void)
{
	if (IsParallelWorker() && !worker_ctx_loaded)
		load_leader_context();
	return &current_ctx;
}

/*
 * The context in effect, checked: an expired context or a tenant that is
 * not (or no longer) in the registry is an error, never a silent fallback.
 * The tenant's uuid is looked up here on first use, so that logins that run
 * before the database is accessible can name tenants by their name.
 */
const HdbSecurityContext *
hdb_context_get(void)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();
	uint64		generation;

	if (ctx->source == HDB_SOURCE_NONE)
		return ctx;

	if (ctx->expires_at != 0 && GetCurrentTimestamp() >= ctx->expires_at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("heliosdb login has expired"),
				 errhint("Log in again, or call heliosdb.reset_context().")));

	if (!ctx->has_tenant)
		return ctx;

	generation = hdb_registry_generation();
	if (ctx->tenant_resolved &&
		(ctx->registry_generation == generation || IsParallelWorker()))
		return ctx;

	if (!ctx->tenant_resolved)
	{
		if (!hdb_registry_lookup_name(ctx->tenant_name, &current_ctx.tenant_id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("tenant \"%s\" of the security context does not exist",
							ctx->tenant_name),
					 errhint("Log in again, or call heliosdb.reset_context().")));
	}
	else
	{
		char		name[HDB_TENANT_NAME_MAX];

		if (!hdb_registry_lookup_id(&ctx->tenant_id, name) ||
			strcmp(name, ctx->tenant_name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("tenant \"%s\" of the security context no longer exists",
							ctx->tenant_name),
					 errhint("Log in again, or call heliosdb.reset_context().")));
	}

	/*
	 * Same tenant, now verified: no rollback state to keep for this.  The
	 * slot is not republished while workers may be reading it; they do not
	 * look at the generation.
	 */
	current_ctx.tenant_resolved = true;
	current_ctx.registry_generation = generation;
	if (!IsInParallelMode())
		publish_context();
	return ctx;
}

static void
context_xact_callback(XactEvent event, void *arg)
{
	if (saved == NULL)
		return;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			current_ctx = at_commit;
			break;
		case XACT_EVENT_ABORT:
			{
				SavedContext *oldest = saved;

				while (oldest->next != NULL)
					oldest = oldest->next;
				current_ctx = oldest->current;
				break;
			}
		default:
			return;
	}
	free_saved();
	publish_context();
}

static void
context_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	SavedContext *top = saved;

	if (top == NULL || top->subid != mySubid)
		return;

	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			/* The parent keeps its own older entry if it has one. */
			if (top->next != NULL && top->next->subid == parentSubid)
			{
				saved = top->next;
				pfree(top);
			}
			else
				top->subid = parentSubid;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			current_ctx = top->current;
			at_commit = top->at_commit;
			saved = top->next;
			pfree(top);
			publish_context();
			break;
		default:
			break;
	}
}

/*
 * May the current user change the context by name?  Superusers and members
 * of heliosdb_admin may.
 */
static void
check_admin(const char *action)
{
	Oid			admin = get_role_oid("heliosdb_admin", true);

	if (superuser())
		return;
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", action),
			 errdetail("Only superusers and members of role \"heliosdb_admin\" may %s.",
					   action),
			 errhint("Tenant applications establish their context by logging in with a token.")));
}

PG_FUNCTION_INFO_V1(hdb_current_tenant_id);
Datum
hdb_current_tenant_id(PG_FUNCTION_ARGS)
{
	const HdbSecurityContext *ctx = hdb_context_get();
	pg_uuid_t  *result;

	if (!ctx->has_tenant)
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	memcpy(result, &ctx->tenant_id, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}

PG_FUNCTION_INFO_V1(hdb_current_tenant);
Datum
hdb_current_tenant(PG_FUNCTION_ARGS)
{
	const HdbSecurityContext *ctx = hdb_context_get();

	if (!ctx->has_tenant)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ctx->tenant_name));
}

PG_FUNCTION_INFO_V1(hdb_current_user_id);
Datum
hdb_current_user_id(PG_FUNCTION_ARGS)
{
	const HdbSecurityContext *ctx = hdb_context_get();

	if (ctx->user_id[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ctx->user_id));
}

/*
 * set_tenant(name text, local boolean)
 */
PG_FUNCTION_INFO_V1(hdb_set_tenant);
Datum
hdb_set_tenant(PG_FUNCTION_ARGS)
{
	HdbSecurityContext ctx;
	char	   *name;

	check_admin("set the tenant");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	memset(&ctx, 0, sizeof(ctx));
	if (!hdb_tenant_name_is_valid(name) ||
		!hdb_registry_lookup_name(name, &ctx.tenant_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", name)));

	ctx.source = HDB_SOURCE_SET_TENANT;
	ctx.local = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	ctx.has_tenant = true;
	ctx.tenant_resolved = true;
	ctx.registry_generation = hdb_registry_generation();
	strlcpy(ctx.tenant_name, name, sizeof(ctx.tenant_name));
	ctx.role = InvalidOid;
	ctx.permissions = HDB_PERMISSIONS_ALL;
	hdb_context_set(&ctx);

	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hdb_reset_context);
Datum
hdb_reset_context(PG_FUNCTION_ARGS)
{
	hdb_context_reset();
	PG_RETURN_VOID();
}

static const char *
source_name(HdbContextSource source)
{
	switch (source)
	{
		case HDB_SOURCE_NONE:
			return "none";
		case HDB_SOURCE_SET_TENANT:
			return "set_tenant";
		case HDB_SOURCE_JWT:
			return "jwt";
		case HDB_SOURCE_APIKEY:
			return "apikey";
	}
	return "unknown";
}

/*
 * session_context(): the whole context, for inspection.  Unchecked, so that
 * an expired or revoked context can still be looked at.
 */
PG_FUNCTION_INFO_V1(hdb_session_context);
Datum
hdb_session_context(PG_FUNCTION_ARGS)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = CStringGetTextDatum(source_name(ctx->source));
	if (ctx->has_tenant)
		values[1] = CStringGetTextDatum(ctx->tenant_name);
	else
		nulls[1] = true;
	if (ctx->has_tenant && ctx->tenant_resolved)
	{
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		memcpy(id, &ctx->tenant_id, sizeof(pg_uuid_t));
		values[2] = UUIDPGetDatum(id);
	}
	else
		nulls[2] = true;
	if (ctx->user_id[0] != '\0')
		values[3] = CStringGetTextDatum(ctx->user_id);
	else
		nulls[3] = true;
	values[4] = BoolGetDatum(ctx->local);
	if (ctx->expires_at != 0)
		values[5] = TimestampTzGetDatum(ctx->expires_at);
	else
		nulls[5] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
