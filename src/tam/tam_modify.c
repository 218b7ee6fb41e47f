/*-------------------------------------------------------------------------
 *
 * tam_modify.c
 *	  Write callbacks of heliosdb_encrypted: insert (plain, speculative and
 *	  multi-row), update, delete and row locking.
 *
 * Rows are encrypted into physical tuples that heap stores through the
 * physical view.  After heap has written one, its transaction header
 * (xmin, cmin, infomask, ctid) is copied back into the caller's logical
 * tuple, so that RETURNING xmin, triggers and foreign keys see what they
 * would see with heap.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "executor/tuptable.h"
#include "nodes/bitmapset.h"
#include "storage/bufmgr.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/relcache.h"

#include "crypto/hdb_crypto.h"
#include "tam/tam_internal.h"

/* The logical tuple held by a slot, materialized in the slot. */
static HeapTuple
slot_logical_tuple(Relation rel, TupleTableSlot *slot, bool *shouldFree)
{
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, true, shouldFree);

	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;
	return tuple;
}

/* After heap stored phys: give the caller's row its header and TID. */
static void
written(HeapTuple phys, HeapTuple logical, bool shouldFree,
		TupleTableSlot *slot)
{
	if (!shouldFree)
		hdb_copy_header(phys, logical);
	else
		heap_freetuple(logical);
	slot->tts_tid = phys->t_self;
}

static void
enc_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
				 int options, BulkInsertState bistate)
{
	bool		shouldFree;
	HeapTuple	logical = slot_logical_tuple(rel, slot, &shouldFree);
	HeapTuple	phys = hdb_encrypt_tuple(rel, logical);

	heap_insert(hdb_physical_view(rel), phys, cid, options, bistate);
	written(phys, logical, shouldFree, slot);
	heap_freetuple(phys);
}

static void
enc_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
							 CommandId cid, int options,
							 BulkInsertState bistate, uint32 specToken)
{
	bool		shouldFree;
	HeapTuple	logical = slot_logical_tuple(rel, slot, &shouldFree);
	HeapTuple	phys = hdb_encrypt_tuple(rel, logical);

	HeapTupleHeaderSetSpeculativeToken(phys->t_data, specToken);
	heap_insert(hdb_physical_view(rel), phys, cid,
				options | HEAP_INSERT_SPECULATIVE, bistate);
	written(phys, logical, shouldFree, slot);
	heap_freetuple(phys);
}

/* Aborting a speculative insertion may delete TOAST: needs the view. */
static void
enc_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
							   uint32 specToken, bool succeeded)
{
	hdb_heap->tuple_complete_speculative(hdb_physical_view(rel), slot,
										 specToken, succeeded);
}

/*
 * Memory for one batch of a bulk insert, reset after each.  Its first block
 * is large and kept across resets: a batch of COPY (up to 1,000 rows)
 * needs some hundred kilobytes for its physical slots and tuples, and in
 * the caller's per-tuple context, whose blocks go back to malloc at every
 * reset, that memory was mapped and faulted in afresh for every batch,
 * which took more time than encrypting the rows.
 */
static MemoryContext batch_cxt = NULL;

/*
 * COPY and other bulk inserts: encrypt the batch into physical slots and
 * let heap insert it in one go, then copy TIDs and headers back.
 */
static void
enc_multi_insert(Relation rel, TupleTableSlot **slots, int nslots,
				 CommandId cid, int options, BulkInsertState bistate)
{
	TupleTableSlot **pslots;
	TupleDesc	pdesc = hdb_physical_desc();
	MemoryContext old;
	int			i;

	if (batch_cxt == NULL)
		batch_cxt = AllocSetContextCreate(TopMemoryContext,
										  "heliosdb bulk insert batch",
										  0, 1024 * 1024, 8 * 1024 * 1024);
	MemoryContextReset(batch_cxt);
	old = MemoryContextSwitchTo(batch_cxt);
	pslots = palloc(nslots * sizeof(TupleTableSlot *));

	for (i = 0; i < nslots; i++)
	{
		bool		shouldFree;
		HeapTuple	logical = slot_logical_tuple(rel, slots[i], &shouldFree);

		pslots[i] = MakeSingleTupleTableSlot(pdesc, &TTSOpsHeapTuple);
		ExecStoreHeapTuple(hdb_encrypt_tuple(rel, logical), pslots[i], true);
		if (shouldFree)
			heap_freetuple(logical);
	}
	heap_multi_insert(hdb_physical_view(rel), pslots, nslots, cid, options,
					  bistate);
	for (i = 0; i < nslots; i++)
	{
		HeapTuple	phys = ExecFetchSlotHeapTuple(pslots[i], false, NULL);

		phys->t_self = pslots[i]->tts_tid;
		if (TTS_IS_HEAPTUPLE(slots[i]))
			hdb_copy_header(phys, ExecFetchSlotHeapTuple(slots[i], false,
														 NULL));
		slots[i]->tts_tid = phys->t_self;
		ExecDropSingleTupleTableSlot(pslots[i]);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(batch_cxt);
}

static TM_Result
enc_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
				 Snapshot snapshot, Snapshot crosscheck, bool wait,
				 TM_FailureData *tmfd, bool changingPart)
{
	return heap_delete(hdb_physical_view(rel), tid, cid, crosscheck, wait,
					   tmfd, changingPart);
}

