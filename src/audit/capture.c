/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Capture of audit events in the audited backend: executor hooks for
 *	  DML and SELECT, the utility hook for DDL and administrative
 *	  statements, the failure of either (errors are caught, recorded and
 *	  re-thrown), and the commit callback that makes the records of a
 *	  read-only transaction durable.
 *
 * Only top-level statements are recorded: statements run by functions
 * (SPI) are part of the statement that called them.  Utility statements
 * that are not audited themselves (EXPLAIN of a query, EXECUTE, DECLARE
 * CURSOR, SET, ...) do not count as a nesting level, so the query they run
 * is recorded as the top-level statement.
 *
 * Per-query state (start time, relations, policies) is kept in the
 * executor's per-query memory context and found again by its QueryDesc.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "parser/scansup.h"
#include "rewrite/rowsecurity.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "audit/audit_internal.h"

/* Longest query text and error message kept in a record. */
#define MAX_QUERY_TEXT		16384
#define MAX_MESSAGE_TEXT	2048

bool		hdb_audit_in_worker = false;

/* Statements of this process are left out (hdb_audit_ignore_statements). */
static bool statements_ignored = false;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* The error being reported has been recorded by a hook already. */
static bool error_recorded = false;

static int	nesting_level = 0;
static uint64 request_counter = 0;

/*
 * Whether the database has the extension: -1 unknown, 0 no, 1 yes.  A "no"
 * holds until pg_class changes: CREATE EXTENSION heliosdb creates tables,
 * which invalidates entries of every session's pg_class cache.
 */
static int	extension_present = -1;

/* Context in which records are built; reset after each record. */
static MemoryContext audit_cxt = NULL;

/* What is known about a top-level query being executed. */
typedef struct AuditQuery
{
	QueryDesc  *qd;
	TimestampTz start;
	uint64		request_no;
	HdbAuditEventType event_type;
	const char *action;
	char	   *resource;
	List	   *policies;
	bool		rls_bypass;
	bool		done;			/* record emitted */
	struct AuditQuery *next;
} AuditQuery;

static AuditQuery *running_queries = NULL;

static void audit_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void audit_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							  uint64 count, bool execute_once);
static void audit_ExecutorFinish(QueryDesc *queryDesc);
static void audit_ExecutorEnd(QueryDesc *queryDesc);
static void audit_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree,
								 ProcessUtilityContext context,
								 ParamListInfo params,
								 QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);
static void audit_xact_callback(XactEvent event, void *arg);
static void audit_emit_log(ErrorData *edata);

/* Syscache callback on pg_class: the extension may have been created. */
static void
pg_class_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	if (extension_present == 0)
		extension_present = -1;
}

void
hdb_audit_capture_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = audit_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = audit_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = audit_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = audit_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = audit_ProcessUtility;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = audit_emit_log;
	RegisterXactCallback(audit_xact_callback, NULL);
	CacheRegisterSyscacheCallback(RELOID, pg_class_changed, (Datum) 0);
}

bool
hdb_audit_event_enabled(HdbAuditEventType type)
{
	return (hdb_audit_events_mask & (1 << type)) != 0;
}

/* Whether the current role or session user is in audit_exclude_roles. */
static bool
role_excluded(void)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	char	   *current;
	char	   *session;
	bool		excluded = false;

	if (hdb_audit_exclude_roles == NULL || hdb_audit_exclude_roles[0] == '\0')
		return false;
	raw = pstrdup(hdb_audit_exclude_roles);
	if (!SplitIdentifierString(raw, ',', &names))
		return false;
	current = GetUserNameFromId(GetUserId(), true);
	session = GetUserNameFromId(GetSessionUserId(), true);
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		if ((current && strcmp(name, current) == 0) ||
			(session && strcmp(name, session) == 0))
			excluded = true;
	}
	list_free(names);
	pfree(raw);
	return excluded;
}

/*
 * Whether statements of this backend are audited now.  The extension's
 * presence is looked up again only when it may have changed: once found,
 * it is trusted until the writer finds it dropped (or DROP EXTENSION runs
 * in this session); once missed, until pg_class changes.  A database
 * without the extension thus costs no catalog look-up per transaction.
 */
