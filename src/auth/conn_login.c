/*-------------------------------------------------------------------------
 *
 * conn_login.c
 *	  Token login at connection time, for the roles listed in
 *	  heliosdb.token_login_roles.
 *
 * ClientAuthentication_hook runs after the client authenticated (by
 * pg_hba.conf's method) and before any database is open.  For a listed
 * role it requires one of the startup options heliosdb.jwt or
 * heliosdb.api_key (PGOPTIONS='-c heliosdb.jwt=...'), verifies it, and
 * refuses the connection with FATAL (class 28) when that fails.  A JWT is
 * verified with the keys of heliosdb.jwt_secret / heliosdb.jwt_key_file as
 * postgresql.conf sets them (the key file is read into backend memory); an
 * API key against the key table in shared memory (apikey_conn.c).  No
 * catalog is read.
 *
 * The token option is taken out of the startup options before they are
 * applied (so it is never a setting SHOW or pg_settings could display), as
 * is any "role" option of the client; the token's role is put in its
 * place, so that normal startup switches to it with its own membership
 * check.  The rest of the login (tenant, user, permissions, claims) needs
 * a transaction and the database's registry: it is kept pending (for an
 * API key, completed by hdb_apikey_conn_finish() first) and
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

#include "auth/apikey_internal.h"
#include "auth/auth_internal.h"

char	   *hdb_token_login_roles = NULL;

static ClientAuthentication_hook_type prev_client_auth = NULL;

/* The verified connection login, until a transaction established it. */
static HdbLogin *pending = NULL;
static Jsonb *pending_claims = NULL;
static HdbApikeyConnLogin *pending_key = NULL;
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

/* Credentials a client can pass, indexed by TokenKind. */
typedef enum TokenKind
{
	TOKEN_JWT = 0,
	TOKEN_API_KEY,
	NUM_TOKEN_KINDS
} TokenKind;

static const char *const token_options[NUM_TOKEN_KINDS] = {
	"heliosdb.jwt", "heliosdb.api_key"
};

/* Which token option "name" (of "n" bytes) is; -1 for none. */
static int
token_kind(const char *name, size_t n)
{
	for (int k = 0; k < NUM_TOKEN_KINDS; k++)
	{
		if (n == strlen(token_options[k]) &&
			pg_strncasecmp(name, token_options[k], n) == 0)
			return k;
	}
	return -1;
}

/* Keep a token's value: a copy in tokens[kind]; the original is wiped. */
static void
take_token(char **tokens, int kind, char *value)
{
	if (tokens[kind] != NULL)
		explicit_bzero(tokens[kind], strlen(tokens[kind]));
	tokens[kind] = pstrdup(value);
	explicit_bzero(value, strlen(value));
}

/*
 * Is a "name=value" startup setting one the token login takes away?
 * Takes the value of a token option into tokens[] and wipes the original.
 */
static bool
taken_setting(char *setting, char **tokens)
{
	char	   *eq = strchr(setting, '=');
	size_t		n = eq ? eq - setting : strlen(setting);
	int			kind = token_kind(setting, n);

	if (kind >= 0)
	{
		if (eq != NULL)
			take_token(tokens, kind, eq + 1);
		else
			tokens[kind] = pstrdup("");
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
 * Remove the token options, role and session_authorization from the
 * client's startup options (both the "options" string and separate
 * parameters) and return the tokens in tokens[] (NULL for an absent one).
 * The "options" string is rebuilt without them.
 */
static void
take_options(Port *port, char **tokens)
{
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

			if (setting != NULL && taken_setting(setting, tokens))
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

		if (token_kind(name, strlen(name)) >= 0)
			take_token(tokens, token_kind(name, strlen(name)), value);
		else if (pg_strcasecmp(name, "role") != 0 &&
				 pg_strcasecmp(name, "session_authorization") != 0)
			kept = lappend(lappend(kept, name), value);
	}
	port->guc_options = kept;
}

