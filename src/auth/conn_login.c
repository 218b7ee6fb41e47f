/*-------------------------------------------------------------------------
 *
 * conn_login.c
 *	  Token login at connection time, for the roles listed in
 *	  heliosdb.token_login_roles.
 *
 * ClientAuthentication_hook runs after the client authenticated (by
 * pg_hba.conf's method) and before any database is open.  For a listed
 * role it requires the startup option heliosdb.jwt (PGOPTIONS='-c
 * heliosdb.jwt=...'), verifies the token with the keys of
 * heliosdb.jwt_secret / heliosdb.jwt_key_file as postgresql.conf sets
 * them (the key file is read into backend memory; no catalog is read), and
 * refuses the connection with FATAL 28000 when that fails.
 *
 * The token option is taken out of the startup options before they are
 * applied (so it is never a setting SHOW or pg_settings could display), as
 * is any "role" option of the client; the token's role is put in its
 * place, so that normal startup switches to it with its own membership
 * check.  The rest of the login (tenant, user, permissions, claims) needs
 * a transaction and the database's registry: it is kept pending and
 * established through hdb_login_establish() at the start of the first
 * statement, again at each statement until a transaction that did so
 * commits (an aborted first transaction must not lose it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "auth/auth_internal.h"

char	   *hdb_token_login_roles = NULL;

static ClientAuthentication_hook_type prev_client_auth = NULL;

/* The verified connection login, until a transaction established it. */
static HdbLogin *pending = NULL;
static Jsonb *pending_claims = NULL;
static bool applied_in_xact = false;

static void conn_login_xact_callback(XactEvent event, void *arg);

/* Is this role one of heliosdb.token_login_roles? */
static bool
role_requires_token(const char *role)
{
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (hdb_token_login_roles == NULL || hdb_token_login_roles[0] == '\0')
		return false;
	copy = pstrdup(hdb_token_login_roles);
	if (!SplitIdentifierString(copy, ',', &names))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"heliosdb.token_login_roles\"")));
	foreach(lc, names)
	{
		if (strcmp(lfirst(lc), role) == 0)
			found = true;
	}
	list_free(names);
	pfree(copy);
	return found;
}

static char *
top_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

/*
 * Is a "name=value" startup setting one the token login takes away?
 * Returns a copy of the value of heliosdb.jwt through *token and wipes
 * the original.
 */
static bool
taken_setting(char *setting, char **token)
{
	char	   *eq = strchr(setting, '=');
	size_t		n = eq ? eq - setting : strlen(setting);

	if (n == strlen("heliosdb.jwt") &&
		pg_strncasecmp(setting, "heliosdb.jwt", n) == 0)
	{
		*token = pstrdup(eq ? eq + 1 : "");
		explicit_bzero(setting, strlen(setting));
		return true;
	}
	return (n == strlen("role") && pg_strncasecmp(setting, "role", n) == 0) ||
		(n == strlen("session_authorization") &&
		 pg_strncasecmp(setting, "session_authorization", n) == 0);
}

