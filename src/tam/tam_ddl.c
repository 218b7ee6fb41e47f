/*-------------------------------------------------------------------------
 *
 * tam_ddl.c
 *	  Utility callbacks of heliosdb_encrypted: index builds, CLUSTER and
 *	  VACUUM FULL, TOAST, and the creation of relation files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"

#include "crypto/hdb_crypto.h"
#include "tam/tam_internal.h"

/* State of an index build: the real index's description and callback. */
typedef struct BuildState
{
	Relation	rel;
	IndexInfo  *info;
	IndexBuildCallback callback;
	void	   *callback_state;
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	ExprState  *predicate;
} BuildState;

/*
 * Called by heap's build scan with the physical payload as the only
 * "index column": decrypt it, apply the index's predicate and expressions,
 * and hand the real index values to the real callback.
 */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = (BuildState *) state;
	Datum		ivalues[INDEX_MAX_KEYS];
	bool		inull[INDEX_MAX_KEYS];
	MemoryContext old;
	HeapTuple	logical;

	ResetExprContext(bs->econtext);
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(bs->estate));
	logical = hdb_decrypt_payload(bs->rel, values[0], tid,
								  CurrentMemoryContext);
	ExecStoreHeapTuple(logical, bs->slot, false);
	if (bs->predicate == NULL || ExecQual(bs->predicate, bs->econtext))
	{
		FormIndexDatum(bs->info, bs->slot, bs->estate, ivalues, inull);
		bs->callback(index, tid, ivalues, inull, tupleIsAlive,
					 bs->callback_state);
	}
	ExecClearTuple(bs->slot);
	MemoryContextSwitchTo(old);
}

/*
 * Heap's own build scan (HOT roots, visibility, progress) on the physical
 * view, with a substitute IndexInfo that "indexes" the payload column and
 * a callback that computes the real index values.
 */
static double
enc_index_build_range_scan(Relation rel, Relation index, IndexInfo *info,
						   bool allow_sync, bool anyvisible, bool progress,
						   BlockNumber start_blockno, BlockNumber numblocks,
						   IndexBuildCallback callback, void *callback_state,
						   TableScanDesc scan)
{
	IndexInfo  *sub;
	BuildState	bs;
	double		reltuples;

	sub = makeIndexInfo(1, 1, info->ii_Am, NIL, NIL, info->ii_Unique,
						info->ii_NullsNotDistinct, info->ii_ReadyForInserts,
						info->ii_Concurrent);
	sub->ii_IndexAttrNumbers[0] = 1;
	sub->ii_ExclusionOps = info->ii_ExclusionOps;
	sub->ii_ExclusionProcs = info->ii_ExclusionProcs;
	sub->ii_ExclusionStrats = info->ii_ExclusionStrats;
	sub->ii_ParallelWorkers = info->ii_ParallelWorkers;

	bs.rel = rel;
	bs.info = info;
	bs.callback = callback;
	bs.callback_state = callback_state;
	bs.estate = CreateExecutorState();
	bs.econtext = GetPerTupleExprContext(bs.estate);
	bs.slot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
									   &TTSOpsHeapTuple);
	bs.econtext->ecxt_scantuple = bs.slot;
	bs.predicate = info->ii_Predicate != NIL ?
		ExecPrepareQual(info->ii_Predicate, bs.estate) : NULL;

	reltuples = hdb_heap->index_build_range_scan(hdb_physical_view(rel),
												 index, sub, allow_sync,
												 anyvisible, progress,
												 start_blockno, numblocks,
												 build_callback, &bs,
												 scan ? ((HdbScanDesc) scan)->inner : NULL);
	if (sub->ii_BrokenHotChain)
		info->ii_BrokenHotChain = true;

	ExecDropSingleTupleTableSlot(bs.slot);
	FreeExecutorState(bs.estate);
	/* these pointed into the executor state just freed */
	info->ii_ExpressionsState = NIL;
	info->ii_PredicateState = NULL;
	return reltuples;
}

static void
enc_index_validate_scan(Relation rel, Relation index, IndexInfo *info,
						Snapshot snapshot, ValidateIndexState *state)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("CREATE INDEX CONCURRENTLY is not supported on encrypted table \"%s\"",
					RelationGetRelationName(rel)),
			 errhint("Use CREATE INDEX without CONCURRENTLY.")));
}

/*
 * VACUUM FULL and CLUSTER: heap's copy between the physical views, without
 * a sort (sort keys would be read from ciphertext).  Payloads are copied
 * as they are, still sealed with their keys.
 */
static void
enc_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
							  Relation OldIndex, bool use_sort,
							  TransactionId OldestXmin,
							  TransactionId *xid_cutoff,
							  MultiXactId *multi_cutoff,
							  double *num_tuples,
							  double *tups_vacuumed,
							  double *tups_recently_dead)
{
	hdb_heap->relation_copy_for_cluster(hdb_physical_view(OldTable),
										hdb_physical_view(NewTable),
										OldIndex, false, OldestXmin,
										xid_cutoff, multi_cutoff, num_tuples,
										tups_vacuumed, tups_recently_dead);
}

/* A new relation file: refuse unless a keyring can encrypt into it. */
static void
enc_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
							  char persistence, TransactionId *freezeXid,
							  MultiXactId *minmulti)
{
	hdb_keyring_check();
	hdb_heap->relation_set_new_filenode(rel, newrnode, persistence,
										freezeXid, minmulti);
}

/* The payload is variable-length whatever the columns are: always TOAST. */
static bool
enc_relation_needs_toast_table(Relation rel)
{
	return true;
}

/* TOAST chunks are ciphertext already: they are stored and read by heap. */
static Oid
enc_relation_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

/* Install the utility callbacks into r (a copy of heap's routine). */
void
hdb_tam_ddl_callbacks(TableAmRoutine *r)
{
	r->index_build_range_scan = enc_index_build_range_scan;
	r->index_validate_scan = enc_index_validate_scan;
	r->relation_copy_for_cluster = enc_relation_copy_for_cluster;
	r->relation_set_new_filenode = enc_relation_set_new_filenode;
	r->relation_needs_toast_table = enc_relation_needs_toast_table;
	r->relation_toast_am = enc_relation_toast_am;
}