static bool
capturing(void)
{
	if (!hdb_audit_enabled || hdb_audit_in_worker || hdb_audit_shared == NULL)
		return false;
	if (IsParallelWorker() || !IsNormalProcessingMode() ||
		!OidIsValid(MyDatabaseId) || !IsTransactionState() ||
		RecoveryInProgress())
		return false;
	/* The writer found the extension dropped: look again. */
	if (extension_present == 1 && hdb_audit_my_queue_retired())
		extension_present = -1;
	if (extension_present == -1)
		extension_present = OidIsValid(get_extension_oid("heliosdb", true)) ? 1 : 0;
	if (extension_present != 1)
		return false;
	return !role_excluded();
}

/*
 * Whether the statements of this backend are audited now: as capturing(),
 * unless this process is one of heliosdb's own background workers.
 */
static bool
capturing_statements(void)
{
	return !statements_ignored && capturing();
}

/*
 * Leave the statements of this process out of the audit trail: for
 * heliosdb's own background workers, whose queries are housekeeping
 * rather than anyone's action.  Events they report with hdb_audit_event()
 * are still recorded.
 */
void
hdb_audit_ignore_statements(void)
{
	statements_ignored = true;
}

static MemoryContext
get_audit_cxt(void)
{
	if (audit_cxt == NULL)
		audit_cxt = AllocSetContextCreate(TopMemoryContext,
										  "heliosdb audit record",
										  ALLOCSET_DEFAULT_SIZES);
	return audit_cxt;
}

/* Complete a record, encode it and queue it. */
void
hdb_audit_submit(const HdbAuditRecord *rec)
{
	HdbAuditFields f;
	char	   *data;
	int			len;

	hdb_audit_fields(rec, &f);
	data = hdb_audit_encode(&f, &len);
	hdb_audit_enqueue(data, len);
}

/*
 * The statement's own text out of a multi-statement string, redacted as
 * configured and clipped.  "all" forces full redaction (passwords).
 */
static char *
statement_text(const char *source, int location, int len, bool force_all)
{
	char	   *text;
	int			textlen;

	if (!hdb_audit_log_query_text || source == NULL)
		return NULL;
	if (location < 0 || location > (int) strlen(source))
		location = 0;
	source += location;
	if (len <= 0 || len > (int) strlen(source))
		len = strlen(source);
	/* Leading and trailing white space are not part of the statement. */
	while (len > 0 && scanner_isspace(*source))
	{
		source++;
		len--;
	}
	while (len > 0 && scanner_isspace(source[len - 1]))
		len--;

	text = hdb_audit_redact_query(source, len, hdb_audit_redact || force_all);
	text = hdb_audit_scrub_secrets(text);
	textlen = strlen(text);
	if (textlen > MAX_QUERY_TEXT)
		text[pg_mbcliplen(text, textlen, MAX_QUERY_TEXT)] = '\0';
	return text;
}

static char *
qualified_name(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));

	if (rel == NULL)
		return NULL;
	return quote_qualified_identifier(nsp, rel);
}

/*
 * What describe_relations() needs of a relation, kept for the session:
 * every audited statement names its relations, and looking up and quoting
 * their names each time cost a fifth of its record.  An entry
 * goes when the relation's relcache entry is invalidated (rename, SET
 * SCHEMA, ROW LEVEL SECURITY, drop), all of them when any schema changes.
 */
typedef struct RelNameEntry
{
	Oid			relid;			/* hash key */
	char	   *name;			/* schema-qualified, quoted */
	bool		rowsecurity;	/* pg_class.relrowsecurity */
} RelNameEntry;

static HTAB *relname_cache = NULL;

static void
relname_cache_reset(void)
{
	HASH_SEQ_STATUS status;
	RelNameEntry *e;

	hash_seq_init(&status, relname_cache);
	while ((e = (RelNameEntry *) hash_seq_search(&status)) != NULL)
	{
		pfree(e->name);
		hash_search(relname_cache, &e->relid, HASH_REMOVE, NULL);
	}
}

static void
relname_relcache_callback(Datum arg, Oid relid)
{
	RelNameEntry *e;

	if (relname_cache == NULL)
		return;
	if (!OidIsValid(relid))
	{
		relname_cache_reset();
		return;
	}
	e = (RelNameEntry *) hash_search(relname_cache, &relid, HASH_FIND, NULL);
	if (e != NULL)
	{
		pfree(e->name);
		hash_search(relname_cache, &relid, HASH_REMOVE, NULL);
	}
}

static void
relname_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (relname_cache != NULL)
		relname_cache_reset();
}

