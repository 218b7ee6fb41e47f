/*-------------------------------------------------------------------------
 *
 * tam_scan.c
 *	  Read callbacks of heliosdb_encrypted: sequential, TID-range, bitmap,
 *	  sample and ANALYZE scans, index fetches, fetches by TID.
 *
 * Each runs heap's callback on the physical view with a private buffer slot
 * and decrypts what it returns into the caller's slot; the scans that fill
 * one slot row after row decrypt into memory they reuse.  Scan keys are not
 * given to heap, which would test them against ciphertext: they are tested
 * on the decrypted row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/heapam.h"
#include "access/parallel.h"
#include "access/valid.h"
#include "executor/tuptable.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "utils/guc.h"
#include "utils/resowner_private.h"

#include "crypto/hdb_crypto.h"
#include "tam/tam_internal.h"

/* Index fetch state: heap's, and a buffer slot for physical tuples. */
typedef struct HdbIndexFetchData
{
	IndexFetchTableData base;
	IndexFetchTableData *inner;
	TupleTableSlot *pslot;
} HdbIndexFetchData;

static TupleTableSlot *
physical_slot(void)
{
	return MakeSingleTupleTableSlot(hdb_physical_desc(),
									&TTSOpsBufferHeapTuple);
}

/*
 * Parallel scans share heap's state and, after it, the data key the leader
 * expects the rows to need, wrapped (hdb_datakey_share): a worker that
 * starts with it need not read the key table, which costs a new process a
 * few milliseconds of catalog look-ups.
 */
static Size
shared_key_offset(Relation rel)
{
	return MAXALIGN(hdb_heap->parallelscan_estimate(rel));
}

static Size
enc_parallelscan_estimate(Relation rel)
{
	return add_size(shared_key_offset(rel), sizeof(HdbSharedKey));
}

static Size
enc_parallelscan_initialize(Relation rel, ParallelTableScanDesc pscan)
{
	(void) hdb_heap->parallelscan_initialize(rel, pscan);
	hdb_datakey_share(rel, (HdbSharedKey *) ((char *) pscan +
											 shared_key_offset(rel)));
	return enc_parallelscan_estimate(rel);
}

static TableScanDesc
enc_scan_begin(Relation rel, Snapshot snapshot, int nkeys, ScanKey key,
			   ParallelTableScanDesc pscan, uint32 flags)
{
	HdbScanDesc scan = palloc0(sizeof(HdbScanDescData));
	Relation	view = hdb_physical_view(rel);

	scan->rs_base.rs_rd = rel;
	scan->rs_base.rs_snapshot = snapshot;
	scan->rs_base.rs_nkeys = nkeys;
	scan->rs_base.rs_flags = flags;
	scan->rs_base.rs_parallel = pscan;
	if (nkeys > 0)
	{
		scan->rs_base.rs_key = palloc(sizeof(ScanKeyData) * nkeys);
		memcpy(scan->rs_base.rs_key, key, sizeof(ScanKeyData) * nkeys);
	}
	if (pscan != NULL && IsParallelWorker())
		hdb_datakey_adopt((HdbSharedKey *) ((char *) pscan +
											shared_key_offset(rel)));
	scan->inner = hdb_heap->scan_begin(view, snapshot, 0, NULL, pscan, flags);
	scan->pslot = physical_slot();
	scan->rowbuf.mcxt = CurrentMemoryContext;
	return (TableScanDesc) scan;
}

/* Let go of the decrypted rows of the current page and of its pin. */
static void
page_rows_release(HdbPageRows *page)
{
	if (BufferIsValid(page->buffer))
	{
		ReleaseBuffer(page->buffer);
		page->buffer = InvalidBuffer;
	}
}

/*
 * Free the memory of the page rows too, once no slot holds one of them: a
 * query can have many scans that have ended (one per partition, say).
 */
static void
page_rows_free(HdbPageRows *page)
{
	page_rows_release(page);
	if (page->mem != NULL)
	{
		pfree(page->mem);
		pfree(page->source);
		pfree(page->rows);
		page->mem = NULL;
	}
}