/* The current logical row version at tid, or NULL if there is none. */
static HeapTuple
fetch_logical(Relation rel, ItemPointer tid)
{
	Buffer		buffer;
	Page		page;
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	HeapTuple	copy = NULL;
	HeapTuple	logical;

	buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ItemIdIsNormal(lp))
		{
			HeapTupleData tuple;

			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_self = *tid;
			tuple.t_tableOid = RelationGetRelid(rel);
			copy = heap_copytuple(&tuple);
		}
	}
	UnlockReleaseBuffer(buffer);
	if (copy == NULL)
		return NULL;
	logical = hdb_decrypt_tuple(rel, copy, CurrentMemoryContext);
	heap_freetuple(copy);
	return logical;
}

/* Do any of the columns in attrs differ between the two rows? */
static bool
columns_differ(TupleDesc desc, Bitmapset *attrs, HeapTuple a, HeapTuple b)
{
	int			m = -1;

	while ((m = bms_next_member(attrs, m)) >= 0)
	{
		AttrNumber	attnum = m + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att;
		bool		anull;
		bool		bnull;
		Datum		av;
		Datum		bv;

		if (attnum <= 0)
			return true;		/* a system column: assume it changed */
		att = TupleDescAttr(desc, attnum - 1);
		av = heap_getattr(a, attnum, desc, &anull);
		bv = heap_getattr(b, attnum, desc, &bnull);
		if (anull != bnull)
			return true;
		if (!anull && !datumIsEqual(av, bv, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

/* Do the columns of one kind of index differ between the two rows? */
static bool
kind_differs(Relation rel, IndexAttrBitmapKind kind, HeapTuple a, HeapTuple b)
{
	Bitmapset  *attrs = RelationGetIndexAttrBitmap(rel, kind);
	bool		differ = columns_differ(RelationGetDescr(rel), attrs, a, b);

	bms_free(attrs);
	return differ;
}

/*
 * Tell heap_update, through the view's bitmaps, which kinds of index
 * columns the update changes in the logical row.
 */
static void
preset_update_bitmaps(Relation rel, Relation view, ItemPointer otid,
					  HeapTuple newtup)
{
	Bitmapset  *all = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_ALL);
	HeapTuple	oldtup;
	TupleDesc	desc = RelationGetDescr(rel);

	if (all == NULL)
	{
		hdb_view_set_update_bitmaps(view, false, false, false, false);
		return;
	}
	oldtup = fetch_logical(rel, otid);
	if (oldtup == NULL)
	{
		/* heap_update will report the row as gone; be conservative */
		hdb_view_set_update_bitmaps(view, true, true, true, true);
		return;
	}
	hdb_view_set_update_bitmaps(view,
								columns_differ(desc, all, oldtup, newtup),
								kind_differs(rel, INDEX_ATTR_BITMAP_KEY,
											 oldtup, newtup),
								kind_differs(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY,
											 oldtup, newtup),
								kind_differs(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY,
											 oldtup, newtup));
	heap_freetuple(oldtup);
}

static TM_Result
enc_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
				 CommandId cid, Snapshot snapshot, Snapshot crosscheck,
				 bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
				 bool *update_indexes)
{
	bool		shouldFree;
	HeapTuple	logical = slot_logical_tuple(rel, slot, &shouldFree);
	HeapTuple	phys = hdb_encrypt_tuple(rel, logical);
	Relation	view;
	TM_Result	result;

	view = hdb_physical_view(rel);
	preset_update_bitmaps(rel, view, otid, logical);
	result = heap_update(view, otid, phys, cid, crosscheck, wait, tmfd,
						 lockmode);
	*update_indexes = result == TM_Ok && !HeapTupleIsHeapOnly(phys);
	if (result == TM_Ok)
		written(phys, logical, shouldFree, slot);
	else
	{
		slot->tts_tid = phys->t_self;
		if (shouldFree)
			heap_freetuple(logical);
	}
	heap_freetuple(phys);
	return result;
}

static TM_Result
enc_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
			   TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
			   LockWaitPolicy wait_policy, uint8 flags, TM_FailureData *tmfd)
{
	TupleTableSlot *pslot = MakeSingleTupleTableSlot(hdb_physical_desc(),
													 &TTSOpsBufferHeapTuple);
	TM_Result	result;

	result = hdb_heap->tuple_lock(rel, tid, snapshot, pslot, cid, mode,
								  wait_policy, flags, tmfd);
	if (result == TM_Ok)
		hdb_store_decrypted(rel, pslot, slot);
	else
		ExecClearTuple(slot);
	ExecDropSingleTupleTableSlot(pslot);
	return result;
}

/* Install the write callbacks into r (a copy of heap's routine). */
void
hdb_tam_modify_callbacks(TableAmRoutine *r)
{
	r->tuple_insert = enc_tuple_insert;
	r->tuple_insert_speculative = enc_tuple_insert_speculative;
	r->tuple_complete_speculative = enc_tuple_complete_speculative;
	r->multi_insert = enc_multi_insert;
	r->tuple_delete = enc_tuple_delete;
	r->tuple_update = enc_tuple_update;
	r->tuple_lock = enc_tuple_lock;
}