/*
 * The qualified name of a relation and whether it has row level security
 * enabled; false when it does not exist.
 */
static bool
relation_info(Oid relid, const char **name, bool *rowsecurity)
{
	RelNameEntry *e;
	bool		found;
	char	   *qname;
	HeapTuple	tup;

	if (relname_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelNameEntry);
		ctl.hcxt = TopMemoryContext;
		relname_cache = hash_create("heliosdb audit relation names", 64,
									&ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(relname_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, relname_syscache_callback,
									  (Datum) 0);
	}
	e = (RelNameEntry *) hash_search(relname_cache, &relid, HASH_FIND, NULL);
	if (e != NULL)
	{
		*name = e->name;
		*rowsecurity = e->rowsecurity;
		return true;
	}

	qname = qualified_name(relid);
	if (qname == NULL)
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	*rowsecurity = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	ReleaseSysCache(tup);
	*name = qname;

	/* The lookups above may have run invalidations: enter it only now. */
	e = (RelNameEntry *) hash_search(relname_cache, &relid, HASH_ENTER,
									 &found);
	if (found)
		pfree(e->name);
	e->name = MemoryContextStrdup(TopMemoryContext, qname);
	e->rowsecurity = *rowsecurity;
	return true;
}

/* Policy command letter of an executor operation. */
static char
policy_cmd(CmdType op)
{
	switch (op)
	{
		case CMD_INSERT:
			return ACL_INSERT_CHR;
		case CMD_UPDATE:
			return ACL_UPDATE_CHR;
		case CMD_DELETE:
			return ACL_DELETE_CHR;
		default:
			return ACL_SELECT_CHR;
	}
}

/* Whether a policy's role list covers the role. */
static bool
policy_applies_to(RowSecurityPolicy *policy, Oid role)
{
	Oid		   *roles = (Oid *) ARR_DATA_PTR(policy->roles);
	int			n = ARR_DIMS(policy->roles)[0];

	for (int i = 0; i < n; i++)
	{
		if (roles[i] == ACL_ID_PUBLIC || has_privs_of_role(role, roles[i]))
			return true;
	}
	return false;
}

static bool
name_listed(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return true;
	}
	return false;
}

/*
 * Fill in the relations of a planned query, the policies of those whose
 * row level security applies and whether a role bypassed it.  The
 * relations are locked by the plan already.
 */
static void
describe_relations(PlannedStmt *pstmt, CmdType op, AuditQuery *aq)
{
	ListCell   *lc;
	StringInfoData res;
	int			index = 0;

	initStringInfo(&res);
	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);
		Oid			user;
		bool		rowsecurity;
		const char *name;

		index++;
		if (rte->rtekind != RTE_RELATION || rte->requiredPerms == 0)
			continue;
		if (!relation_info(rte->relid, &name, &rowsecurity))
			continue;
		if (res.len > 0)
			appendStringInfoString(&res, ", ");
		appendStringInfoString(&res, name);
		if (!rowsecurity)
			continue;

		user = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
		if (check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED)
		{
			Relation	rel = RelationIdGetRelation(rte->relid);
			CmdType		relop;
			ListCell   *plc;

			if (!RelationIsValid(rel))
				continue;
			/* The statement's target gets its own command's policies. */
			relop = list_member_int(pstmt->resultRelations, index) ?
				op : CMD_SELECT;
			if (rel->rd_rsdesc != NULL)
			{
				foreach(plc, rel->rd_rsdesc->policies)
				{
					RowSecurityPolicy *p = (RowSecurityPolicy *) lfirst(plc);

					if ((p->polcmd == '*' || p->polcmd == policy_cmd(relop)) &&
						policy_applies_to(p, user) &&
						!name_listed(aq->policies, p->policy_name))
						aq->policies = lappend(aq->policies,
											   pstrdup(p->policy_name));
				}
			}
			RelationClose(rel);
		}
		else if (superuser_arg(user) || has_bypassrls_privilege(user))
			aq->rls_bypass = true;
	}
	aq->resource = res.len > 0 ? res.data : NULL;
}

/* Names of heliosdb functions whose calls are administrative actions. */
static const char *const admin_functions[] = {
	"tenant_create", "tenant_drop", "set_tenant", "reset_context",
	"enable_tenant_isolation", NULL
};
static const char *const admin_prefixes[] = {
	"apikey_", "key_", "keyring_", "rotate_", "quota_set", "ban_", NULL
};

