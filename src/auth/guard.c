/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  What a token login may do: the role lock and the permission set.
 *
 * Role lock.  While a token login is in effect (and
 * heliosdb.lock_role_after_login is on), SET ROLE, RESET ROLE, SET
 * SESSION AUTHORIZATION, RESET ALL and DISCARD ALL are refused in the
 * utility hook.  set_config('role', ...) is an ordinary function call no
 * statement hook sees; it is caught afterwards: every statement start
 * (ExecutorStart and the utility hook, at every nesting level) and every
 * commit checks that the role in effect is still the login's, and an
 * ERROR there aborts the (sub)transaction, which undoes the change.
 *
 * Permission set.  The permission words of the login restrict what its
 * role may do on top of SQL privileges:
 *
 *	read			SELECT (also columns read by UPDATE/DELETE/RETURNING,
 *					COPY TO)
 *	write			INSERT, UPDATE, MERGE, COPY FROM
 *	delete			DELETE, TRUNCATE
 *	create_table	CREATE TABLE, CREATE TABLE AS, SELECT INTO
 *	create_view		CREATE VIEW, CREATE MATERIALIZED VIEW
 *	*				everything, including all other DDL
 *
 * Relation access is checked in ExecutorCheckPerms_hook for relations
 * accessed with the login's role (not those a view owner or a SECURITY
 * DEFINER function accesses on its own rights) outside the system schemas
 * and the extension's own schema.  Utility statements are classified in
 * ProcessUtility_hook: session and transaction control, cursors, prepared
 * statements, EXPLAIN, DO, CALL and LISTEN/NOTIFY need no permission (the
 * statements they run are checked themselves); other DDL needs "*".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "common/hdb_common.h"
#include "auth/auth_internal.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Depth of CREATE TABLE / VIEW statements the permission set allowed; the
 * statements their event triggers run (automatic tenant isolation) are
 * not checked again.
 */
static int	allowed_ddl_depth = 0;

static void guard_ExecutorStart(QueryDesc *queryDesc, int eflags);
static bool guard_ExecutorCheckPerms(List *rangeTable,
									 bool ereport_on_violation);
static void guard_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree,
								 ProcessUtilityContext context,
								 ParamListInfo params,
								 QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

void
hdb_guard_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = guard_ExecutorStart;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = guard_ExecutorCheckPerms;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_ProcessUtility;
}

/*
 * The permission set in effect, or HDB_PERMISSIONS_ALL when no token login
 * restricts the session.
 */
static uint32
current_permissions(const HdbSecurityContext **ctxp)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();

	*ctxp = ctx;
	if (ctx->source != HDB_SOURCE_JWT && ctx->source != HDB_SOURCE_APIKEY)
		return HDB_PERMISSIONS_ALL;
	return ctx->permissions;
}

static const char *
permission_word(uint32 bit)
{
	switch (bit)
	{
		case HDB_PERM_READ:
			return "read";
		case HDB_PERM_WRITE:
			return "write";
		case HDB_PERM_DELETE:
			return "delete";
		case HDB_PERM_CREATE_TABLE:
			return "create_table";
		case HDB_PERM_CREATE_VIEW:
			return "create_view";
		default:
			return "*";
	}
}

static void
refuse(uint32 missing, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("The login's permission set does not include \"%s\".",
					   permission_word(missing))));
}

/* Relations the permission set does not govern. */
static bool
exempt_namespace(Oid nsp)
{
	char	   *name;

	if (nsp == PG_CATALOG_NAMESPACE || nsp == PG_TOAST_NAMESPACE)
		return true;
	name = get_namespace_name(nsp);
	return name != NULL &&
		(strcmp(name, "information_schema") == 0 ||
		 strcmp(name, HDB_SCHEMA) == 0);
}

static bool
guard_ExecutorCheckPerms(List *rangeTable, bool ereport_on_violation)
{
	const HdbSecurityContext *ctx;
	uint32		perms = current_permissions(&ctx);
	ListCell   *lc;

	if (perms != HDB_PERMISSIONS_ALL)
	{
		foreach(lc, rangeTable)
		{
			RangeTblEntry *rte = lfirst(lc);
			Oid			user;
			uint32		need = 0;

			if (rte->rtekind != RTE_RELATION || rte->requiredPerms == 0)
				continue;
			user = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
			if (user != ctx->role)
				continue;
			if (exempt_namespace(get_rel_namespace(rte->relid)))
				continue;

			if (rte->requiredPerms & ACL_SELECT)
				need |= HDB_PERM_READ;
			if (rte->requiredPerms & (ACL_INSERT | ACL_UPDATE))
				need |= HDB_PERM_WRITE;
			if (rte->requiredPerms & ACL_DELETE)
				need |= HDB_PERM_DELETE;
			if ((need & perms) != need)
			{
				uint32		missing = need & ~perms;

				if (!ereport_on_violation)
					return false;
				/* Name the first missing word. */
				refuse(missing & -missing,
					   psprintf("relation %s", get_rel_name(rte->relid)));
			}
		}
	}

	if (prev_ExecutorCheckPerms)
		return prev_ExecutorCheckPerms(rangeTable, ereport_on_violation);
	return true;
}