/* Append an option word, escaped the way pg_split_opts() reads it. */
static void
append_option(StringInfo buf, const char *word)
{
	if (buf->len > 0)
		appendStringInfoChar(buf, ' ');
	for (const char *p = word; *p; p++)
	{
		if (*p == ' ' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
}

/*
 * Remove heliosdb.jwt, role and session_authorization from the client's
 * startup options (both the "options" string and separate parameters) and
 * return the token, or NULL.  The "options" string is rebuilt without them.
 */
static char *
take_options(Port *port)
{
	char	   *token = NULL;
	List	   *kept = NIL;
	ListCell   *lc;

	if (port->cmdline_options != NULL)
	{
		int			maxac = 2 + (strlen(port->cmdline_options) + 1) / 2;
		char	  **av = palloc0(maxac * sizeof(char *));
		int			ac = 0;
		StringInfoData rebuilt;

		pg_split_opts(av, &ac, port->cmdline_options);
		initStringInfo(&rebuilt);
		for (int i = 0; i < ac; i++)
		{
			char	   *arg = av[i];
			char	   *setting = NULL;
			bool		separate = false;

			if (strcmp(arg, "-c") == 0 && i + 1 < ac)
			{
				setting = av[i + 1];
				separate = true;
			}
			else if (strncmp(arg, "-c", 2) == 0)
				setting = arg + 2;
			else if (strncmp(arg, "--", 2) == 0)
				setting = arg + 2;

			if (setting != NULL && taken_setting(setting, &token))
			{
				if (separate)
					i++;
				continue;
			}
			append_option(&rebuilt, arg);
			if (separate)
				append_option(&rebuilt, av[++i]);
		}
		explicit_bzero(port->cmdline_options, strlen(port->cmdline_options));
		port->cmdline_options = rebuilt.data;
	}

	lc = list_head(port->guc_options);
	while (lc != NULL)
	{
		char	   *name = lfirst(lc);
		char	   *value;

		lc = lnext(port->guc_options, lc);
		if (lc == NULL)
			break;
		value = lfirst(lc);
		lc = lnext(port->guc_options, lc);

		if (pg_strcasecmp(name, "heliosdb.jwt") == 0)
		{
			token = pstrdup(value);
			explicit_bzero(value, strlen(value));
		}
		else if (pg_strcasecmp(name, "role") != 0 &&
				 pg_strcasecmp(name, "session_authorization") != 0)
			kept = lappend(lappend(kept, name), value);
	}
	port->guc_options = kept;
	return token;
}

static void
conn_login_hook(Port *port, int status)
{
	char	   *token;
	MemoryContext verify_cxt,
				old;
	HdbJwtResult jwt;

	if (prev_client_auth)
		prev_client_auth(port, status);
	if (status != STATUS_OK || !role_requires_token(port->user_name))
		return;

	/* Take the token and any role choice out of the startup options. */
	old = MemoryContextSwitchTo(TopMemoryContext);
	token = take_options(port);
	MemoryContextSwitchTo(old);

	if (token == NULL || token[0] == '\0')
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" must log in with a token", port->user_name),
				 errhint("Pass a JWT in the startup option heliosdb.jwt, e.g. PGOPTIONS='-c heliosdb.jwt=...'.")));

	verify_cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "heliosdb connection login",
									   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(verify_cxt);
	/* Errors here have no handler yet: they end the connection (FATAL). */
	hdb_jwt_verify(token, strlen(token), &jwt);
	explicit_bzero(token, strlen(token));
	if (jwt.tenant != NULL && !hdb_tenant_name_is_valid(jwt.tenant))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("tenant of the login does not exist")));

	MemoryContextSwitchTo(TopMemoryContext);
	pending = palloc0(sizeof(HdbLogin));
	pending->source = HDB_SOURCE_JWT;
	pending->user_id = top_strdup(jwt.user_id);
	pending->tenant = top_strdup(jwt.tenant);
	pending->role = top_strdup(jwt.role);
	pending->permissions = jwt.permissions;
	pending->expires_at = jwt.expires_at;
	pending->local = false;
	pending_claims = palloc(VARSIZE(jwt.claims));
	memcpy(pending_claims, jwt.claims, VARSIZE(jwt.claims));
	if (jwt.role != NULL)
		port->guc_options = lappend(lappend(port->guc_options,
											pstrdup("role")),
									pstrdup(jwt.role));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(verify_cxt);
}

/*
 * Establish a pending connection login; called at the start of every
 * statement (guard.c).
 */
void
hdb_conn_login_apply(void)
{
	if (pending == NULL || applied_in_xact || !IsTransactionState() ||
		IsParallelWorker())
		return;
	applied_in_xact = true;
	hdb_login_establish(pending);
	hdb_login_remember_claims(pending_claims);
}

static void
conn_login_xact_callback(XactEvent event, void *arg)
{
	if (!applied_in_xact)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
	{
		/* Established for good; the strings are no longer needed. */
		pending = NULL;
		pending_claims = NULL;
		applied_in_xact = false;
	}
	else if (event == XACT_EVENT_ABORT)
		applied_in_xact = false;
}

void
hdb_conn_login_init(void)
{
	DefineCustomStringVariable("heliosdb.token_login_roles",
							   "Roles that must log in with a token at connection time.",
							   "The token is passed in the startup option heliosdb.jwt.",
							   &hdb_token_login_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	prev_client_auth = ClientAuthentication_hook;
	ClientAuthentication_hook = conn_login_hook;
	RegisterXactCallback(conn_login_xact_callback, NULL);
}