typedef struct AdminWalk
{
	Oid			nspid;
	const char *found;
} AdminWalk;

static bool
admin_function_walker(Node *node, AdminWalk *ctx)
{
	if (node == NULL || ctx->found != NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		Oid			funcid = ((FuncExpr *) node)->funcid;

		if (get_func_namespace(funcid) == ctx->nspid)
		{
			char	   *name = get_func_name(funcid);

			for (int i = 0; name && admin_functions[i]; i++)
				if (strcmp(name, admin_functions[i]) == 0)
					ctx->found = name;
			for (int i = 0; name && admin_prefixes[i]; i++)
				if (strncmp(name, admin_prefixes[i],
							strlen(admin_prefixes[i])) == 0)
					ctx->found = name;
		}
	}
	return expression_tree_walker(node, admin_function_walker, (void *) ctx);
}

static void
admin_plan_walk(Plan *plan, AdminWalk *ctx)
{
	if (plan == NULL || ctx->found != NULL)
		return;
	admin_function_walker((Node *) plan->targetlist, ctx);
	admin_function_walker((Node *) plan->qual, ctx);
	if (IsA(plan, FunctionScan))
		admin_function_walker((Node *) ((FunctionScan *) plan)->functions, ctx);
	admin_plan_walk(plan->lefttree, ctx);
	admin_plan_walk(plan->righttree, ctx);
}

/* The heliosdb administrative function a query calls, or NULL. */
static const char *
admin_function_called(PlannedStmt *pstmt)
{
	AdminWalk	ctx;

	ctx.nspid = get_namespace_oid("heliosdb", true);
	ctx.found = NULL;
	if (!OidIsValid(ctx.nspid))
		return NULL;
	admin_plan_walk(pstmt->planTree, &ctx);
	return ctx.found;
}

/*
 * The SQLSTATEs of quota refusals (DESIGN.md, "Errors"): storage quota
 * (53100) and QPS / rate limits (53400).
 */
static bool
is_quota_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_DISK_FULL ||
		sqlerrcode == ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
}

static void
set_error(HdbAuditRecord *rec, ErrorData *edata)
{
	char	   *msg = edata->message ? pstrdup(edata->message) : NULL;

	rec->error_code = pstrdup(unpack_sql_state(edata->sqlerrcode));
	if (msg && strlen(msg) > MAX_MESSAGE_TEXT)
		msg[pg_mbcliplen(msg, strlen(msg), MAX_MESSAGE_TEXT)] = '\0';
	rec->error_message = msg;
	if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
	{
		rec->result = HDB_AUDIT_DENIED;
		rec->event_type = HDB_AUDIT_AUTHORIZATION;
	}
	else if (is_quota_error(edata->sqlerrcode))
	{
		rec->result = HDB_AUDIT_DENIED;
		rec->event_type = HDB_AUDIT_QUOTA_EXCEEDED;
	}
	else
		rec->result = HDB_AUDIT_FAILURE;
}

/* Bind parameter values, or NULL when they are to be redacted. */
static char **
param_values(ParamListInfo params)
{
	char	  **values;

	if (hdb_audit_redact || params->paramFetch != NULL)
		return NULL;
	values = palloc0(sizeof(char *) * params->numParams);
	for (int i = 0; i < params->numParams; i++)
	{
		ParamExternData *p = &params->params[i];
		Oid			typoutput;
		bool		isvarlena;

		if (p->isnull || !OidIsValid(p->ptype))
			continue;
		getTypeOutputInfo(p->ptype, &typoutput, &isvarlena);
		values[i] = OidOutputFunctionCall(typoutput, p->value);
	}
	return values;
}

/*
 * Emit the records of a top-level query: its own record and, when a role
 * bypassed row level security, an rls_bypass record.  edata is NULL for
 * success.
 */