static void
guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	hdb_conn_login_apply();
	hdb_login_check_role();

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* Refuse role changes while a token login is locked to its role. */
static void
check_role_statement(Node *stmt)
{
	if (IsA(stmt, VariableSetStmt))
	{
		VariableSetStmt *vs = (VariableSetStmt *) stmt;

		if (vs->kind == VAR_RESET_ALL)
			hdb_login_refuse_role_change("RESET ALL");
		else if (vs->name != NULL && strcmp(vs->name, "role") == 0)
			hdb_login_refuse_role_change(vs->kind == VAR_RESET ?
										 "RESET ROLE" : "SET ROLE");
		else if (vs->name != NULL &&
				 strcmp(vs->name, "session_authorization") == 0)
			hdb_login_refuse_role_change("SET SESSION AUTHORIZATION");
	}
	else if (IsA(stmt, DiscardStmt) &&
			 ((DiscardStmt *) stmt)->target == DISCARD_ALL)
		hdb_login_refuse_role_change("DISCARD ALL");
}

/*
 * The permission a utility statement needs: 0 for none, a HDB_PERM_* bit,
 * or HDB_PERMISSIONS_ALL for "*".  *ddl is set for the statements that
 * may fire table-creation event triggers.
 */
static uint32
utility_permission(Node *stmt, bool *ddl)
{
	*ddl = false;
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_ExplainStmt:
		case T_DoStmt:
		case T_CallStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_NotifyStmt:
		case T_ConstraintsSetStmt:
			return 0;
		case T_CopyStmt:
			/* The relation is checked by ExecutorCheckPerms too. */
			return ((CopyStmt *) stmt)->is_from ? HDB_PERM_WRITE : 0;
		case T_TruncateStmt:
			return HDB_PERM_DELETE;
		case T_CreateStmt:
			*ddl = true;
			return HDB_PERM_CREATE_TABLE;
		case T_CreateTableAsStmt:
			*ddl = true;
			return ((CreateTableAsStmt *) stmt)->objtype == OBJECT_MATVIEW ?
				HDB_PERM_CREATE_VIEW : HDB_PERM_CREATE_TABLE;
		case T_ViewStmt:
			*ddl = true;
			return HDB_PERM_CREATE_VIEW;
		default:
			return HDB_PERMISSIONS_ALL;
	}
}

/* Statements automatic tenant isolation runs for a new table. */
static bool
is_isolation_followup(Node *stmt)
{
	return IsA(stmt, AlterTableStmt) || IsA(stmt, CreatePolicyStmt) ||
		IsA(stmt, IndexStmt);
}

static void
guard_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	const HdbSecurityContext *ctx;
	uint32		perms;
	bool		ddl = false;
	bool		counted = false;

	hdb_conn_login_apply();
	perms = current_permissions(&ctx);

	/*
	 * COMMIT and ROLLBACK must end a transaction whose role was tampered
	 * with; the commit's own check then refuses it.
	 */
	if (!IsParallelWorker() && !IsA(stmt, TransactionStmt))
	{
		hdb_login_check_role();
		check_role_statement(stmt);
	}

	if (perms != HDB_PERMISSIONS_ALL &&
		!(allowed_ddl_depth > 0 && is_isolation_followup(stmt)))
	{
		uint32		need = utility_permission(stmt, &ddl);

		if (need != 0 && (perms & need) != need)
		{
			CommandTag	tag = CreateCommandTag(stmt);

			refuse(need == HDB_PERMISSIONS_ALL ? HDB_PERMISSIONS_ALL : need,
				   GetCommandTagName(tag));
		}
		counted = ddl;
	}

	if (counted)
		allowed_ddl_depth++;
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
		if (counted)
			allowed_ddl_depth--;
	}
	PG_END_TRY();
}
