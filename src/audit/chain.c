/*-------------------------------------------------------------------------
 *
 * chain.c
 *	  The rows of the audit table: turning queued records (binary, or JSON
 *	  text from older versions) into heliosdb.audit_log rows, and the hash
 *	  chain that links those rows.
 *
 * A row's digest is SHA-256 over a canonical form of every column but
 * "hash", in column order, which includes seq, stored_at and prev_hash (the
 * previous row's hash): so editing, deleting or reordering rows breaks the
 * chain.  The canonical form of a column is one byte 0 for NULL, else one
 * byte 1, the length as four bytes (big-endian) and the value's text:
 * timestamps as microseconds since the PostgreSQL epoch, so that neither
 * TimeZone nor DateStyle changes a digest, other types through their output
 * functions, which do not depend on settings for the column types used.
 *
 * The writer stores a batch by building its rows here
 * (hdb_audit_build_row) and inserting them itself (store.c), or, when
 * audit_log has triggers to fire, with one statement (worker.c):
 *		INSERT INTO heliosdb.audit_log
 *		SELECT * FROM heliosdb._audit_rows(records, last_seq, last_hash)
 * Either way each record is decoded, numbered after the chain's end,
 * stamped and hashed.  Binary records (format.c) map field by field to
 * the columns of the same names.  JSON records, which versions before the
 * binary form queued and which may still wait in WAL after an upgrade, are
 * parsed here rather than with jsonb: they are flat objects written by
 * format.c (strings, numbers, null and arrays), and jsonb's parser and
 * jsonb_populate_record() cost several times more than the rest of storing
 * a row.  Both forms of a record give the same row, so the same digest.
 * The chain's new end is left in hdb_audit_chain_last_* for the writer to
 * save in heliosdb.audit_state in the same transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "audit/audit_internal.h"
#include "common/hdb_codec.h"

PG_FUNCTION_INFO_V1(hdb_audit_digest);
PG_FUNCTION_INFO_V1(hdb_audit_rows);

int64		hdb_audit_chain_last_seq = 0;
uint8		hdb_audit_chain_last_hash[HDB_AUDIT_HASH_LEN];

/* The columns a record fills, by name. */
typedef enum RecordField
{
	F_TIMESTAMP,
	F_EVENT_TYPE,
	F_USER_ID,
	F_TENANT_ID,
	F_ROLE,
	F_IP_ADDRESS,
	F_ACTION,
	F_RESOURCE,
	F_QUERY,
	F_PARAMS,
	F_RESULT,
	F_ERROR_CODE,
	F_ERROR_MESSAGE,
	F_ROWS_AFFECTED,
	F_DURATION_MS,
	F_RLS_POLICIES,
	F_REQUEST_ID,
	F_SESSION_ID,
	F_DATABASE
} RecordField;

#define HDB_AUDIT_NUM_FIELDS (F_DATABASE + 1)

static const char *const field_names[HDB_AUDIT_NUM_FIELDS] = {
	"timestamp", "event_type", "user_id", "tenant_id", "role", "ip_address",
	"action", "resource", "query", "params", "result", "error_code",
	"error_message", "rows_affected", "duration_ms", "rls_policies_applied",
	"request_id", "session_id", "database"
};

/* What is needed to build and hash rows of the audit_log row type. */
typedef struct RowInfo
{
	Oid			typid;
	TupleDesc	tupdesc;
	FmgrInfo   *out;			/* output function per column */
	FmgrInfo   *in;				/* input function per column */
	Oid		   *ioparam;
	int			seq_att;		/* 0-based positions of the chained columns */
	int			stored_at_att;
	int			prev_hash_att;
	int			hash_att;
	/* 0-based positions of the other columns, -1 when missing */
	int			att[HDB_AUDIT_NUM_FIELDS];
	StringInfoData digest_buf;	/* canonical form of a row, reused */
} RowInfo;

/* 0-based position of a column, -1 when there is none of that name. */
static int
find_column(TupleDesc tupdesc, const char *name)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	return -1;
}