static void
enc_scan_end(TableScanDesc sscan)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	/* the memory stays: a slot may still hold a row */
	page_rows_release(&scan->page);
	ExecDropSingleTupleTableSlot(scan->pslot);
	hdb_heap->scan_end(scan->inner);
	if (scan->rs_base.rs_key)
		pfree(scan->rs_base.rs_key);
	pfree(scan);
}

static void
enc_scan_rescan(TableScanDesc sscan, ScanKey key, bool set_params,
				bool allow_strat, bool allow_sync, bool allow_pagemode)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	if (key != NULL && scan->rs_base.rs_nkeys > 0)
		memcpy(scan->rs_base.rs_key, key,
			   sizeof(ScanKeyData) * scan->rs_base.rs_nkeys);
	ExecClearTuple(scan->pslot);
	page_rows_release(&scan->page);
	hdb_heap->scan_rescan(scan->inner, NULL, set_params, allow_strat,
						  allow_sync, allow_pagemode);
	if (set_params)
		scan->rs_base.rs_flags = scan->inner->rs_flags;
}

/* Does the decrypted row in slot satisfy the scan's keys? */
static inline bool
keys_match(HdbScanDesc scan, TupleTableSlot *slot)
{
	HeapTuple	tuple;
	bool		valid;

	if (scan->rs_base.rs_nkeys == 0)
		return true;
	tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
	HeapKeyTest(tuple, RelationGetDescr(scan->rs_base.rs_rd),
				scan->rs_base.rs_nkeys, scan->rs_base.rs_key, valid);
	return valid;
}

/* How many rows ahead page_rows_fill asks for the memory of rows. */
#define ROWS_AHEAD	2

/*
 * Decrypt the visible rows of the page heap's page-at-a-time scan has just
 * read, into the scan's page rows, with the data key of the scan's last
 * row.  A row that cannot be decrypted that way (another key, a payload
 * out of line, damage) is left out; the general path takes it when the
 * scan gets to it, and raises there what is wrong with it, so that a
 * damaged row fails a query only if the query reads it.  Rows of one page
 * are decrypted one after the other in a short loop, in which the
 * processor overlaps the work of consecutive rows.
 */
static void
page_rows_fill(HdbScanDesc scan, TupleTableSlot *slot)
{
	HeapScanDesc hscan = (HeapScanDesc) scan->inner;
	HdbPageRows *page = &scan->page;
	Relation	rel = scan->rs_base.rs_rd;
	Page		dp;
	Size		used = 0;
	int			i;

	/* the slot may hold a row of the page before */
	ExecClearTuple(slot);
	page_rows_release(page);
	if (page->mem == NULL)
	{
		MemoryContext mcxt = scan->rowbuf.mcxt;

		page->size = 2 * BLCKSZ;
		page->mem = MemoryContextAlloc(mcxt, page->size);
		page->source = MemoryContextAllocZero(mcxt, sizeof(HeapTupleHeader) *
											  (MaxHeapTuplesPerPage + 1));
		page->rows = MemoryContextAlloc(mcxt, sizeof(HeapTuple) *
										(MaxHeapTuplesPerPage + 1));
	}
	else
		memset(page->source, 0,
			   sizeof(HeapTupleHeader) * (MaxHeapTuplesPerPage + 1));

	ResourceOwnerEnlargeBuffers(CurrentResourceOwner);
	IncrBufferRefCount(hscan->rs_cbuf);
	page->buffer = hscan->rs_cbuf;
	if (scan->rowbuf.key == NULL)
		return;
	dp = BufferGetPage(page->buffer);
	for (i = 0; i < hscan->rs_ntuples; i++)
	{
		OffsetNumber off = hscan->rs_vistuples[i];
		ItemId		lp = PageGetItemId(dp, off);
		HeapTupleData phys;
		HeapTuple	row;
		Size		n;

		/* the processor does not foresee where the next rows lie */
		if (i + ROWS_AHEAD < hscan->rs_ntuples)
		{
			OffsetNumber next = hscan->rs_vistuples[i + ROWS_AHEAD];
			char	   *ahead = PageGetItem(dp, PageGetItemId(dp, next));

			__builtin_prefetch(ahead);
			__builtin_prefetch(ahead + 64);
		}
		phys.t_data = (HeapTupleHeader) PageGetItem(dp, lp);
		phys.t_len = ItemIdGetLength(lp);
		row = hdb_decrypt_tuple_into(rel, &phys, scan->rowbuf.key,
									 page->mem + used, page->size - used,
									 &n);
		if (row != NULL)
		{
			page->source[off] = phys.t_data;
			page->rows[off] = row;
			used += n;
		}
	}
}