/* Verify a JWT and keep its login pending; "token" is wiped. */
static void
verify_jwt(Port *port, char *token)
{
	HdbJwtResult jwt;
	MemoryContext old;

	hdb_jwt_verify(token, strlen(token), &jwt);
	explicit_bzero(token, strlen(token));
	if (jwt.tenant != NULL && !hdb_tenant_name_is_valid(jwt.tenant))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("tenant of the login does not exist")));

	old = MemoryContextSwitchTo(TopMemoryContext);
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
	MemoryContextSwitchTo(old);
}

/*
 * Verify an API key and keep its login pending; "key" is wiped.  The key
 * is confirmed against the key table, and the permission set and tenant
 * filled in, at the first statement (hdb_apikey_conn_finish()).
 */
static void
verify_api_key(Port *port, char *key)
{
	HdbApikeyConnLogin result;
	MemoryContext old;

	hdb_apikey_conn_verify(port->database_name, key, &result);

	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_key = palloc(sizeof(HdbApikeyConnLogin));
	*pending_key = result;
	explicit_bzero(&result, sizeof(result));
	pending = palloc0(sizeof(HdbLogin));
	pending->source = HDB_SOURCE_APIKEY;
	pending->user_id = pending_key->key_id;
	pending->tenant = NULL;
	pending->role = pending_key->role;
	pending->permissions = 0;
	pending->expires_at = pending_key->expires_at;
	pending->local = false;
	MemoryContextSwitchTo(old);
}

static void
conn_login_hook(Port *port, int status)
{
	char	   *tokens[NUM_TOKEN_KINDS] = {NULL, NULL};
	MemoryContext verify_cxt,
				old;

	if (prev_client_auth)
		prev_client_auth(port, status);
	if (status != STATUS_OK || !role_requires_token(port->user_name))
		return;

	/* Take the tokens and any role choice out of the startup options. */
	old = MemoryContextSwitchTo(TopMemoryContext);
	take_options(port, tokens);
	MemoryContextSwitchTo(old);

	if (tokens[TOKEN_JWT] != NULL && tokens[TOKEN_API_KEY] != NULL)
	{
		for (int k = 0; k < NUM_TOKEN_KINDS; k++)
			explicit_bzero(tokens[k], strlen(tokens[k]));
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" must log in with exactly one token",
						port->user_name),
				 errdetail("Both heliosdb.jwt and heliosdb.api_key were given.")));
	}
	if ((tokens[TOKEN_JWT] == NULL || tokens[TOKEN_JWT][0] == '\0') &&
		(tokens[TOKEN_API_KEY] == NULL || tokens[TOKEN_API_KEY][0] == '\0'))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" must log in with a token", port->user_name),
				 errhint("Pass a JWT in the startup option heliosdb.jwt or an API key in heliosdb.api_key, e.g. PGOPTIONS='-c heliosdb.jwt=...'.")));

	verify_cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "heliosdb connection login",
									   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(verify_cxt);
	/* Errors here have no handler yet: they end the connection (FATAL). */
	if (tokens[TOKEN_JWT] != NULL)
		verify_jwt(port, tokens[TOKEN_JWT]);
	else
		verify_api_key(port, tokens[TOKEN_API_KEY]);

	MemoryContextSwitchTo(TopMemoryContext);
	if (pending->role != NULL)
		port->guc_options = lappend(lappend(port->guc_options,
											pstrdup("role")),
									pstrdup(pending->role));
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
	if (pending_key != NULL)
		hdb_apikey_conn_finish(pending_key, pending);
	hdb_login_establish(pending);
	if (pending_claims != NULL)
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
		if (pending_key != NULL)
			explicit_bzero(pending_key, sizeof(HdbApikeyConnLogin));
		pending = NULL;
		pending_claims = NULL;
		pending_key = NULL;
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
							   "The token is passed in the startup option heliosdb.jwt or heliosdb.api_key.",
							   &hdb_token_login_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	prev_client_auth = ClientAuthentication_hook;
	ClientAuthentication_hook = conn_login_hook;
	RegisterXactCallback(conn_login_xact_callback, NULL);
}