static int
column_number(TupleDesc tupdesc, const char *name)
{
	int			i = find_column(tupdesc, name);

	if (i >= 0)
		return i;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("audit row type has no column \"%s\"", name)));
	return -1;					/* keep the compiler quiet */
}

/* Row information for tupdesc, allocated in cxt. */
static RowInfo *
row_info(TupleDesc tupdesc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RowInfo    *ri = palloc0(sizeof(RowInfo));

	ri->typid = tupdesc->tdtypeid;
	ri->tupdesc = CreateTupleDescCopy(tupdesc);
	ri->out = palloc0(sizeof(FmgrInfo) * tupdesc->natts);
	ri->in = palloc0(sizeof(FmgrInfo) * tupdesc->natts);
	ri->ioparam = palloc0(sizeof(Oid) * tupdesc->natts);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		Oid			func;
		bool		varlena;

		if (att->attisdropped)
			continue;
		getTypeOutputInfo(att->atttypid, &func, &varlena);
		fmgr_info_cxt(func, &ri->out[i], cxt);
		getTypeInputInfo(att->atttypid, &func, &ri->ioparam[i]);
		fmgr_info_cxt(func, &ri->in[i], cxt);
	}
	ri->seq_att = column_number(tupdesc, "seq");
	ri->stored_at_att = column_number(tupdesc, "stored_at");
	ri->prev_hash_att = column_number(tupdesc, "prev_hash");
	ri->hash_att = column_number(tupdesc, "hash");
	for (int f = 0; f < HDB_AUDIT_NUM_FIELDS; f++)
		ri->att[f] = find_column(tupdesc, field_names[f]);
	initStringInfo(&ri->digest_buf);
	MemoryContextSwitchTo(old);
	return ri;
}

/* SHA-256 and a context to compute it in, made once per process. */
static EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_ctx = NULL;

/* SHA-256 of the canonical form of a row (see the header), into hash. */
static void
row_digest(RowInfo *ri, Datum *values, bool *nulls,
		   uint8 hash[HDB_AUDIT_HASH_LEN])
{
	StringInfo	buf = &ri->digest_buf;
	unsigned int len;

	resetStringInfo(buf);
	for (int i = 0; i < ri->tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(ri->tupdesc, i);
		char		num[MAXINT8LEN + 1];
		char	   *text;
		uint32		textlen;

		if (att->attisdropped || i == ri->hash_att)
			continue;
		if (nulls[i])
		{
			appendStringInfoCharMacro(buf, 0);
			continue;
		}
		if (att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID ||
			att->atttypid == INT8OID)
		{
			/* int8's output; timestamps as their integer */
			textlen = pg_lltoa(DatumGetInt64(values[i]), num);
			text = num;
		}
		else if (att->atttypid == TEXTOID)
		{
			/* text's output is its contents (decompressed) */
			struct varlena *t = PG_DETOAST_DATUM_PACKED(values[i]);

			text = VARDATA_ANY(t);
			textlen = VARSIZE_ANY_EXHDR(t);
		}
		else
		{
			text = OutputFunctionCall(&ri->out[i], values[i]);
			textlen = strlen(text);
		}
		enlargeStringInfo(buf, 5 + textlen);
		buf->data[buf->len++] = 1;
		buf->data[buf->len++] = (textlen >> 24) & 0xff;
		buf->data[buf->len++] = (textlen >> 16) & 0xff;
		buf->data[buf->len++] = (textlen >> 8) & 0xff;
		buf->data[buf->len++] = textlen & 0xff;
		memcpy(buf->data + buf->len, text, textlen);
		buf->len += textlen;
	}
	if (sha256_md == NULL)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_ctx == NULL)
		sha256_ctx = EVP_MD_CTX_new();
	if (sha256_md == NULL || sha256_ctx == NULL ||
		EVP_DigestInit_ex(sha256_ctx, sha256_md, NULL) != 1 ||
		EVP_DigestUpdate(sha256_ctx, buf->data, buf->len) != 1 ||
		EVP_DigestFinal_ex(sha256_ctx, hash, &len) != 1 ||
		len != HDB_AUDIT_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
}

