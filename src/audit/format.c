/*-------------------------------------------------------------------------
 *
 * format.c
 *	  Formatting of audit records: the completion of a captured record with
 *	  the session's fields, its compact binary form, in which the audited
 *	  backend queues it, and its JSON form, one object per record, which
 *	  the writer makes for the file and log sinks; and the scrubbing of API
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
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
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

/*
 * Role names of the last two roles looked up (typically the session user
 * and the current role), dropped when pg_authid changes.  A lookup replaces
 * the slot used less recently, so that the two names a record takes never
 * overwrite each other: a record points at the slots.
 */
static Oid	role_oids[2] = {InvalidOid, InvalidOid};
static char role_names[2][NAMEDATALEN];
static int	role_next = 0;
static bool role_callback_set = false;

static void
role_names_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	role_oids[0] = role_oids[1] = InvalidOid;
}

/* The name of a role, or NULL when it does not exist. */
static const char *
role_name(Oid roleid)
{
	char	   *name;

	for (int i = 0; i < 2; i++)
		if (role_oids[i] == roleid && OidIsValid(roleid))
		{
			role_next = 1 - i;
			return role_names[i];
		}
	if (!role_callback_set)
	{
		CacheRegisterSyscacheCallback(AUTHOID, role_names_callback, (Datum) 0);
		role_callback_set = true;
	}
	name = GetUserNameFromId(roleid, true);
	if (name == NULL)
		return NULL;
	strlcpy(role_names[role_next], name, NAMEDATALEN);
	role_oids[role_next] = roleid;
	name = role_names[role_next];
	role_next = 1 - role_next;
	return name;
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

/*
 * ISO 8601 in UTC with microseconds, independent of DateStyle/TimeZone, as
 * a JSON string (null when out of range).
 */
void
hdb_audit_append_timestamp(StringInfo buf, TimestampTz ts)
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
 * Complete a captured record with the session's fields into f, scrubbing
 * API keys and tokens out of parameters and the error message.  The
 * strings are the record's, the session's or palloc'd in the current
 * memory context.
 */
void
hdb_audit_fields(const HdbAuditRecord *rec, HdbAuditFields *f)
{
	const HdbSecurityContext *ctx = hdb_context_get_unchecked();

	memset(f, 0, sizeof(*f));
	f->ts = rec->ts != 0 ? rec->ts : GetCurrentTimestamp();
	f->event_type = rec->event_type;
	f->result = rec->result;
	if (ctx->source != HDB_SOURCE_NONE && ctx->user_id[0] != '\0')
		f->user_id = ctx->user_id;
	else if (OidIsValid(GetSessionUserId()))
		f->user_id = role_name(GetSessionUserId());
	if (ctx->source != HDB_SOURCE_NONE && ctx->has_tenant)
		f->tenant_id = ctx->tenant_name;
	if (OidIsValid(GetUserId()))
		f->role = role_name(GetUserId());
	f->ip_address = get_client_addr();
	f->action = rec->action;
	f->resource = rec->resource;
	f->query = rec->query;
	if (rec->nparams > 0)
	{
		f->nparams = rec->nparams;
		f->params_redacted = rec->param_values == NULL;
		if (!f->params_redacted)
		{
			f->params = palloc(sizeof(char *) * rec->nparams);
			for (int i = 0; i < rec->nparams; i++)
				f->params[i] = rec->param_values[i] ?
					hdb_audit_scrub_secrets(rec->param_values[i]) : NULL;
		}
	}
	f->error_code = rec->error_code;
	f->error_message = rec->error_message ?
		hdb_audit_scrub_secrets(rec->error_message) : NULL;
	f->rows_affected = rec->rows_affected >= 0 ? rec->rows_affected : -1;
	/* milliseconds with three decimals, rounded to the microsecond */
	f->duration_us = rec->duration_ms >= 0 ?
		(int64) (rec->duration_ms * 1000.0 + 0.5) : -1;
	f->npolicies = list_length(rec->rls_policies);
	if (f->npolicies > 0)
	{
		ListCell   *lc;

		f->policies = palloc(sizeof(char *) * f->npolicies);
		foreach(lc, rec->rls_policies)
			f->policies[foreach_current_index(lc)] = (const char *) lfirst(lc);
	}
	f->request_no = rec->request_no;
	f->session_id = get_session_id();
	f->database = get_database();
}

/*
 * Format a record as one line of JSON (no newline), the form of the file
 * and log sinks.  The result is palloc'd in the current memory context.
 */
char *
hdb_audit_json(const HdbAuditFields *f, int *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_literal(&buf, "{\"timestamp\":");
	hdb_audit_append_timestamp(&buf, f->ts);
	append_json_string(&buf, "event_type", hdb_audit_event_name(f->event_type));
	append_json_string(&buf, "user_id", f->user_id);
	append_json_string(&buf, "tenant_id", f->tenant_id);
	append_json_string(&buf, "role", f->role);
	append_json_string(&buf, "ip_address", f->ip_address);
	append_json_string(&buf, "action", f->action);
	append_json_string(&buf, "resource", f->resource);
	append_json_string(&buf, "query", f->query);

	append_literal(&buf, ",\"params\":");
	if (f->nparams <= 0)
		append_literal(&buf, "null");
	else
		hdb_audit_append_params(&buf, f);

	append_json_string(&buf, "result", hdb_audit_result_name(f->result));
	append_json_string(&buf, "error_code", f->error_code);
	append_json_string(&buf, "error_message", f->error_message);
	append_literal(&buf, ",\"rows_affected\":");
	if (f->rows_affected >= 0)
		append_digits(&buf, f->rows_affected, 1);
	else
		append_literal(&buf, "null");
	append_literal(&buf, ",\"duration_ms\":");
	if (f->duration_us >= 0)
		hdb_audit_append_duration(&buf, f->duration_us);
	else
		append_literal(&buf, "null");

	append_literal(&buf, ",\"rls_policies_applied\":");
	if (f->npolicies <= 0)
		append_literal(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		for (int i = 0; i < f->npolicies; i++)
		{
			if (i > 0)
				appendStringInfoChar(&buf, ',');
			append_json_text(&buf, f->policies[i]);
		}
		appendStringInfoChar(&buf, ']');
	}

	append_literal(&buf, ",\"request_id\":\"");
	if (f->session_id)
		appendStringInfoString(&buf, f->session_id);
	appendStringInfoCharMacro(&buf, '.');
	append_digits(&buf, (int64) f->request_no, 1);
	appendStringInfoCharMacro(&buf, '"');
	append_json_string(&buf, "session_id", f->session_id);
	append_json_string(&buf, "database", f->database);
	appendStringInfoChar(&buf, '}');

	*len = buf.len;
	return buf.data;
}

/* Append the parameters of a record as a JSON array. */
void
hdb_audit_append_params(StringInfo buf, const HdbAuditFields *f)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < f->nparams; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (f->params_redacted)
			append_json_text(buf, "[REDACTED]");
		else if (f->params[i] == NULL)
			append_literal(buf, "null");
		else
			append_json_text(buf, f->params[i]);
	}
	appendStringInfoChar(buf, ']');
}

