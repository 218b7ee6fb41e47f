/*-------------------------------------------------------------------------
 *
 * seal_budget.c
 *	  An upper bound on the rows each data key has sealed: every row gets a
 *	  fresh random 96-bit nonce, and a key must move on to a new version
 *	  before it has used 2^32 of them (NIST SP 800-38D, 8.3).
 *
 * Backends take row seals in blocks from the sequence
 * heliosdb.seal_block_seq, one block of seal_block_size() seals at a time,
 * whatever key they seal with.  A data key records the sequence's value
 * when it was made (table_key.seal_mark, a column default), so the blocks
 * handed out since bound the rows it can have sealed: each is at most one
 * block's worth, and to them come the blocks that backends already held
 * when the key was made.  The bound counts other keys' rows too, which
 * only brings a new version sooner.
 *
 * A sequence is what makes the count hold where a counter in shared
 * memory or a file would not: a block is WAL-logged before any row sealed
 * under it, a crash only moves the sequence forward, rolled-back rows are
 * counted (their ciphertext is on disk all the same), and a standby that
 * is promoted knows every block its WAL holds rows of.
 *
 * In parallel mode (the leader of CREATE TABLE ... AS inserts under a
 * parallel plan) and in read-only transactions (which may write temporary
 * tables) the sequence cannot advance: the seals are counted as a debt,
 * paid with as many blocks at the next block taken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "commands/sequence.h"
#include "utils/guc.h"

#include "crypto/hdb_crypto.h"

/* Rows a data key may seal before the table moves to a new version. */
static int	max_rows_per_key = INT_MAX;

/* The block this backend holds, the seals left in it, and its debt. */
static int64 seal_block = 0;
static int	seals_left = 0;
static int64 seal_debt = 0;

/*
 * Seals a block: small enough against the budget that the blocks held by
 * all backends stay a small part of it (1/256 each), large enough to take
 * one rarely (at most 65,536).
 */
static int
seal_block_size(void)
{
	return Max(1, Min(65536, max_rows_per_key / 256));
}

void
hdb_seal_budget_init(void)
{
	DefineCustomIntVariable("heliosdb.max_rows_per_data_key",
							"Sets how many rows a data key may seal before its table moves to a new data key version.",
							"Every row is sealed with a random nonce; a key must not use 2^32 of them. Rows sealed before stay readable with the old version.",
							&max_rows_per_key,
							INT_MAX, 100, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

/* The setting, for messages. */
int
hdb_seal_budget_max_rows(void)
{
	return max_rows_per_key;
}

/* The next value of heliosdb.seal_block_seq. */
static int64
next_block(void)
{
	/* heliosdb's own counter: the role writing the table need not own it */
	return nextval_internal(hdb_crypto_relid("seal_block_seq", false), false);
}

/*
 * Count one row about to be sealed with a key made at mark.  *checked is
 * the block for which that key was last checked; it is checked again once
 * this backend has taken a new block, and true is returned when the blocks
 * handed out since mark may hold max_rows_per_data_key of its seals.
 */
bool
hdb_seal_budget_count(int64 mark, int64 *checked)
{
	int			size = seal_block_size();

	/* a block taken before the setting was lowered counts as a smaller one */
	if (seals_left >= size)
		seals_left = size - 1;
	if (seals_left > 0)
		seals_left--;
	else if (IsInParallelMode() || XactReadOnly)
		seal_debt++;
	else
	{
		/* pay the debt first, then take a block for this seal and more */
		for (; seal_debt > 0; seal_debt -= size)
			(void) next_block();
		seal_block = next_block();
		seals_left = size - 1;
	}
	if (*checked == seal_block)
		return false;
	*checked = seal_block;
	return seal_block - mark >= max_rows_per_key / size;
}