/*
 * The decrypted row of phys, a tuple heap's page-at-a-time scan returned,
 * from the scan's page rows, or NULL when it is not there.  The page rows
 * are decrypted when the scan gets to a new page.  They are used only for
 * the slot the scan's rows go into (like the scan's row buffer), since
 * that slot may still hold one when the next page replaces them.
 */
static HeapTuple
page_row(HdbScanDesc scan, HeapTuple phys, TupleTableSlot *slot)
{
	HeapScanDesc hscan = (HeapScanDesc) scan->inner;
	HdbPageRows *page = &scan->page;
	OffsetNumber off = ItemPointerGetOffsetNumber(&phys->t_self);

	if ((hscan->rs_base.rs_flags & SO_ALLOW_PAGEMODE) == 0 ||
		!TTS_IS_HEAPTUPLE(slot) ||
		(scan->rowbuf.slot != NULL && scan->rowbuf.slot != slot))
		return NULL;
	scan->rowbuf.slot = slot;
	if (page->buffer != hscan->rs_cbuf)
	{
		/* the first row of a page alone: the query may want no other */
		if (page->first != hscan->rs_cbuf)
		{
			page->first = hscan->rs_cbuf;
			return NULL;
		}
		page_rows_fill(scan, slot);
	}
	/* as long as the scan holds the page, its tuples do not move */
	if (page->source[off] != phys->t_data)
		return NULL;
	return page->rows[off];
}

/*
 * Sequential scans take heap's tuples without a slot between: heap_getnext
 * returns the tuple in the page that the inner scan keeps pinned, and its
 * decrypted row is taken from the page's rows or decrypted at once.
 */
static bool
enc_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
					 TupleTableSlot *slot)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;
	HeapTuple	phys;
	HeapTuple	row;

	while ((phys = heap_getnext(scan->inner, direction)) != NULL)
	{
		row = page_row(scan, phys, slot);
		if (row != NULL)
		{
			/* the row's table OID is set; its TID comes with the header */
			hdb_copy_header(phys, row);
			ExecStoreHeapTuple(row, slot, false);
		}
		else
			hdb_store_decrypted_tuple(sscan->rs_rd, phys, slot,
									  &scan->rowbuf);
		if (keys_match(scan, slot))
			return true;
	}
	ExecClearTuple(slot);
	/* the page rows' memory can go unless another slot may hold a row */
	if (scan->rowbuf.slot == slot)
		page_rows_free(&scan->page);
	else
		page_rows_release(&scan->page);
	return false;
}

static void
enc_scan_set_tidrange(TableScanDesc sscan, ItemPointer mintid,
					  ItemPointer maxtid)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	hdb_heap->scan_set_tidrange(scan->inner, mintid, maxtid);
}

static bool
enc_scan_getnextslot_tidrange(TableScanDesc sscan, ScanDirection direction,
							  TupleTableSlot *slot)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	while (hdb_heap->scan_getnextslot_tidrange(scan->inner, direction,
											   scan->pslot))
	{
		hdb_store_decrypted_buffered(sscan->rs_rd, scan->pslot, slot,
									 &scan->rowbuf);
		if (keys_match(scan, slot))
			return true;
	}
	ExecClearTuple(slot);
	return false;
}

static bool
enc_tuple_tid_valid(TableScanDesc sscan, ItemPointer tid)
{
	return hdb_heap->tuple_tid_valid(((HdbScanDesc) sscan)->inner, tid);
}

static void
enc_tuple_get_latest_tid(TableScanDesc sscan, ItemPointer tid)
{
	hdb_heap->tuple_get_latest_tid(((HdbScanDesc) sscan)->inner, tid);
}

static struct IndexFetchTableData *
enc_index_fetch_begin(Relation rel)
{
	HdbIndexFetchData *f = palloc0(sizeof(HdbIndexFetchData));

	f->base.rel = rel;
	f->inner = hdb_heap->index_fetch_begin(rel);
	f->pslot = physical_slot();
	return &f->base;
}