static bytea *
hash_bytea(const uint8 hash[HDB_AUDIT_HASH_LEN])
{
	bytea	   *b = palloc(VARHDRSZ + HDB_AUDIT_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HDB_AUDIT_HASH_LEN);
	memcpy(VARDATA(b), hash, HDB_AUDIT_HASH_LEN);
	return b;
}

/*
 * heliosdb._audit_digest(r heliosdb.audit_log) RETURNS bytea: the hash the
 * row must carry.
 */
Datum
hdb_audit_digest(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	RowInfo    *ri = (RowInfo *) fcinfo->flinfo->fn_extra;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	uint8		hash[HDB_AUDIT_HASH_LEN];

	if (ri == NULL || ri->typid != HeapTupleHeaderGetTypeId(row))
	{
		TupleDesc	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
													 HeapTupleHeaderGetTypMod(row));

		ri = row_info(tupdesc, fcinfo->flinfo->fn_mcxt);
		ReleaseTupleDesc(tupdesc);
		fcinfo->flinfo->fn_extra = ri;
	}
	values = palloc(sizeof(Datum) * ri->tupdesc->natts);
	nulls = palloc(sizeof(bool) * ri->tupdesc->natts);
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	heap_deform_tuple(&tuple, ri->tupdesc, values, nulls);
	row_digest(ri, values, nulls, hash);
	PG_RETURN_BYTEA_P(hash_bytea(hash));
}

/*
 * Parsing of one record.  Anything unexpected is an error: records come
 * only from format.c, so a record that does not parse is a bug or damage,
 * and storing part of it would be worse.
 */
typedef struct RecordParser
{
	const char *p;
	const char *end;
} RecordParser;

static void
record_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("audit record is not valid: %s", what)));
}

static void
skip_space(RecordParser *rp)
{
	while (rp->p < rp->end &&
		   (*rp->p == ' ' || *rp->p == '\t' || *rp->p == '\n' || *rp->p == '\r'))
		rp->p++;
}

static void
expect_char(RecordParser *rp, char c)
{
	skip_space(rp);
	if (rp->p >= rp->end || *rp->p != c)
		record_error("unexpected character");
	rp->p++;
}

/* A JSON string at rp->p, unescaped, palloc'd. */
static char *
parse_string(RecordParser *rp)
{
	StringInfoData buf;
	const char *run;

	expect_char(rp, '"');

	/* Most strings have no escape: copy them at once. */
	for (const char *q = rp->p; q < rp->end; q++)
	{
		if (*q == '"')
		{
			char	   *result = pnstrdup(rp->p, q - rp->p);

			rp->p = q + 1;
			return result;
		}
		if (*q == '\\')
			break;
	}

	initStringInfo(&buf);
	run = rp->p;
	while (rp->p < rp->end && *rp->p != '"')
	{
		char		c;

		if (*rp->p != '\\')
		{
			rp->p++;
			continue;
		}
		appendBinaryStringInfo(&buf, run, rp->p - run);
		if (rp->end - rp->p < 2)
			record_error("unterminated string");
		c = rp->p[1];
		rp->p += 2;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&buf, c);
				break;
			case 'b':
				appendStringInfoChar(&buf, '\b');
				break;
			case 'f':
				appendStringInfoChar(&buf, '\f');
				break;
			case 'n':
				appendStringInfoChar(&buf, '\n');
				break;
			case 'r':
				appendStringInfoChar(&buf, '\r');
				break;
			case 't':
				appendStringInfoChar(&buf, '\t');
				break;
			case 'u':
				{
					pg_wchar	cp = 0;
					unsigned char mb[MAX_UNICODE_EQUIVALENT_STRING + 1];

					if (rp->end - rp->p < 4)
						record_error("bad \\u escape");
					for (int i = 0; i < 4; i++)
					{
						int			d = hdb_hex_digit(rp->p[i]);

						if (d < 0)
							record_error("bad \\u escape");
						cp = (cp << 4) | d;
					}
					rp->p += 4;
					if (cp == 0 || is_utf16_surrogate_first(cp) ||
						is_utf16_surrogate_second(cp))
						record_error("unsupported \\u escape");
					pg_unicode_to_server(cp, mb);
					appendStringInfoString(&buf, (char *) mb);
					break;
				}
			default:
				record_error("bad escape");
		}
		run = rp->p;
	}
	if (rp->p >= rp->end)
		record_error("unterminated string");
	appendBinaryStringInfo(&buf, run, rp->p - run);
	rp->p++;
	return buf.data;
}

