/*-------------------------------------------------------------------------
 *
 * tam_ddl.c
 *	  Utility callbacks of heliosdb_encrypted: index builds, CLUSTER and
 *	  VACUUM FULL, TOAST, and the creation of relation files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "catalog/index.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "utils/backend_progress.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/tuplesort.h"

#include "crypto/hdb_crypto.h"
#include "tam/hdb_tam.h"
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
	TableScanDesc inner;
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

	inner = scan ? ((HdbScanDesc) scan)->inner : NULL;
	reltuples = hdb_heap->index_build_range_scan(hdb_physical_view(rel),
												 index, sub, allow_sync,
												 anyvisible, progress,
												 start_blockno, numblocks,
												 build_callback, &bs, inner);
	if (sub->ii_BrokenHotChain)
		info->ii_BrokenHotChain = true;

	ExecDropSingleTupleTableSlot(bs.slot);
	FreeExecutorState(bs.estate);
	/* these pointed into the executor state just freed */
	info->ii_ExpressionsState = NIL;
	info->ii_PredicateState = NULL;
	return reltuples;
}

/* Next TID of the sorted index contents, or false when there are no more. */
static bool
next_index_tid(ValidateIndexState *state, ItemPointer tid)
{
	Datum		value;
	bool		isnull;

	if (!tuplesort_getdatum(state->tuplesort, true, &value, &isnull, NULL))
		return false;
	Assert(!isnull);
	itemptr_decode(tid, DatumGetInt64(value));
	return true;
}

/*
 * Second phase of CREATE INDEX CONCURRENTLY: insert into the index every
 * row visible to snapshot that the index does not hold yet.  The index's
 * TIDs arrive sorted; the physical view is scanned block by block in the
 * same order, with heap-only tuples standing for the root of their HOT
 * chain, whose TID is the one the index holds.  Only missing rows are
 * decrypted.
 */
static void
enc_index_validate_scan(Relation rel, Relation index, IndexInfo *info,
						Snapshot snapshot, ValidateIndexState *state)
{
	Relation	view = hdb_physical_view(rel);
	EState	   *estate = CreateExecutorState();
	ExprContext *econtext = GetPerTupleExprContext(estate);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
													&TTSOpsHeapTuple);
	ExprState  *predicate;
	TableScanDesc scan;
	HeapScanDesc hscan;
	HeapTuple	phys;
	OffsetNumber roots[MaxHeapTuplesPerPage];
	bool		seen[MaxHeapTuplesPerPage];
	BlockNumber block = InvalidBlockNumber;
	ItemPointerData itid;
	bool		have_itid;

	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(info->ii_Predicate, estate);

	/* in block order, from block 0, to merge with the sorted index TIDs */
	scan = hdb_heap->scan_begin(view, snapshot, 0, NULL, NULL,
								SO_TYPE_SEQSCAN | SO_ALLOW_STRAT |
								SO_ALLOW_PAGEMODE);
	hscan = (HeapScanDesc) scan;
	pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL,
								 hscan->rs_nblocks);
	have_itid = next_index_tid(state, &itid);

	while ((phys = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		ItemPointerData root = phys->t_self;
		OffsetNumber rootoff = ItemPointerGetOffsetNumber(&root);

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;

		if (hscan->rs_cblock != block)
		{
			/* a new page: map heap-only tuples to their chains' roots */
			block = hscan->rs_cblock;
			pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE, block);
			LockBuffer(hscan->rs_cbuf, BUFFER_LOCK_SHARE);
			heap_get_root_tuples(BufferGetPage(hscan->rs_cbuf), roots);
			LockBuffer(hscan->rs_cbuf, BUFFER_LOCK_UNLOCK);
			memset(seen, 0, sizeof(seen));
		}
		if (HeapTupleIsHeapOnly(phys))
		{
			rootoff = roots[rootoff - 1];
			if (!OffsetNumberIsValid(rootoff))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg_internal("no root tuple for heap-only tuple (%u,%u) in table \"%s\"",
										 block,
										 ItemPointerGetOffsetNumber(&root),
										 RelationGetRelationName(rel))));
			ItemPointerSetOffsetNumber(&root, rootoff);
		}

		/*
		 * Skip index TIDs below this root, remembering those of this page:
		 * roots within a page need not come in offset order.
		 */
		while (have_itid && ItemPointerCompare(&itid, &root) < 0)
		{
			if (ItemPointerGetBlockNumber(&itid) == block)
				seen[ItemPointerGetOffsetNumber(&itid) - 1] = true;
			have_itid = next_index_tid(state, &itid);
		}
		if ((have_itid && ItemPointerEquals(&itid, &root)) ||
			seen[rootoff - 1])
			continue;

		/* missing from the index: decrypt and insert it under its root */
		ResetExprContext(econtext);
		ExecStoreHeapTuple(hdb_decrypt_tuple(rel, phys,
											 GetPerTupleMemoryContext(estate)),
						   slot, false);
		if (predicate == NULL || ExecQual(predicate, econtext))
		{
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];

			FormIndexDatum(info, slot, estate, values, isnull);
			index_insert(index, values, isnull, &root, rel,
						 info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, info);
			state->tups_inserted += 1;
		}
		ExecClearTuple(slot);
	}

	hdb_heap->scan_end(scan);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	/* these pointed into the executor state just freed */
	info->ii_ExpressionsState = NIL;
	info->ii_PredicateState = NULL;
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

static object_access_hook_type prev_object_access = NULL;

/*
 * A new relation of this access method gets its data key at creation,
 * before anything is written to it.  Its first rows may arrive while a
 * parallel plan runs (CREATE TABLE AS, SELECT INTO, CREATE or REFRESH
 * MATERIALIZED VIEW), and nothing can create a key then: that writes to
 * heliosdb.table_key.  The transient relation of a rewrite has the key of
 * the table it rewrites (hdb_datakey_owner), created here if that table
 * had none, as when it changes to this access method.
 */
static void
enc_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access == OAT_POST_CREATE && classId == RelationRelationId &&
		subId == 0)
	{
		/* a relation being created is in the relcache already */
		Relation	rel = RelationIdGetRelation(objectId);

		if (RelationIsValid(rel))
		{
			if (hdb_is_encrypted(rel))
				(void) hdb_datakey_for_write(rel);
			RelationClose(rel);
		}
	}
}

/* Called once from hdb_tam_init. */
void
hdb_tam_ddl_init(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = enc_object_access;
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