static void
enc_index_fetch_reset(struct IndexFetchTableData *data)
{
	HdbIndexFetchData *f = (HdbIndexFetchData *) data;

	ExecClearTuple(f->pslot);
	hdb_heap->index_fetch_reset(f->inner);
}

static void
enc_index_fetch_end(struct IndexFetchTableData *data)
{
	HdbIndexFetchData *f = (HdbIndexFetchData *) data;

	ExecDropSingleTupleTableSlot(f->pslot);
	hdb_heap->index_fetch_end(f->inner);
	pfree(f);
}

static bool
enc_index_fetch_tuple(struct IndexFetchTableData *data, ItemPointer tid,
					  Snapshot snapshot, TupleTableSlot *slot,
					  bool *call_again, bool *all_dead)
{
	HdbIndexFetchData *f = (HdbIndexFetchData *) data;

	if (!hdb_heap->index_fetch_tuple(f->inner, tid, snapshot, f->pslot,
									 call_again, all_dead))
		return false;
	hdb_store_decrypted(data->rel, f->pslot, slot);
	return true;
}

static bool
enc_tuple_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
							TupleTableSlot *slot)
{
	TupleTableSlot *pslot = physical_slot();
	bool		found;

	found = hdb_heap->tuple_fetch_row_version(rel, tid, snapshot, pslot);
	if (found)
		hdb_store_decrypted(rel, pslot, slot);
	ExecDropSingleTupleTableSlot(pslot);
	return found;
}

/*
 * Is the row version in slot (found by its TID) visible to snapshot?  The
 * slot holds a decrypted copy, so the check is made on the physical tuple
 * in its buffer, where hint bits can be set.
 */
static bool
enc_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
							 Snapshot snapshot)
{
	ItemPointer tid = &slot->tts_tid;
	Buffer		buffer;
	Page		page;
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	ItemId		lp;
	HeapTupleData tuple;
	bool		result = false;

	buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		lp = PageGetItemId(page, off);
		if (ItemIdIsNormal(lp))
		{
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_self = *tid;
			tuple.t_tableOid = RelationGetRelid(rel);
			result = HeapTupleSatisfiesVisibility(&tuple, snapshot, buffer);
		}
	}
	UnlockReleaseBuffer(buffer);
	return result;
}

static bool
enc_scan_bitmap_next_block(TableScanDesc sscan, struct TBMIterateResult *tbmres)
{
	return hdb_heap->scan_bitmap_next_block(((HdbScanDesc) sscan)->inner,
											tbmres);
}

static bool
enc_scan_bitmap_next_tuple(TableScanDesc sscan,
						   struct TBMIterateResult *tbmres,
						   TupleTableSlot *slot)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	if (!hdb_heap->scan_bitmap_next_tuple(scan->inner, tbmres, scan->pslot))
		return false;
	hdb_store_decrypted_buffered(sscan->rs_rd, scan->pslot, slot,
								 &scan->rowbuf);
	return true;
}

static bool
enc_scan_sample_next_block(TableScanDesc sscan,
						   struct SampleScanState *scanstate)
{
	return hdb_heap->scan_sample_next_block(((HdbScanDesc) sscan)->inner,
											scanstate);
}

static bool
enc_scan_sample_next_tuple(TableScanDesc sscan,
						   struct SampleScanState *scanstate,
						   TupleTableSlot *slot)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	if (!hdb_heap->scan_sample_next_tuple(scan->inner, scanstate,
										  scan->pslot))
		return false;
	hdb_store_decrypted(sscan->rs_rd, scan->pslot, slot);
	return true;
}

static bool
enc_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
							BufferAccessStrategy bstrategy)
{
	return hdb_heap->scan_analyze_next_block(((HdbScanDesc) sscan)->inner,
											 blockno, bstrategy);
}

static bool
enc_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
							double *liverows, double *deadrows,
							TupleTableSlot *slot)
{
	HdbScanDesc scan = (HdbScanDesc) sscan;

	if (!hdb_heap->scan_analyze_next_tuple(scan->inner, OldestXmin,
										   liverows, deadrows, scan->pslot))
		return false;
	hdb_store_decrypted(sscan->rs_rd, scan->pslot, slot);
	return true;
}