static void
emit_query_records(AuditQuery *aq, ErrorData *edata)
{
	QueryDesc  *qd = aq->qd;
	HdbAuditRecord rec;

	aq->done = true;
	memset(&rec, 0, sizeof(rec));
	rec.event_type = aq->event_type;
	rec.action = aq->action;
	rec.resource = aq->resource;
	rec.result = HDB_AUDIT_SUCCESS;
	rec.rows_affected = -1;
	rec.duration_ms =
		(double) (GetCurrentTimestamp() - aq->start) / 1000.0;
	rec.rls_policies = aq->policies;
	rec.request_no = aq->request_no;
	if (edata != NULL)
		set_error(&rec, edata);
	else if (qd->estate != NULL)
		rec.rows_affected = (int64) qd->estate->es_processed;

	if (hdb_audit_event_enabled(rec.event_type))
	{
		rec.query = statement_text(qd->sourceText,
								   qd->plannedstmt->stmt_location,
								   qd->plannedstmt->stmt_len, false);
		if (qd->params != NULL && qd->params->numParams > 0)
		{
			rec.nparams = qd->params->numParams;
			rec.param_values = param_values(qd->params);
		}
		hdb_audit_submit(&rec);
	}
	if (aq->rls_bypass && hdb_audit_event_enabled(HDB_AUDIT_RLS_BYPASS))
	{
		rec.event_type = HDB_AUDIT_RLS_BYPASS;
		if (rec.query == NULL)
			rec.query = statement_text(qd->sourceText,
									   qd->plannedstmt->stmt_location,
									   qd->plannedstmt->stmt_len, false);
		rec.rls_policies = NIL;
		hdb_audit_submit(&rec);
	}
}

static AuditQuery *
find_query(QueryDesc *qd)
{
	for (AuditQuery *aq = running_queries; aq != NULL; aq = aq->next)
		if (aq->qd == qd)
			return aq;
	return NULL;
}

static void
forget_query(AuditQuery *aq)
{
	AuditQuery **p = &running_queries;

	while (*p != NULL)
	{
		if (*p == aq)
		{
			*p = aq->next;
			return;
		}
		p = &(*p)->next;
	}
}

static void
forget_query_callback(void *arg)
{
	forget_query((AuditQuery *) arg);
}

/*
 * Record the failure of a top-level query; called in PG_CATCH with the
 * error still current.
 */
static void
record_query_failure(AuditQuery *aq)
{
	MemoryContext old = MemoryContextSwitchTo(get_audit_cxt());
	ErrorData  *edata = CopyErrorData();

	error_recorded = true;
	forget_query(aq);
	emit_query_records(aq, edata);
	MemoryContextSwitchTo(old);
	MemoryContextReset(audit_cxt);
}

static void
audit_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	AuditQuery *aq = NULL;

	if (nesting_level == 0 && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		capturing_statements())
	{
		PlannedStmt *pstmt = queryDesc->plannedstmt;
		const char *admin;

		hdb_audit_login_emit();

		aq = palloc0(sizeof(AuditQuery));
		aq->qd = queryDesc;
		aq->start = GetCurrentTimestamp();
		aq->request_no = ++request_counter;
		if (queryDesc->operation == CMD_SELECT && !pstmt->hasModifyingCTE)
		{
			aq->event_type = HDB_AUDIT_DATA_ACCESS;
			aq->action = "SELECT";
			admin = admin_function_called(pstmt);
			if (admin != NULL)
			{
				aq->event_type = HDB_AUDIT_ADMIN_ACTIONS;
				aq->action = psprintf("heliosdb.%s", admin);
			}
		}
		else
		{
			aq->event_type = HDB_AUDIT_DATA_MODIFICATION;
			aq->action = GetCommandTagName(CreateCommandTag((Node *) pstmt));
		}
		describe_relations(pstmt, queryDesc->operation, aq);
	}

	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_CATCH();
	{
		nesting_level--;
		if (aq != NULL)
			record_query_failure(aq);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nesting_level--;

	if (aq != NULL)
	{
		/* Keep the state for the rest of the query in its own context. */
		AuditQuery *copy = MemoryContextAlloc(queryDesc->estate->es_query_cxt,
											  sizeof(AuditQuery));
		MemoryContextCallback *cb;

		*copy = *aq;
		copy->next = running_queries;
		running_queries = copy;
		pfree(aq);

		/*
		 * A portal dropped by an abort never reaches ExecutorEnd; the
		 * entry leaves the list when its memory goes.
		 */
		cb = MemoryContextAlloc(queryDesc->estate->es_query_cxt,
								sizeof(MemoryContextCallback));
		cb->func = forget_query_callback;
		cb->arg = copy;
		MemoryContextRegisterResetCallback(queryDesc->estate->es_query_cxt,
										   cb);
	}
}

/*
 * A query that fails while it runs is recorded here: its portal is dropped
 * by the abort without ExecutorEnd.  Nested queries are not in the list.
 */