/* Skip any JSON value; returns where it started. */
static const char *
skip_value(RecordParser *rp)
{
	const char *start;
	int			depth = 0;

	skip_space(rp);
	start = rp->p;
	for (;;)
	{
		char		c;

		if (rp->p >= rp->end)
			record_error("unexpected end");
		c = *rp->p;
		if (depth == 0 && (c == ',' || c == '}' || c == ']'))
			break;
		if (c == '"')
		{
			pfree(parse_string(rp));
			continue;
		}
		if (c == '[' || c == '{')
			depth++;
		else if (c == ']' || c == '}')
			depth--;
		rp->p++;
	}
	if (rp->p == start)
		record_error("missing value");
	return start;
}

/* A JSON array of strings and nulls as a text[] datum. */
static Datum
parse_text_array(RecordParser *rp)
{
	ArrayBuildState *astate = initArrayResult(TEXTOID, CurrentMemoryContext,
											  false);

	expect_char(rp, '[');
	skip_space(rp);
	if (rp->p < rp->end && *rp->p == ']')
		rp->p++;
	else
	{
		for (;;)
		{
			skip_space(rp);
			if (rp->end - rp->p >= 4 && strncmp(rp->p, "null", 4) == 0)
			{
				rp->p += 4;
				accumArrayResult(astate, (Datum) 0, true, TEXTOID,
								 CurrentMemoryContext);
			}
			else
				accumArrayResult(astate,
								 CStringGetTextDatum(parse_string(rp)), false,
								 TEXTOID, CurrentMemoryContext);
			skip_space(rp);
			if (rp->p < rp->end && *rp->p == ',')
			{
				rp->p++;
				continue;
			}
			expect_char(rp, ']');
			break;
		}
	}
	return makeArrayResult(astate, CurrentMemoryContext);
}

/*
 * The timestamps format.c writes, "YYYY-MM-DDTHH:MM:SS.ffffffZ", read
 * without the general datetime parser; false for any other form.
 */
