/*-------------------------------------------------------------------------
 *
 * role_lock.c
 *	  While a token login is in effect, its role stays the session's role
 *	  (heliosdb.lock_role_after_login, on by default).
 *
 * Three layers:
 *
 * 1. Statements: SET ROLE, RESET ROLE, SET SESSION AUTHORIZATION, RESET
 *	  ALL and DISCARD ALL are refused up front by the utility hook
 *	  (guard.c calls hdb_login_refuse_role_change()).
 *
 * 2. Everything else that assigns the "role" or "session_authorization"
 *	  settings -- set_config(), a function's SET clause, RESET through
 *	  set_config(name, NULL) -- goes through those settings' assign hooks.
 *	  At load time the hooks of both core settings are wrapped: after the
 *	  core hook ran, an assignment made inside a running transaction while
 *	  the role is locked (and not by heliosdb's own login or logout) is
 *	  neutralized at once by switching the effective role back to the
 *	  login's, and the transaction is marked as tampered with.  Assign
 *	  hooks cannot fail, hence the mark.  Assignments made while a
 *	  transaction commits or aborts restore earlier values and are left
 *	  alone.
 *
 * 3. A transaction so marked cannot go on: every later statement start
 *	  (ExecutorStart, ProcessUtility) and its commit raise 42501, until the
 *	  top-level transaction aborts and the GUC machinery undoes the
 *	  assignment.  The same checks also catch any other way the role might
 *	  have changed (the effective role differs from the login's).
 *
 * Wrapping core assign hooks is unusual; it is done because no other hook
 * sees set_config('role', ...) before the rest of the statement runs with
 * the new role's privileges.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"

#include "auth/auth_internal.h"

static GucStringAssignHook prev_assign_role = NULL;
static GucStringAssignHook prev_assign_session_auth = NULL;

/* Set while heliosdb itself switches role (login, logout). */
static bool own_role_change = false;

/* The role settings were assigned in this transaction behind the lock. */
static bool tampered = false;

static void role_lock_xact_callback(XactEvent event, void *arg);

/*
 * The context of the token login whose role is locked, or NULL.
 */
static const HdbSecurityContext *
locked_login(void)
{
	const HdbSecurityContext *ctx;

	if (!hdb_lock_role_after_login || IsParallelWorker() ||
		InitializingParallelWorker)
		return NULL;
	ctx = hdb_context_get_unchecked();
	if ((ctx->source != HDB_SOURCE_JWT && ctx->source != HDB_SOURCE_APIKEY) ||
		!OidIsValid(ctx->role))
		return NULL;
	return ctx;
}

/*
 * After a role setting was assigned: keep the login's role in effect if
 * the assignment went behind the lock.
 */
static void
enforce_after_assign(void)
{
	const HdbSecurityContext *ctx;

	if (own_role_change || !IsTransactionState())
		return;
	ctx = locked_login();
	if (ctx == NULL)
		return;
	tampered = true;
	if (GetOuterUserId() != ctx->role)
		SetCurrentRoleId(ctx->role, superuser_arg(ctx->role));
}

static void
wrapped_assign_role(const char *newval, void *extra)
{
	if (prev_assign_role)
		prev_assign_role(newval, extra);
	enforce_after_assign();
}

static void
wrapped_assign_session_auth(const char *newval, void *extra)
{
	if (prev_assign_session_auth)
		prev_assign_session_auth(newval, extra);
	enforce_after_assign();
}

/*
 * Wrap the assign hooks of the core settings "role" and
 * "session_authorization"; called while the library is preloaded, so
 * every backend inherits the wrapped hooks.
 */
void
hdb_role_lock_init(void)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
	{
		struct config_generic *gen = vars[i];
		struct config_string *conf;

		if (gen->vartype != PGC_STRING)
			continue;
		conf = (struct config_string *) gen;
		if (strcmp(gen->name, "role") == 0 && prev_assign_role == NULL)
		{
			prev_assign_role = conf->assign_hook;
			conf->assign_hook = wrapped_assign_role;
		}
		else if (strcmp(gen->name, "session_authorization") == 0 &&
				 prev_assign_session_auth == NULL)
		{
			prev_assign_session_auth = conf->assign_hook;
			conf->assign_hook = wrapped_assign_session_auth;
		}
	}
	if (prev_assign_role == NULL || prev_assign_session_auth == NULL)
		elog(ERROR, "could not find the role settings to guard");
	RegisterXactCallback(role_lock_xact_callback, NULL);
}

/*
 * Switch role on behalf of a login or logout ("none" for the session
 * user), past the lock.
 */
void
hdb_role_lock_set_role(const char *role, bool local)
{
	own_role_change = true;
	PG_TRY();
	{
		(void) set_config_option("role", role, PGC_USERSET, PGC_S_SESSION,
								 local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
								 true, 0, false);
	}
	PG_FINALLY();
	{
		own_role_change = false;
	}
	PG_END_TRY();
}

/*
 * Refuse a statement that would change the role while a token login is
 * locked to one; "what" names the statement.
 */
void
hdb_login_refuse_role_change(const char *what)
{
	if (locked_login() == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot execute %s while a token login is active", what),
			 errdetail("The login's role is locked by heliosdb.lock_role_after_login."),
			 errhint("Call heliosdb.logout() first.")));
}

/*
 * Refuse to go on when the role was changed behind the lock in this
 * transaction.
 */
void
hdb_login_check_role(void)
{
	const HdbSecurityContext *ctx;

	if (!tampered)
	{
		ctx = locked_login();
		if (ctx == NULL || GetOuterUserId() == ctx->role)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role changed while a token login is active"),
			 errdetail("The login's role is locked by heliosdb.lock_role_after_login; the transaction is rolled back."),
			 errhint("Call heliosdb.logout() before changing the role.")));
}

static void
role_lock_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			hdb_login_check_role();
			break;
		case XACT_EVENT_ABORT:
			/* The abort undoes the assignments; the session is clean. */
			tampered = false;
			break;
		default:
			break;
	}
}