static void
record_if_running(QueryDesc *queryDesc)
{
	AuditQuery *aq = running_queries ? find_query(queryDesc) : NULL;

	if (aq != NULL && !aq->done)
		record_query_failure(aq);
}

static void
audit_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
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
	PG_CATCH();
	{
		nesting_level--;
		record_if_running(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nesting_level--;
}

static void
audit_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_CATCH();
	{
		nesting_level--;
		record_if_running(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nesting_level--;
}

static void
audit_ExecutorEnd(QueryDesc *queryDesc)
{
	AuditQuery *aq = running_queries ? find_query(queryDesc) : NULL;

	if (aq != NULL)
	{
		forget_query(aq);
		if (!aq->done)
		{
			MemoryContext old = MemoryContextSwitchTo(get_audit_cxt());

			emit_query_records(aq, NULL);
			MemoryContextSwitchTo(old);
			MemoryContextReset(audit_cxt);
		}
	}

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* Event type of an audited utility statement. */
static HdbAuditEventType
utility_event_type(Node *parsetree, LogStmtLevel level)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantStmt:
		case T_GrantRoleStmt:
		case T_AlterDefaultPrivilegesStmt:
		case T_AlterSystemStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
			return HDB_AUDIT_ADMIN_ACTIONS;
		case T_CopyStmt:
			return ((CopyStmt *) parsetree)->is_from ?
				HDB_AUDIT_DATA_MODIFICATION : HDB_AUDIT_DATA_ACCESS;
		default:
			break;
	}
	return level == LOGSTMT_MOD ? HDB_AUDIT_DATA_MODIFICATION :
		HDB_AUDIT_SCHEMA_CHANGES;
}

/* Whether a role statement carries a password. */
static bool
has_password_option(Node *parsetree)
{
	List	   *options = NIL;
	ListCell   *lc;

	if (IsA(parsetree, CreateRoleStmt))
		options = ((CreateRoleStmt *) parsetree)->options;
	else if (IsA(parsetree, AlterRoleStmt))
		options = ((AlterRoleStmt *) parsetree)->options;
	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "password") == 0)
			return true;
	}
	return false;
}

/*
 * A relation named by a utility statement: schema-qualified when it exists
 * (after CREATE, for instance), as written otherwise.
 */
static void
append_rangevar(StringInfo buf, RangeVar *rv)
{
	Oid			relid;
	char	   *name = NULL;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid))
		name = qualified_name(relid);
	if (name == NULL)
		name = quote_qualified_identifier(rv->schemaname, rv->relname);
	if (buf->len > 0)
		appendStringInfoString(buf, ", ");
	appendStringInfoString(buf, name);
}

/* Relations a utility statement names, for the resource field. */
static char *
utility_resource(Node *parsetree)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	switch (nodeTag(parsetree))
	{
		case T_CopyStmt:
			append_rangevar(&buf, ((CopyStmt *) parsetree)->relation);
			break;
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				append_rangevar(&buf, (RangeVar *) lfirst(lc));
			break;
		case T_CreateStmt:
			append_rangevar(&buf, ((CreateStmt *) parsetree)->relation);
			break;
		case T_AlterTableStmt:
			append_rangevar(&buf, ((AlterTableStmt *) parsetree)->relation);
			break;
		case T_IndexStmt:
			append_rangevar(&buf, ((IndexStmt *) parsetree)->relation);
			break;
		case T_CreatePolicyStmt:
			append_rangevar(&buf, ((CreatePolicyStmt *) parsetree)->table);
			break;
		default:
			break;
	}
	return buf.len > 0 ? buf.data : NULL;
}

static void
emit_utility_record(PlannedStmt *pstmt, const char *queryString,
					HdbAuditEventType type, TimestampTz start,
					uint64 request_no, QueryCompletion *qc,
					ErrorData *edata)
{
	Node	   *parsetree = pstmt->utilityStmt;
	HdbAuditRecord rec;

	memset(&rec, 0, sizeof(rec));
	rec.event_type = type;
	rec.action = GetCommandTagName(CreateCommandTag(parsetree));
	rec.resource = utility_resource(parsetree);
	rec.result = HDB_AUDIT_SUCCESS;
	rec.rows_affected = -1;
	rec.duration_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
	rec.request_no = request_no;
	if (edata != NULL)
		set_error(&rec, edata);
	else if (qc != NULL && (type == HDB_AUDIT_DATA_MODIFICATION ||
							type == HDB_AUDIT_DATA_ACCESS))
		rec.rows_affected = (int64) qc->nprocessed;
	if (!hdb_audit_event_enabled(rec.event_type))
		return;
	rec.query = statement_text(queryString, pstmt->stmt_location,
							   pstmt->stmt_len,
							   has_password_option(parsetree));
	hdb_audit_submit(&rec);
}