static bool
parse_utc_timestamp(const char *s, TimestampTz *result)
{
	struct pg_tm tm;
	int			fsec = 0;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (int i = 0; shape[i]; i++)
	{
		if (shape[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != shape[i])
			return false;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s);
	tm.tm_mon = atoi(s + 5);
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	fsec = atoi(s + 20);
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	return tm2timestamp(&tm, fsec, NULL, result) == 0;
}

/* Convert text to the type of column i. */
static Datum
column_value(RowInfo *ri, int i, char *text)
{
	Form_pg_attribute att = TupleDescAttr(ri->tupdesc, i);
	TimestampTz ts;

	if (att->atttypid == TEXTOID)
		return CStringGetTextDatum(text);
	if (att->atttypid == TIMESTAMPTZOID && parse_utc_timestamp(text, &ts))
		return TimestampTzGetDatum(ts);
	return InputFunctionCall(&ri->in[i], text, ri->ioparam[i], att->atttypmod);
}

/*
 * Parse record text[0..len) into values/nulls (all columns NULL first).
 * Keys that name no column, and the chained columns, are ignored.
 */
static void
parse_record(RowInfo *ri, const char *text, int len, Datum *values,
			 bool *nulls)
{
	RecordParser rp = {text, text + len};
	int			next = 0;		/* keys come in column order, usually */

	for (int i = 0; i < ri->tupdesc->natts; i++)
		nulls[i] = true;
	expect_char(&rp, '{');
	skip_space(&rp);
	if (rp.p < rp.end && *rp.p == '}')
		return;
	for (;;)
	{
		const char *key;
		int			keylen;
		int			col = -1;

		/* Keys are column names: no escapes, compared in place. */
		expect_char(&rp, '"');
		key = rp.p;
		while (rp.p < rp.end && *rp.p != '"' && *rp.p != '\\')
			rp.p++;
		if (rp.p >= rp.end || *rp.p != '"')
			record_error("bad key");
		keylen = rp.p - key;
		rp.p++;
		expect_char(&rp, ':');
		skip_space(&rp);
		for (int k = 0; k < ri->tupdesc->natts; k++)
		{
			int			i = (next + k) % ri->tupdesc->natts;
			Form_pg_attribute att = TupleDescAttr(ri->tupdesc, i);

			if (!att->attisdropped &&
				strncmp(NameStr(att->attname), key, keylen) == 0 &&
				NameStr(att->attname)[keylen] == '\0')
			{
				col = i;
				next = i + 1;
				break;
			}
		}
		if (col == ri->seq_att || col == ri->stored_at_att ||
			col == ri->prev_hash_att || col == ri->hash_att)
			col = -1;

		if (rp.p >= rp.end)
			record_error("unexpected end");
		if (rp.end - rp.p >= 4 && strncmp(rp.p, "null", 4) == 0)
			rp.p += 4;
		else if (col < 0)
			(void) skip_value(&rp);
		else if (*rp.p == '"')
		{
			values[col] = column_value(ri, col, parse_string(&rp));
			nulls[col] = false;
		}
		else if (*rp.p == '[' &&
				 TupleDescAttr(ri->tupdesc, col)->atttypid == TEXTARRAYOID)
		{
			values[col] = parse_text_array(&rp);
			nulls[col] = false;
		}
		else
		{
			/* a number, or an array or object for a jsonb column */
			const char *start = skip_value(&rp);

			values[col] = column_value(ri, col, pnstrdup(start, rp.p - start));
			nulls[col] = false;
		}

		skip_space(&rp);
		if (rp.p < rp.end && *rp.p == ',')
		{
			rp.p++;
			continue;
		}
		expect_char(&rp, '}');
		break;
	}
	skip_space(&rp);
	if (rp.p != rp.end)
		record_error("text after the record");
}

/* Set column "field" of a row from text, converted to the column's type. */
static void
set_text(RowInfo *ri, RecordField field, const char *text, Datum *values,
		 bool *nulls)
{
	int			i = ri->att[field];

	if (i < 0 || text == NULL)
		return;
	values[i] = column_value(ri, i, (char *) text);
	nulls[i] = false;
}

/*
 * Fill values/nulls (all columns NULL first) from a decoded binary record:
 * the same values as parse_record() gets from the record's JSON form.
 */
static void
fields_to_row(RowInfo *ri, const HdbAuditFields *f, Datum *values,
			  bool *nulls)
{
	int			i;
	char		num[MAXINT8LEN + 1];

	for (i = 0; i < ri->tupdesc->natts; i++)
		nulls[i] = true;

	i = ri->att[F_TIMESTAMP];
	if (i >= 0 && TupleDescAttr(ri->tupdesc, i)->atttypid == TIMESTAMPTZOID)
	{
		values[i] = TimestampTzGetDatum(f->ts);
		nulls[i] = false;
	}
	else if (i >= 0)
	{
		StringInfoData buf;

		/* another type: through its input function, from the JSON text */
		initStringInfo(&buf);
		hdb_audit_append_timestamp(&buf, f->ts);
		if (buf.len >= 2 && buf.data[0] == '"')
		{
			buf.data[buf.len - 1] = '\0';
			set_text(ri, F_TIMESTAMP, buf.data + 1, values, nulls);
		}
	}
	set_text(ri, F_EVENT_TYPE, hdb_audit_event_name(f->event_type), values,
			 nulls);
	set_text(ri, F_USER_ID, f->user_id, values, nulls);
	set_text(ri, F_TENANT_ID, f->tenant_id, values, nulls);
	set_text(ri, F_ROLE, f->role, values, nulls);
	set_text(ri, F_IP_ADDRESS, f->ip_address, values, nulls);
	set_text(ri, F_ACTION, f->action, values, nulls);
	set_text(ri, F_RESOURCE, f->resource, values, nulls);
	set_text(ri, F_QUERY, f->query, values, nulls);
	if (f->nparams > 0 && ri->att[F_PARAMS] >= 0)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		hdb_audit_append_params(&buf, f);
		set_text(ri, F_PARAMS, buf.data, values, nulls);
	}
	set_text(ri, F_RESULT, hdb_audit_result_name(f->result), values, nulls);
	set_text(ri, F_ERROR_CODE, f->error_code, values, nulls);
	set_text(ri, F_ERROR_MESSAGE, f->error_message, values, nulls);

	i = ri->att[F_ROWS_AFFECTED];
	if (i >= 0 && f->rows_affected >= 0)
	{
		if (TupleDescAttr(ri->tupdesc, i)->atttypid == INT8OID)
		{
			values[i] = Int64GetDatum(f->rows_affected);
			nulls[i] = false;
		}
		else
		{
			pg_lltoa(f->rows_affected, num);
			set_text(ri, F_ROWS_AFFECTED, num, values, nulls);
		}
	}
	if (f->duration_us >= 0 && ri->att[F_DURATION_MS] >= 0)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		hdb_audit_append_duration(&buf, f->duration_us);
		set_text(ri, F_DURATION_MS, buf.data, values, nulls);
	}

	i = ri->att[F_RLS_POLICIES];
	if (i >= 0 && f->npolicies > 0)
	{
		if (TupleDescAttr(ri->tupdesc, i)->atttypid == TEXTARRAYOID)
		{
			Datum	   *elems = palloc(sizeof(Datum) * f->npolicies);

			for (int p = 0; p < f->npolicies; p++)
				elems[p] = CStringGetTextDatum(f->policies[p]);
			values[i] = PointerGetDatum(construct_array(elems, f->npolicies,
														TEXTOID, -1, false,
														TYPALIGN_INT));
			nulls[i] = false;
		}
		else
		{
			HdbAuditFields pol;
			StringInfoData buf;

			/* another type (jsonb, say): the JSON array's text */
			memset(&pol, 0, sizeof(pol));
			pol.nparams = f->npolicies;
			pol.params = f->policies;
			initStringInfo(&buf);
			hdb_audit_append_params(&buf, &pol);
			set_text(ri, F_RLS_POLICIES, buf.data, values, nulls);
		}
	}

	if (ri->att[F_REQUEST_ID] >= 0)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		if (f->session_id)
			appendStringInfoString(&buf, f->session_id);
		appendStringInfoChar(&buf, '.');
		enlargeStringInfo(&buf, MAXINT8LEN);
		buf.len += pg_ulltoa_n(f->request_no, buf.data + buf.len);
		buf.data[buf.len] = '\0';
		set_text(ri, F_REQUEST_ID, buf.data, values, nulls);
	}
	set_text(ri, F_SESSION_ID, f->session_id, values, nulls);
	set_text(ri, F_DATABASE, f->database, values, nulls);
}

