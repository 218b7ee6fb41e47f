/*-------------------------------------------------------------------------
 *
 * format.c
 *	  Formatting of audit records: one JSON object per record, built once
 *	  in the audited backend and written as is to every sink (the database
 *	  sink loads it with jsonb_populate_record), and the scrubbing of API
 *	  keys and tokens out of free text.
 *
 * The session fields (user, tenant, role, client address, session id,
 * database) are taken here, from the backend's state, so that callers
 * only describe the event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "common/ip.h"
#include "commands/dbcommands.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "audit/audit_internal.h"
#include "tenant/hdb_tenant.h"

/* Per-session values, computed once. */
static char *session_id = NULL;
static char *client_addr = NULL;
static bool client_addr_known = false;
static char *database_name = NULL;

static void
append_json_string(StringInfo buf, const char *key, const char *value)
{
	appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The client's numeric address, or NULL for Unix-socket connections. */
static const char *
get_client_addr(void)
{
	char		host[NI_MAXHOST];

	if (client_addr_known)
		return client_addr;
	client_addr_known = true;
	if (MyProcPort == NULL ||
		(MyProcPort->raddr.addr.ss_family != AF_INET &&
		 MyProcPort->raddr.addr.ss_family != AF_INET6))
		return NULL;
	if (pg_getnameinfo_all(&MyProcPort->raddr.addr, MyProcPort->raddr.salen,
						   host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		return NULL;
	client_addr = MemoryContextStrdup(TopMemoryContext, host);
	return client_addr;
}

static const char *
get_session_id(void)
{
	if (session_id == NULL)
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "%lx.%x", (long) MyStartTime, MyProcPid);
		session_id = MemoryContextStrdup(TopMemoryContext, buf);
	}
	return session_id;
}

static const char *
get_database(void)
{
	if (database_name == NULL && OidIsValid(MyDatabaseId))
	{
		char	   *name = get_database_name(MyDatabaseId);

		if (name != NULL)
			database_name = MemoryContextStrdup(TopMemoryContext, name);
	}
	return database_name;
}

/* ISO 8601 in UTC with microseconds, independent of DateStyle/TimeZone. */
static void
append_timestamp(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * Format a record as one line of JSON (no newline).  The result is
 * palloc'd in the current memory context.
 */
char *
hdb_audit_format(const HdbAuditRecord *rec, int *len)
{
	StringInfoData buf;
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();
	const char *user_id = NULL;
	const char *role = NULL;
	char		request_id[96];
	ListCell   *lc;

	if (ctx->source != HDB_SOURCE_NONE && ctx->user_id[0] != '\0')
		user_id = ctx->user_id;
	else if (OidIsValid(GetSessionUserId()))
		user_id = GetUserNameFromId(GetSessionUserId(), true);
	if (OidIsValid(GetUserId()))
		role = GetUserNameFromId(GetUserId(), true);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"timestamp\":");
	append_timestamp(&buf, rec->ts != 0 ? rec->ts : GetCurrentTimestamp());
	append_json_string(&buf, "event_type", hdb_audit_event_name(rec->event_type));
	append_json_string(&buf, "user_id", user_id);
	append_json_string(&buf, "tenant_id",
					   ctx->source != HDB_SOURCE_NONE && ctx->has_tenant ?
					   ctx->tenant_name : NULL);
	append_json_string(&buf, "role", role);
	append_json_string(&buf, "ip_address", get_client_addr());
	append_json_string(&buf, "action", rec->action);
	append_json_string(&buf, "resource", rec->resource);
	append_json_string(&buf, "query", rec->query);

	appendStringInfoString(&buf, ",\"params\":");
	if (rec->nparams <= 0)
		appendStringInfoString(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		for (int i = 0; i < rec->nparams; i++)
		{
			const char *v = rec->param_values ? rec->param_values[i] : NULL;

			if (i > 0)
				appendStringInfoChar(&buf, ',');
			if (rec->param_values == NULL)
				escape_json(&buf, "[REDACTED]");
			else if (v == NULL)
				appendStringInfoString(&buf, "null");
			else
				escape_json(&buf, hdb_audit_scrub_secrets(v));
		}
		appendStringInfoChar(&buf, ']');
	}

	append_json_string(&buf, "result", hdb_audit_result_name(rec->result));
	append_json_string(&buf, "error_code", rec->error_code);
	append_json_string(&buf, "error_message",
					   rec->error_message ?
					   hdb_audit_scrub_secrets(rec->error_message) : NULL);
	if (rec->rows_affected >= 0)
		appendStringInfo(&buf, ",\"rows_affected\":" INT64_FORMAT,
						 rec->rows_affected);
	else
		appendStringInfoString(&buf, ",\"rows_affected\":null");
	if (rec->duration_ms >= 0)
		appendStringInfo(&buf, ",\"duration_ms\":%.3f", rec->duration_ms);
	else
		appendStringInfoString(&buf, ",\"duration_ms\":null");

	appendStringInfoString(&buf, ",\"rls_policies_applied\":");
	if (rec->rls_policies == NIL)
		appendStringInfoString(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		foreach(lc, rec->rls_policies)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoChar(&buf, ',');
			escape_json(&buf, (const char *) lfirst(lc));
		}
		appendStringInfoChar(&buf, ']');
	}

	snprintf(request_id, sizeof(request_id), "%s.%llu", get_session_id(),
			 (unsigned long long) rec->request_no);
	append_json_string(&buf, "request_id", request_id);
	append_json_string(&buf, "session_id", get_session_id());
	append_json_string(&buf, "database", get_database());
	appendStringInfoChar(&buf, '}');

	*len = buf.len;
	return buf.data;
}

static bool
is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-';
}

/*
 * Length of a secret starting at s: an API key "hdb_sk_..." or a JWT
 * (three base64url parts, the first starting with "eyJ").  0 when s does
 * not start one.
 */
static int
secret_length(const char *s)
{
	int			n = 0;
	int			dots = 0;

	if (strncmp(s, "hdb_sk_", 7) == 0)
	{
		n = 7;
		while (is_token_char(s[n]))
			n++;
		return n;
	}
	if (strncmp(s, "eyJ", 3) == 0)
	{
		while (is_token_char(s[n]) || s[n] == '.')
		{
			if (s[n] == '.')
				dots++;
			n++;
		}
		return dots >= 2 ? n : 0;
	}
	return 0;
}

/* Whether s contains an API key or a token. */
bool
hdb_audit_has_secret(const char *s)
{
	for (const char *p = s; *p; p++)
	{
		if ((p == s || !is_token_char(p[-1])) && secret_length(p) > 0)
			return true;
	}
	return false;
}

/*
 * A copy of s with every API key and token replaced by [REDACTED]; s itself
 * when it holds none.
 */
char *
hdb_audit_scrub_secrets(const char *s)
{
	StringInfoData buf;
	const char *p = s;

	if (!hdb_audit_has_secret(s))
		return (char *) s;
	initStringInfo(&buf);
	while (*p)
	{
		int			n = 0;

		if (p == s || !is_token_char(p[-1]))
			n = secret_length(p);
		if (n > 0)
		{
			appendStringInfoString(&buf, "[REDACTED]");
			p += n;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	return buf.data;
}