/* Whether parsetree is a DROP EXTENSION naming heliosdb. */
static bool
drops_heliosdb(Node *parsetree)
{
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt) ||
		((DropStmt *) parsetree)->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, ((DropStmt *) parsetree)->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "heliosdb") == 0)
			return true;
	}
	return false;
}

static bool
is_heliosdb_extension_stmt(Node *parsetree)
{
	if (IsA(parsetree, CreateExtensionStmt))
		return strcmp(((CreateExtensionStmt *) parsetree)->extname,
					  "heliosdb") == 0;
	return drops_heliosdb(parsetree);
}

/*
 * Before DROP EXTENSION heliosdb: lock audit_state, which the writer (and
 * audit_expire()) lock before anything else of the audit trail, so that
 * neither holds audit_log or a partition while the drop waits for it and
 * it for the drop (a deadlock).  Blocked on audit_state meanwhile, the
 * writer finds the extension gone afterwards.
 */
static void
lock_out_writer(void)
{
	Oid			nsp;
	Oid			state;

	/* The extension is not relocatable: its schema is heliosdb. */
	if (!OidIsValid(get_extension_oid("heliosdb", true)))
		return;
	nsp = get_namespace_oid("heliosdb", true);
	state = OidIsValid(nsp) ? get_relname_relid("audit_state", nsp) : InvalidOid;
	if (OidIsValid(state))
		LockRelationOid(state, AccessExclusiveLock);
}

static void
audit_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	LogStmtLevel level = GetCommandLogLevel(parsetree);
	bool		audited;
	bool		nests;
	TimestampTz start = 0;
	uint64		request_no = 0;
	HdbAuditEventType type = HDB_AUDIT_SCHEMA_CHANGES;

	/* PREPARE runs nothing; COPY TO reads a table without the executor. */
	if (IsA(parsetree, PrepareStmt))
		level = LOGSTMT_ALL;
	if (IsA(parsetree, CopyStmt))
		level = LOGSTMT_MOD;

	audited = nesting_level == 0 && level != LOGSTMT_ALL &&
		capturing_statements();
	nests = nesting_level > 0 || level != LOGSTMT_ALL;
	if (nesting_level == 0 && capturing_statements())
		hdb_audit_login_emit();
	if (audited)
	{
		start = GetCurrentTimestamp();
		request_no = ++request_counter;
		type = utility_event_type(parsetree, level);
	}

	/* The writer's connection would make DROP DATABASE fail. */
	if (IsA(parsetree, DropdbStmt))
		hdb_audit_release_database(get_database_oid(((DropdbStmt *) parsetree)->dbname,
													true));
	if (is_heliosdb_extension_stmt(parsetree))
		hdb_audit_lock_extension_lifecycle(ExclusiveLock);
	if (drops_heliosdb(parsetree))
		lock_out_writer();

	if (nests)
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
	PG_CATCH();
	{
		if (nests)
			nesting_level--;
		if (audited)
		{
			MemoryContext old = MemoryContextSwitchTo(get_audit_cxt());
			ErrorData  *edata = CopyErrorData();

			error_recorded = true;
			emit_utility_record(pstmt, queryString, type, start, request_no,
								NULL, edata);
			MemoryContextSwitchTo(old);
			MemoryContextReset(audit_cxt);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (nests)
		nesting_level--;

	if (is_heliosdb_extension_stmt(parsetree))
	{
		extension_present = -1;
		if (IsA(parsetree, CreateExtensionStmt))
			hdb_audit_unretire(MyDatabaseId);
	}

	if (audited)
	{
		MemoryContext old = MemoryContextSwitchTo(get_audit_cxt());

		emit_utility_record(pstmt, queryString, type, start, request_no,
							qc, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(audit_cxt);
	}
}

/*
 * Transaction end.  The WAL messages of a transaction with an xid are as
 * durable as its commit record, which follows them.  A read-only
 * transaction writes no commit record: its records are safe from a crash
 * of PostgreSQL in the queue file (queue.c), and are flushed in WAL here
 * only when heliosdb.audit_sync_read_only asks (or in single-user mode,
 * which has no queue).  Also forget the nesting level an error left
 * behind.
 */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (!XLogRecPtrIsInvalid(hdb_audit_last_lsn) &&
				(hdb_audit_sync_read_only || !IsUnderPostmaster))
			{
				/* The same promise as the commit: synchronous or not. */
				if (synchronous_commit > SYNCHRONOUS_COMMIT_OFF)
					XLogFlush(hdb_audit_last_lsn);
				else
					XLogSetAsyncXactLSN(hdb_audit_last_lsn);
			}
			hdb_audit_last_lsn = InvalidXLogRecPtr;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			hdb_audit_last_lsn = InvalidXLogRecPtr;
			error_recorded = false;
			nesting_level = 0;
			break;
		default:
			break;
	}
}