/* Row information for rows of the row type tupdesc; see audit_internal.h. */
HdbAuditRowInfo *
hdb_audit_row_info(TupleDesc tupdesc, MemoryContext cxt)
{
	return (HdbAuditRowInfo *) row_info(tupdesc, cxt);
}

/*
 * Build the row of one record, binary or JSON, as number seq of the chain,
 * after a row whose hash is prev (NULL: the first row of the chain),
 * stored at "now"; its hash is also left in hash.  Allocates in the
 * current memory context.
 */
void
hdb_audit_build_row(HdbAuditRowInfo *rinfo, const char *data, int len,
					int64 seq, const uint8 *prev, TimestampTz now,
					Datum *values, bool *nulls,
					uint8 hash[HDB_AUDIT_HASH_LEN])
{
	RowInfo    *ri = (RowInfo *) rinfo;

	if (len > 0 && data[0] == HDB_AUDIT_BINARY_TAG)
	{
		HdbAuditFields f;

		hdb_audit_decode(data, len, &f);
		fields_to_row(ri, &f, values, nulls);
	}
	else
		parse_record(ri, data, len, values, nulls);

	values[ri->seq_att] = Int64GetDatum(seq);
	nulls[ri->seq_att] = false;
	values[ri->stored_at_att] = TimestampTzGetDatum(now);
	nulls[ri->stored_at_att] = false;
	nulls[ri->prev_hash_att] = prev == NULL;
	if (prev != NULL)
		values[ri->prev_hash_att] = PointerGetDatum(hash_bytea(prev));
	nulls[ri->hash_att] = true;
	row_digest(ri, values, nulls, hash);
	values[ri->hash_att] = PointerGetDatum(hash_bytea(hash));
	nulls[ri->hash_att] = false;
}

