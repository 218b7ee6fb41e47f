/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Redaction of statement text with the core SQL scanner: literal
 *	  constants are replaced by numbered placeholders ($n, numbered after
 *	  the statement's own parameters), the way pg_stat_statements shows
 *	  normalized queries.
 *
 * With "all" false only the string literals that hold an API key or a
 * token are replaced; that is what remains of redaction when
 * heliosdb.audit_redact is off.  Using the scanner (rather than patterns)
 * gets quoting, dollar quoting, escape strings and comments right.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "parser/scanner.h"
#include "utils/builtins.h"
/* token numbers; needs the two headers above */
#include "parser/gram.h"

#include "audit/audit_internal.h"

static bool
is_literal_token(int tok)
{
	return tok == ICONST || tok == FCONST || tok == SCONST ||
		tok == USCONST || tok == BCONST || tok == XCONST;
}

/*
 * Return a palloc'd copy of query[0..len) with literals replaced.  The text
 * has been parsed by the same scanner already, so scanning cannot fail on
 * it; no error is caught here because this runs in error paths too.
 *
 * One pass of the scanner finds the literals to replace and the highest
 * $n the statement uses; the copy is made after it.
 */
char *
hdb_audit_redact_query(const char *query, int len, bool all)
{
	char	   *text = pnstrdup(query, len);
	StringInfoData out;
	int			max_param = 0;
	core_yyscan_t scanner;
	core_yy_extra_type extra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	int			tok;
	int			copied = 0;
	int			nlits = 0;
	int			maxlits = 16;
	int		   *starts = palloc(sizeof(int) * maxlits);
	int		   *ends = palloc(sizeof(int) * maxlits);

	scanner = scanner_init(text, &extra, &ScanKeywords, ScanKeywordTokens);
	extra.escape_string_warning = false;
	while ((tok = core_yylex(&yylval, &yylloc, scanner)) != 0)
	{
		bool		replace;

		if (tok == PARAM && yylval.ival > max_param)
			max_param = yylval.ival;
		if (!is_literal_token(tok))
			continue;
		if (all)
			replace = true;
		else
			replace = (tok == SCONST || tok == USCONST) &&
				yylval.str != NULL && hdb_audit_has_secret(yylval.str);
		if (!replace)
			continue;
		if (nlits == maxlits)
		{
			maxlits *= 2;
			starts = repalloc(starts, sizeof(int) * maxlits);
			ends = repalloc(ends, sizeof(int) * maxlits);
		}
		/* The scanner ends the current token with a NUL in its buffer. */
		starts[nlits] = yylloc;
		ends[nlits] = yylloc + strlen(extra.scanbuf + yylloc);
		nlits++;
	}
	scanner_finish(scanner);

	initStringInfo(&out);
	for (int i = 0; i < nlits; i++)
	{
		char		num[16];

		appendBinaryStringInfo(&out, text + copied, starts[i] - copied);
		appendStringInfoCharMacro(&out, '$');
		appendBinaryStringInfo(&out, num, pg_ltoa(++max_param, num));
		copied = ends[i];
	}
	appendStringInfoString(&out, text + copied);

	pfree(starts);
	pfree(ends);
	pfree(text);
	return out.data;
}
