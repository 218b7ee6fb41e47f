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

/*
 * Append value as a JSON string.  Runs of characters that need no escape
 * are copied at once: records are formatted for every audited statement.
 */
static void
append_json_text(StringInfo buf, const char *value)
{
	const char *run = value;
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = value; *p; p++)
	{
		unsigned char c = (unsigned char) *p;
		const char *esc;
		char		ubuf[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(buf, run, p - run);
		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			default:
				snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
				esc = ubuf;
				break;
		}
		appendStringInfoString(buf, esc);
		run = p + 1;
	}
	appendBinaryStringInfo(buf, run, p - run);
	appendStringInfoCharMacro(buf, '"');
}

/* Append a string literal. */
#define append_literal(buf, lit) \
	appendBinaryStringInfo((buf), (lit), sizeof(lit) - 1)

/* Append ,"key":value with value a string or null; key needs no escape. */
#define append_json_string(buf, key, value) \
	do { \
		const char *value_ = (value); \
		append_literal((buf), ",\"" key "\":"); \
		if (value_ == NULL) \
			append_literal((buf), "null"); \
		else \
			append_json_text((buf), value_); \
	} while (0)

/* Append n as decimal digits, zero-padded to at least width digits. */
static void
append_digits(StringInfo buf, int64 n, int width)
{
	char		tmp[24];
	int			len = pg_lltoa(n, tmp);

	for (; len < width; width--)
		appendStringInfoCharMacro(buf, '0');
	appendBinaryStringInfo(buf, tmp, len);
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
		append_literal(buf, "null");
		return;
	}
	appendStringInfoCharMacro(buf, '"');
	append_digits(buf, tm.tm_year, 4);
	appendStringInfoCharMacro(buf, '-');
	append_digits(buf, tm.tm_mon, 2);
	appendStringInfoCharMacro(buf, '-');
	append_digits(buf, tm.tm_mday, 2);
	appendStringInfoCharMacro(buf, 'T');
	append_digits(buf, tm.tm_hour, 2);
	appendStringInfoCharMacro(buf, ':');
	append_digits(buf, tm.tm_min, 2);
	appendStringInfoCharMacro(buf, ':');
	append_digits(buf, tm.tm_sec, 2);
	appendStringInfoCharMacro(buf, '.');
	append_digits(buf, fsec, 6);
	append_literal(buf, "Z\"");
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
	ListCell   *lc;

	if (ctx->source != HDB_SOURCE_NONE && ctx->user_id[0] != '\0')
		user_id = ctx->user_id;
	else if (OidIsValid(GetSessionUserId()))
		user_id = GetUserNameFromId(GetSessionUserId(), true);
	if (OidIsValid(GetUserId()))
		role = GetUserNameFromId(GetUserId(), true);

	initStringInfo(&buf);
	append_literal(&buf, "{\"timestamp\":");
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

	append_literal(&buf, ",\"params\":");
	if (rec->nparams <= 0)
		append_literal(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		for (int i = 0; i < rec->nparams; i++)
		{
			const char *v = rec->param_values ? rec->param_values[i] : NULL;

			if (i > 0)
				appendStringInfoChar(&buf, ',');
			if (rec->param_values == NULL)
				append_json_text(&buf, "[REDACTED]");
			else if (v == NULL)
				append_literal(&buf, "null");
			else
				append_json_text(&buf, hdb_audit_scrub_secrets(v));
		}
		appendStringInfoChar(&buf, ']');
	}

	append_json_string(&buf, "result", hdb_audit_result_name(rec->result));
	append_json_string(&buf, "error_code", rec->error_code);
	append_json_string(&buf, "error_message",
					   rec->error_message ?
					   hdb_audit_scrub_secrets(rec->error_message) : NULL);
	append_literal(&buf, ",\"rows_affected\":");
	if (rec->rows_affected >= 0)
		append_digits(&buf, rec->rows_affected, 1);
	else
		append_literal(&buf, "null");
	append_literal(&buf, ",\"duration_ms\":");
	if (rec->duration_ms >= 0)
	{
		/* milliseconds with three decimals, rounded to the microsecond */
		int64		us = (int64) (rec->duration_ms * 1000.0 + 0.5);

		append_digits(&buf, us / 1000, 1);
		appendStringInfoCharMacro(&buf, '.');
		append_digits(&buf, us % 1000, 3);
	}
	else
		append_literal(&buf, "null");

	append_literal(&buf, ",\"rls_policies_applied\":");
	if (rec->rls_policies == NIL)
		append_literal(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		foreach(lc, rec->rls_policies)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoChar(&buf, ',');
			append_json_text(&buf, (const char *) lfirst(lc));
		}
		appendStringInfoChar(&buf, ']');
	}

	append_literal(&buf, ",\"request_id\":\"");
	appendStringInfoString(&buf, get_session_id());
	appendStringInfoCharMacro(&buf, '.');
	append_digits(&buf, (int64) rec->request_no, 1);
	appendStringInfoCharMacro(&buf, '"');
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
		if ((*p == 'h' || *p == 'e') &&
			(p == s || !is_token_char(p[-1])) && secret_length(p) > 0)
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
			append_literal(&buf, "[REDACTED]");
			p += n;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	return buf.data;
}