/*
 * heliosdb._audit_rows(records bytea[] or text[], last_seq bigint,
 * last_hash bytea) RETURNS SETOF heliosdb.audit_log: the rows of a batch
 * of records, binary or JSON, chained after the chain end (last_seq,
 * last_hash).
 */
Datum
hdb_audit_rows(PG_FUNCTION_ARGS)
{
	ArrayType  *recs = PG_GETARG_ARRAYTYPE_P(0);
	int64		seq = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowInfo    *ri;
	Datum	   *texts;
	bool	   *text_nulls;
	int			ntexts;
	Datum	   *values;
	bool	   *nulls;
	bool		have_prev = !PG_ARGISNULL(2);
	uint8		prev[HDB_AUDIT_HASH_LEN];
	uint8		hash[HDB_AUDIT_HASH_LEN];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	MemoryContext row_cxt;
	MemoryContext old;

	if (have_prev)
	{
		bytea	   *h = PG_GETARG_BYTEA_PP(2);

		if (VARSIZE_ANY_EXHDR(h) != HDB_AUDIT_HASH_LEN)
			elog(ERROR, "audit chain end has a hash of the wrong length");
		memcpy(prev, VARDATA_ANY(h), HDB_AUDIT_HASH_LEN);
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	ri = row_info(rsinfo->setDesc, CurrentMemoryContext);
	values = palloc(sizeof(Datum) * ri->tupdesc->natts);
	nulls = palloc(sizeof(bool) * ri->tupdesc->natts);
	if (ARR_ELEMTYPE(recs) != TEXTOID && ARR_ELEMTYPE(recs) != BYTEAOID)
		elog(ERROR, "audit records must be text or bytea");
	deconstruct_array(recs, ARR_ELEMTYPE(recs), -1, false, TYPALIGN_INT,
					  &texts, &text_nulls, &ntexts);

	row_cxt = AllocSetContextCreate(CurrentMemoryContext,
									"heliosdb audit row",
									ALLOCSET_DEFAULT_SIZES);
	for (int r = 0; r < ntexts; r++)
	{
		struct varlena *t;

		if (text_nulls[r])
			elog(ERROR, "audit record is NULL");
		old = MemoryContextSwitchTo(row_cxt);
		t = PG_DETOAST_DATUM_PACKED(texts[r]);
		hdb_audit_build_row((HdbAuditRowInfo *) ri, VARDATA_ANY(t),
							VARSIZE_ANY_EXHDR(t), ++seq,
							have_prev ? prev : NULL, now, values, nulls, hash);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);

		memcpy(prev, hash, HDB_AUDIT_HASH_LEN);
		have_prev = true;
	}

	/* The chain's end, for the writer to save. */
	if (ntexts > 0)
	{
		hdb_audit_chain_last_seq = seq;
		memcpy(hdb_audit_chain_last_hash, hash, HDB_AUDIT_HASH_LEN);
	}
	return (Datum) 0;
}
