/*-------------------------------------------------------------------------
 *
 * login.c
 *	  Turning a verified identity into the session's security context:
 *	  tenant, user, role and permission set.  Shared by every kind of
 *	  login (JWT, API key, connection-time).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "auth/hdb_auth.h"

/*
 * Map a permission word to its bit; 0 for an unknown word.  "*" grants
 * every permission.
 */
uint32
hdb_permission_bit(const char *word)
{
	static const struct
	{
		const char *word;
		uint32		bit;
	}			words[] =
	{
		{"read", HDB_PERM_READ},
		{"write", HDB_PERM_WRITE},
		{"delete", HDB_PERM_DELETE},
		{"create_table", HDB_PERM_CREATE_TABLE},
		{"create_view", HDB_PERM_CREATE_VIEW},
		{"batch_write", HDB_PERM_BATCH_WRITE},
		{"run_analytics", HDB_PERM_RUN_ANALYTICS},
		{"*", HDB_PERMISSIONS_ALL},
	};

	for (int i = 0; i < lengthof(words); i++)
		if (strcmp(word, words[i].word) == 0)
			return words[i].bit;
	return 0;
}

/*
 * Establish the context of a verified login.  An unknown tenant is refused
 * with 28000; a role the session user is not a member of with 42501 (by
 * the role assignment's own check).  Both the context and the role follow
 * transaction semantics: a failed login leaves the session as it was.
 */
void
hdb_login_establish(const HdbLogin *login)
{
	HdbSecurityContext ctx;

	Assert(login->source == HDB_SOURCE_JWT || login->source == HDB_SOURCE_APIKEY);

	memset(&ctx, 0, sizeof(ctx));
	ctx.source = login->source;
	ctx.local = login->local;
	ctx.permissions = login->permissions;
	ctx.expires_at = login->expires_at;
	ctx.role = InvalidOid;

	if (login->user_id != NULL)
	{
		if (strlen(login->user_id) >= HDB_USER_ID_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("user id of the login is too long"),
					 errdetail("User ids are at most %d bytes.", HDB_USER_ID_MAX - 1)));
		strlcpy(ctx.user_id, login->user_id, sizeof(ctx.user_id));
	}

	if (login->tenant != NULL)
	{
		if (!hdb_tenant_name_is_valid(login->tenant) ||
			!hdb_registry_lookup_name(login->tenant, &ctx.tenant_id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("tenant of the login does not exist")));
		ctx.has_tenant = true;
		ctx.tenant_resolved = true;
		ctx.registry_generation = hdb_registry_generation();
		strlcpy(ctx.tenant_name, login->tenant, sizeof(ctx.tenant_name));
	}

	if (login->role != NULL)
	{
		ctx.role = get_role_oid(login->role, false);
		(void) set_config_option("role", login->role, PGC_USERSET,
								 PGC_S_SESSION,
								 login->local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
								 true, 0, false);
	}

	hdb_context_set(&ctx);
}

/*
 * End a token login: drop the context and return to the session user's
 * role.
 */
void
hdb_logout(void)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();

	if (OidIsValid(ctx->role))
		(void) set_config_option("role", "none", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SET, true, 0, false);
	hdb_context_reset();
}

PG_FUNCTION_INFO_V1(hdb_logout_sql);
Datum
hdb_logout_sql(PG_FUNCTION_ARGS)
{
	hdb_logout();
	PG_RETURN_VOID();
}