/*
 * A statement refused before it reached the executor or the utility hook
 * (for instance for want of USAGE on a schema, found by parse analysis,
 * or by a quota check) is recorded here, when its error is reported and before the transaction
 * aborts.  Other errors of that phase (syntax errors, unknown objects) do
 * not describe an executed statement and are not recorded.
 */
static void
audit_emit_log(ErrorData *edata)
{
	HdbAuditEventType type = is_quota_error(edata->sqlerrcode) ?
		HDB_AUDIT_QUOTA_EXCEEDED : HDB_AUDIT_AUTHORIZATION;

	if (edata->elevel == ERROR && !error_recorded && nesting_level == 0 &&
		(edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		 is_quota_error(edata->sqlerrcode)) &&
		debug_query_string != NULL &&
		hdb_audit_event_enabled(type) && capturing_statements())
	{
		MemoryContext old = MemoryContextSwitchTo(get_audit_cxt());
		HdbAuditRecord rec;

		error_recorded = true;
		memset(&rec, 0, sizeof(rec));
		rec.event_type = type;
		rec.result = HDB_AUDIT_DENIED;
		rec.error_code = unpack_sql_state(edata->sqlerrcode);
		rec.error_message = edata->message;
		rec.rows_affected = -1;
		rec.duration_ms = -1;
		rec.request_no = ++request_counter;
		rec.query = statement_text(debug_query_string, 0, 0, false);
		hdb_audit_submit(&rec);
		MemoryContextSwitchTo(old);
		MemoryContextReset(audit_cxt);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Report an event seen by another module; see hdb_audit.h.
 */
void
hdb_audit_event(HdbAuditEventType type, const char *action,
				HdbAuditResult result, const char *resource,
				const char *error_code, const char *detail)
{
	hdb_audit_event_ext(type, action, result, resource, error_code, detail,
						true);
}

/*
 * hdb_audit_event(), optionally without the current statement's text
 * (a login is not the statement that happens to follow it).
 */
void
hdb_audit_event_ext(HdbAuditEventType type, const char *action,
					HdbAuditResult result, const char *resource,
					const char *error_code, const char *detail,
					bool with_query)
{
	HdbAuditRecord rec;
	MemoryContext old;

	if (!hdb_audit_enabled || !hdb_audit_event_enabled(type))
		return;

	memset(&rec, 0, sizeof(rec));
	rec.event_type = type;
	rec.action = action;
	rec.resource = resource;
	rec.result = result;
	rec.error_code = error_code;
	rec.error_message = detail;
	rec.rows_affected = -1;
	rec.duration_ms = -1;
	rec.request_no = ++request_counter;

	if (!capturing())
	{
		/* No database to queue for (e.g. before login): server log only. */
		if (!OidIsValid(MyDatabaseId) || !IsTransactionState())
		{
			char	   *text;
			int			len;

			old = MemoryContextSwitchTo(get_audit_cxt());
			text = hdb_audit_format(&rec, &len);
			ereport(LOG_SERVER_ONLY,
					(errmsg("heliosdb audit: %s", text),
					 errhidestmt(true), errhidecontext(true)));
			MemoryContextSwitchTo(old);
			MemoryContextReset(audit_cxt);
		}
		return;
	}
	old = MemoryContextSwitchTo(get_audit_cxt());
	if (with_query && debug_query_string != NULL && nesting_level <= 1)
		rec.query = statement_text(debug_query_string, 0, 0, false);
	hdb_audit_submit(&rec);
	MemoryContextSwitchTo(old);
	MemoryContextReset(audit_cxt);
}
