/*-------------------------------------------------------------------------
 *
 * login.c
 *	  Turning a verified identity into the session's security context:
 *	  tenant, user, role and permission set.  Shared by every kind of
 *	  login (JWT, API key, connection-time).
 *
 * A token login always pins a role: the one it names, or else the role in
 * effect when it logged in.  While the login lasts and
 * heliosdb.lock_role_after_login is on, the session must keep that role
 * (see role_lock.c); logout() returns to the session user.
 *
 * The verified claims of a JWT login are kept next to the context they
 * produced, in a short list that follows transaction semantics like the
 * context itself: records made in an aborted (sub)transaction are dropped.
 * jwt_claims() returns the newest record whose context is the one in
 * effect, so a rolled-back or expired login never shows its claims.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "auth/auth_internal.h"

/* Most committed claim records kept. */
#define MAX_CLAIM_RECORDS 8

typedef struct ClaimsRecord
{
	HdbSecurityContext ctx;		/* the context the login established */
	SubTransactionId subid;		/* creating subxact; Invalid once committed */
	Jsonb	   *claims;
	struct ClaimsRecord *next;	/* older record */
} ClaimsRecord;

static ClaimsRecord *claims_records = NULL;
static bool callbacks_registered = false;

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
		hdb_role_lock_set_role(login->role, login->local);
	}
	else
	{
		/* No role named: the login pins the one in effect. */
		ctx.role = GetOuterUserId();
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
		hdb_role_lock_set_role("none", false);
	hdb_context_reset();
}

PG_FUNCTION_INFO_V1(hdb_logout_sql);
Datum
hdb_logout_sql(PG_FUNCTION_ARGS)
{
	hdb_logout();
	PG_RETURN_VOID();
}

/* Do two contexts describe the same login? */
static bool
same_login(const HdbSecurityContext *a, const HdbSecurityContext *b)
{
	return a->source == b->source &&
		a->local == b->local &&
		a->has_tenant == b->has_tenant &&
		strcmp(a->tenant_name, b->tenant_name) == 0 &&
		strcmp(a->user_id, b->user_id) == 0 &&
		a->role == b->role &&
		a->permissions == b->permissions &&
		a->expires_at == b->expires_at;
}

static void
drop_record(ClaimsRecord **link)
{
	ClaimsRecord *r = *link;

	*link = r->next;
	pfree(r->claims);
	pfree(r);
}

static void
claims_xact_callback(XactEvent event, void *arg)
{
	ClaimsRecord **link = &claims_records;
	int			kept = 0;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			/* Keep the newest few; they are committed now. */
			while (*link != NULL)
			{
				if (kept++ >= MAX_CLAIM_RECORDS)
					drop_record(link);
				else
				{
					(*link)->subid = InvalidSubTransactionId;
					link = &(*link)->next;
				}
			}
			break;
		case XACT_EVENT_ABORT:
			while (*link != NULL)
			{
				if ((*link)->subid != InvalidSubTransactionId)
					drop_record(link);
				else
					link = &(*link)->next;
			}
			break;
		default:
			break;
	}
}

static void
claims_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	ClaimsRecord **link = &claims_records;

	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (*link != NULL)
	{
		if ((*link)->subid == mySubid && event == SUBXACT_EVENT_ABORT_SUB)
		{
			drop_record(link);
			continue;
		}
		if ((*link)->subid == mySubid)
			(*link)->subid = parentSubid;
		link = &(*link)->next;
	}
}

/*
 * Remember the verified claims of the JWT login just established.
 */
void
hdb_login_remember_claims(Jsonb *claims)
{
	ClaimsRecord *r;

	if (!callbacks_registered)
	{
		RegisterXactCallback(claims_xact_callback, NULL);
		RegisterSubXactCallback(claims_subxact_callback, NULL);
		callbacks_registered = true;
	}
	r = MemoryContextAlloc(TopMemoryContext, sizeof(ClaimsRecord));
	r->ctx = *hdb_context_get_unchecked();
	r->subid = GetCurrentSubTransactionId();

	/*
	 * Earlier records of this same (sub)transaction can no longer come back
	 * into effect once this login replaces them, except a session login that
	 * a local one only hides until the transaction ends.
	 */
	while (claims_records != NULL && claims_records->subid == r->subid &&
		   (claims_records->ctx.local || !r->ctx.local))
		drop_record(&claims_records);
	r->claims = MemoryContextAlloc(TopMemoryContext, VARSIZE(claims));
	memcpy(r->claims, claims, VARSIZE(claims));
	r->next = claims_records;
	claims_records = r;
}

/*
 * The verified claims of the JWT login in effect, or NULL.
 */
Jsonb *
hdb_login_current_claims(void)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();

	if (ctx->source != HDB_SOURCE_JWT)
		return NULL;
	for (ClaimsRecord *r = claims_records; r != NULL; r = r->next)
		if (same_login(&r->ctx, ctx))
			return r->claims;
	return NULL;
}