/* Append microseconds as milliseconds with three decimals. */
void
hdb_audit_append_duration(StringInfo buf, int64 us)
{
	append_digits(buf, us / 1000, 1);
	appendStringInfoCharMacro(buf, '.');
	append_digits(buf, us % 1000, 3);
}

/* A captured record as JSON, for the server log when it has no queue. */
char *
hdb_audit_format(const HdbAuditRecord *rec, int *len)
{
	HdbAuditFields f;

	hdb_audit_fields(rec, &f);
	return hdb_audit_json(&f, len);
}

/*
 * The binary form of a record: the tag byte, event type, result, the
 * timestamp (8 bytes, native order: WAL does not move between machines),
 * then numbers as varints and strings as a varint of length + 1 (0 for
 * NULL) followed by the bytes, in the order of HdbAuditFields.  It is a
 * third of the JSON's size and needs neither escaping nor parsing.
 */
static void
put_varint(StringInfo buf, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoCharMacro(buf, (char) ((v & 0x7f) | 0x80));
		v >>= 7;
	}
	appendStringInfoCharMacro(buf, (char) v);
}

static void
put_string(StringInfo buf, const char *s)
{
	size_t		len;

	if (s == NULL)
	{
		appendStringInfoCharMacro(buf, 0);
		return;
	}
	len = strlen(s);
	put_varint(buf, (uint64) len + 1);
	appendBinaryStringInfo(buf, s, len);
}

/* Encode a record in the binary form; palloc'd in the current context. */
char *
hdb_audit_encode(const HdbAuditFields *f, int *len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoCharMacro(&buf, HDB_AUDIT_BINARY_TAG);
	appendStringInfoCharMacro(&buf, (char) f->event_type);
	appendStringInfoCharMacro(&buf, (char) f->result);
	appendBinaryStringInfo(&buf, (const char *) &f->ts, sizeof(f->ts));
	put_string(&buf, f->user_id);
	put_string(&buf, f->tenant_id);
	put_string(&buf, f->role);
	put_string(&buf, f->ip_address);
	put_string(&buf, f->action);
	put_string(&buf, f->resource);
	put_string(&buf, f->query);
	put_varint(&buf, f->nparams > 0 ? (uint64) f->nparams : 0);
	if (f->nparams > 0)
	{
		appendStringInfoCharMacro(&buf, f->params_redacted ? 1 : 0);
		for (int i = 0; !f->params_redacted && i < f->nparams; i++)
			put_string(&buf, f->params[i]);
	}
	put_string(&buf, f->error_code);
	put_string(&buf, f->error_message);
	put_varint(&buf, f->rows_affected >= 0 ? (uint64) f->rows_affected + 1 : 0);
	put_varint(&buf, f->duration_us >= 0 ? (uint64) f->duration_us + 1 : 0);
	put_varint(&buf, f->npolicies > 0 ? (uint64) f->npolicies : 0);
	for (int i = 0; i < f->npolicies; i++)
		put_string(&buf, f->policies[i]);
	put_varint(&buf, f->request_no);
	put_string(&buf, f->session_id);
	put_string(&buf, f->database);

	*len = buf.len;
	return buf.data;
}

