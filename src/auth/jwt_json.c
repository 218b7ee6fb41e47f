/*-------------------------------------------------------------------------
 *
 * jwt_json.c
 *	  Strict JSON parsing for JOSE objects and key sets.
 *
 * jsonb input keeps the last of two equal keys, so "{"role":"a",
 * "role":"b"}" would silently mean role b.  A token whose parts can be read
 * two ways must be refused instead, so the text is first walked with
 * PostgreSQL's JSON parser and a semantic action that refuses duplicate
 * keys (compared after de-escaping), deep nesting, NUL bytes and numbers
 * that jsonb could not hold; only then is it converted to jsonb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "auth/auth_internal.h"

/* Deepest nesting of objects and arrays accepted. */
#define STRICT_JSON_MAX_DEPTH	16
/* Longest number literal accepted, and largest decimal exponent. */
#define STRICT_JSON_MAX_NUMBER	40
#define STRICT_JSON_MAX_EXPONENT	400

typedef struct StrictState
{
	const char *what;			/* "token header", ... for messages */
	int			sqlerrcode;
	int			depth;
	List	   *keys;			/* one List of key names per open object */
} StrictState;

static void
strict_fail(StrictState *st, const char *detail)
{
	ereport(ERROR,
			(errcode(st->sqlerrcode),
			 errmsg("%s is not valid JSON", st->what),
			 errdetail_internal("%s", detail)));
}

static void
strict_nest(StrictState *st)
{
	if (++st->depth > STRICT_JSON_MAX_DEPTH)
		strict_fail(st, "It is nested too deeply.");
}

static void
strict_object_start(void *state)
{
	StrictState *st = state;

	strict_nest(st);
	st->keys = lcons(NIL, st->keys);
}

static void
strict_object_end(void *state)
{
	StrictState *st = state;

	st->depth--;
	list_free_deep(linitial(st->keys));
	st->keys = list_delete_first(st->keys);
}

static void
strict_array_start(void *state)
{
	strict_nest(state);
}

static void
strict_array_end(void *state)
{
	((StrictState *) state)->depth--;
}

static void
strict_field_start(void *state, char *fname, bool isnull)
{
	StrictState *st = state;
	List	   *seen = linitial(st->keys);
	ListCell   *lc;

	foreach(lc, seen)
	{
		if (strcmp(lfirst(lc), fname) == 0)
			ereport(ERROR,
					(errcode(st->sqlerrcode),
					 errmsg("%s has a duplicate key", st->what),
					 errdetail("Every key may appear only once in an object.")));
	}
	linitial(st->keys) = lappend(seen, fname);
}

static void
strict_scalar(void *state, char *token, JsonTokenType tokentype)
{
	StrictState *st = state;

	if (tokentype == JSON_TOKEN_NUMBER)
	{
		const char *e = strpbrk(token, "eE");

		if (strlen(token) > STRICT_JSON_MAX_NUMBER)
			strict_fail(st, "A number is too long.");
		if (e != NULL)
		{
			long		exponent = strtol(e + 1, NULL, 10);

			if (exponent > STRICT_JSON_MAX_EXPONENT ||
				exponent < -STRICT_JSON_MAX_EXPONENT)
				strict_fail(st, "A number is out of range.");
		}
	}
	pfree(token);
}

/*
 * Parse len bytes of JSON text into jsonb, refusing anything ambiguous.
 * Failures are reported with the given SQLSTATE and a message naming
 * "what" was parsed; the text itself is never echoed.
 */
Jsonb *
hdb_json_parse_strict(const char *buf, int len, const char *what,
					  int sqlerrcode)
{
	StrictState st;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	char	   *copy;

	memset(&st, 0, sizeof(st));
	st.what = what;
	st.sqlerrcode = sqlerrcode;

	if (memchr(buf, '\0', len) != NULL)
		strict_fail(&st, "It contains a NUL byte.");
	/* JSON is UTF-8 (RFC 8259); the database encoding may not be known yet. */
	if (!pg_verify_mbstr(PG_UTF8, buf, len, true))
		strict_fail(&st, "It is not valid UTF-8.");

	copy = palloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = '\0';

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = strict_object_start;
	sem.object_end = strict_object_end;
	sem.array_start = strict_array_start;
	sem.array_end = strict_array_end;
	sem.object_field_start = strict_field_start;
	sem.scalar = strict_scalar;

	lex = makeJsonLexContextCstringLen(copy, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		strict_fail(&st, rc == JSON_UNICODE_CODE_POINT_ZERO ?
					"It contains a \\u0000 escape." :
					"Its syntax is invalid.");

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}