/*
 * Planner's estimate of the cost of decrypting one row, in the planner's
 * cost units (heliosdb.encrypted_row_cost).  Measured with callgrind,
 * decrypting a short row takes about 1,800 instructions, six to nine times
 * what a heap scan spends on a row, which cpu_tuple_cost (0.01) stands for.
 * The default stays at the low end, five times: every scan of an encrypted
 * table costs more with it, and a higher estimate brings large scans over
 * jit_above_cost sooner, whose compilation then costs more than it saves.
 */
#define DEFAULT_ENCRYPTED_ROW_COST	0.05

static double encrypted_row_cost = DEFAULT_ENCRYPTED_ROW_COST;

/*
 * Size estimate for the planner: heap's, plus the decryption of every row
 * charged as pages.  The planner knows no per-row cost of a table access
 * method, and the pages are what a sequential scan pays for in full, as it
 * pays the decryption of every row it reads.  Without it a sequential scan
 * that decrypts all the rows of a small table (pgbench's tellers) looks
 * cheaper than an index scan that decrypts one, and costs TPC-B a quarter
 * of its CPU.  Index scans pay for the extra pages only when they fetch a
 * large part of the table, as they then decrypt many rows.
 */
static void
enc_relation_estimate_size(Relation rel, int32 *attr_widths,
						   BlockNumber *pages, double *tuples,
						   double *allvisfrac)
{
	double		extra;

	hdb_heap->relation_estimate_size(rel, attr_widths, pages, tuples,
									 allvisfrac);
	if (*tuples <= 0 || encrypted_row_cost <= 0 || seq_page_cost <= 0)
		return;
	extra = ceil(*tuples * encrypted_row_cost / seq_page_cost);
	*pages = (BlockNumber) Min((double) *pages + extra,
							   (double) (MaxBlockNumber - 1));
}

static const TupleTableSlotOps *
enc_slot_callbacks(Relation rel)
{
	return &TTSOpsHeapTuple;
}

/*
 * Install the read callbacks into r (a copy of heap's routine), and define
 * the setting of the size estimate.
 */
void
hdb_tam_scan_callbacks(TableAmRoutine *r)
{
	DefineCustomRealVariable("heliosdb.encrypted_row_cost",
							 "Sets the planner's estimate of the cost of decrypting a row of an encrypted table.",
							 "Added, as pages, to the size estimate of encrypted tables; 0 leaves heap's estimate.",
							 &encrypted_row_cost,
							 DEFAULT_ENCRYPTED_ROW_COST, 0, DBL_MAX,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	r->relation_estimate_size = enc_relation_estimate_size;
	r->slot_callbacks = enc_slot_callbacks;
	r->parallelscan_estimate = enc_parallelscan_estimate;
	r->parallelscan_initialize = enc_parallelscan_initialize;
	r->scan_begin = enc_scan_begin;
	r->scan_end = enc_scan_end;
	r->scan_rescan = enc_scan_rescan;
	r->scan_getnextslot = enc_scan_getnextslot;
	r->scan_set_tidrange = enc_scan_set_tidrange;
	r->scan_getnextslot_tidrange = enc_scan_getnextslot_tidrange;
	r->index_fetch_begin = enc_index_fetch_begin;
	r->index_fetch_reset = enc_index_fetch_reset;
	r->index_fetch_end = enc_index_fetch_end;
	r->index_fetch_tuple = enc_index_fetch_tuple;
	r->tuple_fetch_row_version = enc_tuple_fetch_row_version;
	r->tuple_tid_valid = enc_tuple_tid_valid;
	r->tuple_get_latest_tid = enc_tuple_get_latest_tid;
	r->tuple_satisfies_snapshot = enc_tuple_satisfies_snapshot;
	r->scan_bitmap_next_block = enc_scan_bitmap_next_block;
	r->scan_bitmap_next_tuple = enc_scan_bitmap_next_tuple;
	r->scan_sample_next_block = enc_scan_sample_next_block;
	r->scan_sample_next_tuple = enc_scan_sample_next_tuple;
	r->scan_analyze_next_block = enc_scan_analyze_next_block;
	r->scan_analyze_next_tuple = enc_scan_analyze_next_tuple;
}