/*
 * Decoding.  Anything unexpected is an error, as for JSON records (see
 * chain.c): a record comes only from hdb_audit_encode().
 */
typedef struct RecordReader
{
	const unsigned char *p;
	const unsigned char *end;
} RecordReader;

static void
binary_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("audit record is not valid: bad binary record")));
}

static uint64
get_varint(RecordReader *rr)
{
	uint64		v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		unsigned char c;

		if (rr->p >= rr->end)
			binary_error();
		c = *rr->p++;
		v |= (uint64) (c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	binary_error();
	return 0;					/* keep the compiler quiet */
}

/* A count of items, at most max. */
static int
get_count(RecordReader *rr, int max)
{
	uint64		n = get_varint(rr);

	if (n > (uint64) max)
		binary_error();
	return (int) n;
}

static const char *
get_string(RecordReader *rr)
{
	uint64		n = get_varint(rr);
	const char *s;

	if (n == 0)
		return NULL;
	n--;
	if (n > (uint64) (rr->end - rr->p) || memchr(rr->p, '\0', n) != NULL)
		binary_error();
	s = pnstrdup((const char *) rr->p, n);
	rr->p += n;
	return s;
}

/*
 * Decode a binary record into f; the strings are palloc'd in the current
 * memory context.
 */
void
hdb_audit_decode(const char *data, int len, HdbAuditFields *f)
{
	RecordReader rr;
	uint64		n;

	rr.p = (const unsigned char *) data;
	rr.end = rr.p + len;
	memset(f, 0, sizeof(*f));
	if (len < 3 + (int) sizeof(f->ts) || rr.p[0] != HDB_AUDIT_BINARY_TAG ||
		rr.p[1] >= HDB_AUDIT_NUM_EVENT_TYPES || rr.p[2] > HDB_AUDIT_DENIED)
		binary_error();
	f->event_type = (HdbAuditEventType) rr.p[1];
	f->result = (HdbAuditResult) rr.p[2];
	memcpy(&f->ts, rr.p + 3, sizeof(f->ts));
	rr.p += 3 + sizeof(f->ts);
	f->user_id = get_string(&rr);
	f->tenant_id = get_string(&rr);
	f->role = get_string(&rr);
	f->ip_address = get_string(&rr);
	f->action = get_string(&rr);
	f->resource = get_string(&rr);
	f->query = get_string(&rr);
	f->nparams = get_count(&rr, PG_UINT16_MAX);
	if (f->nparams > 0)
	{
		if (rr.p >= rr.end || *rr.p > 1)
			binary_error();
		f->params_redacted = *rr.p++ == 1;
		if (!f->params_redacted)
		{
			f->params = palloc(sizeof(char *) * f->nparams);
			for (int i = 0; i < f->nparams; i++)
				f->params[i] = get_string(&rr);
		}
	}
	f->error_code = get_string(&rr);
	f->error_message = get_string(&rr);
	/* numbers that may be NULL are stored plus one, 0 for NULL */
	n = get_varint(&rr);
	if (n > (uint64) PG_INT64_MAX + 1)
		binary_error();
	f->rows_affected = n == 0 ? -1 : (int64) (n - 1);
	n = get_varint(&rr);
	if (n > (uint64) PG_INT64_MAX + 1)
		binary_error();
	f->duration_us = n == 0 ? -1 : (int64) (n - 1);
	f->npolicies = get_count(&rr, (int) (rr.end - rr.p));
	if (f->npolicies > 0)
	{
		f->policies = palloc(sizeof(char *) * f->npolicies);
		for (int i = 0; i < f->npolicies; i++)
			f->policies[i] = get_string(&rr);
	}
	f->request_no = get_varint(&rr);
	f->session_id = get_string(&rr);
	f->database = get_string(&rr);
	if (rr.p != rr.end)
		binary_error();
}

/*
 * The JSON form of a queued record, binary or JSON already (written by an
 * older version): for the file and log sinks.
 */
char *
hdb_audit_record_json(const char *data, int len, int *jsonlen)
{
	HdbAuditFields f;

	if (len > 0 && data[0] != HDB_AUDIT_BINARY_TAG)
	{
		*jsonlen = len;
		return (char *) data;
	}
	hdb_audit_decode(data, len, &f);
	return hdb_audit_json(&f, jsonlen);
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
