/*-------------------------------------------------------------------------
 *
 * tam_internal.h
 *	  Declarations shared by the files of the heliosdb_encrypted access
 *	  method: the payload codec, the physical relation view and the
 *	  callbacks that differ from heap's.
 *
 * The AM stores each logical row as a heap tuple of one bytea column (the
 * "physical" tuple) whose value is the encrypted payload.  Heap's code
 * works on a "physical view" of the relation: a private copy of its
 * RelationData whose descriptor is that one-column descriptor and whose
 * table AM is heap.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_TAM_INTERNAL_H
#define HDB_TAM_INTERNAL_H

#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/rel.h"

/*
 * Payload formats (codec.c): format byte, key id, nonce, ciphertext, tag.
 * Format 1 has a 4-byte key id and the tuple header image from t_infomask2
 * on; format 2, written since, a variable-length key id and a 2-byte row
 * descriptor.  Both are read.
 */
#define HDB_PAYLOAD_FORMAT_V1	1
#define HDB_PAYLOAD_FORMAT_V2	2
#define HDB_PAYLOAD_HEADER_V1	(1 + 4 + 12)
#define HDB_PAYLOAD_HEADER_MAX	(1 + 5 + 12)

struct HdbDataKey;				/* crypto/hdb_crypto.h */

/*
 * Memory for decrypted rows that a scan reuses from row to row instead of
 * allocating one tuple per row.  Only the slot the buffer was last stored
 * into may hold it, so it is reused only for that same slot.
 */
typedef struct HdbRowBuffer
{
	HeapTuple	tuple;			/* NULL until first used */
	Size		size;			/* bytes allocated at tuple */
	MemoryContext mcxt;			/* where tuple is allocated */
	TupleTableSlot *slot;		/* the slot it was last stored into */
	struct HdbDataKey *key;		/* the data key of the last row */
} HdbRowBuffer;

/*
 * The rows of the page a sequential scan is on, decrypted together when it
 * reads a second row there (tam_scan.c).  The scan keeps its own pin on the
 * page while they are kept, so that the tuples they came from stay where
 * they are, unchanged.
 */
typedef struct HdbPageRows
{
	Buffer		buffer;			/* the page, or InvalidBuffer */
	Buffer		first;			/* the page whose first row went alone */
	char	   *mem;			/* the decrypted rows */
	Size		size;			/* bytes at mem */
	/* by offset number: the physical tuple a row came from, and the row */
	HeapTupleHeader *source;
	HeapTuple  *rows;
} HdbPageRows;

/* Scan descriptor: an inner heap scan on the physical view. */
typedef struct HdbScanDescData
{
	TableScanDescData rs_base;	/* rs_rd is the real relation */
	TableScanDesc inner;		/* heap scan on the physical view */
	TupleTableSlot *pslot;		/* buffer slot for physical tuples */
	HdbRowBuffer rowbuf;		/* decrypted rows of sequential scans */
	HdbPageRows page;			/* and of their current page */
} HdbScanDescData;

typedef HdbScanDescData *HdbScanDesc;

/* codec.c */
extern TupleDesc hdb_physical_desc(void);
extern HeapTuple hdb_encrypt_tuple(Relation rel, HeapTuple logical);
extern HeapTuple hdb_decrypt_payload(Relation rel, Datum payload,
									 ItemPointer tid, MemoryContext mcxt);
extern HeapTuple hdb_decrypt_tuple(Relation rel, HeapTuple phys,
								   MemoryContext mcxt);
extern void hdb_copy_header(HeapTuple phys, HeapTuple logical);
extern void hdb_store_decrypted(Relation rel, TupleTableSlot *pslot,
								TupleTableSlot *slot);
extern void hdb_store_decrypted_buffered(Relation rel, TupleTableSlot *pslot,
										 TupleTableSlot *slot,
										 HdbRowBuffer *buf);
extern HeapTuple hdb_decrypt_tuple_into(Relation rel, HeapTuple phys,
										struct HdbDataKey *key, char *mem,
										Size room, Size *used);
extern void hdb_store_decrypted_tuple(Relation rel, HeapTuple phys,
									  TupleTableSlot *slot,
									  HdbRowBuffer *buf);
extern int32 hdb_payload_key_id(Datum payload);

/* physrel.c */
extern Relation hdb_physical_view(Relation rel);
extern void hdb_view_set_update_bitmaps(Relation view, bool index_changed,
										bool key_changed, bool pk_changed,
										bool id_changed);

/* tam_scan.c, tam_modify.c, tam_ddl.c: callbacks */
extern const TableAmRoutine *hdb_heap;
extern void hdb_tam_scan_callbacks(TableAmRoutine *r);
extern void hdb_tam_modify_callbacks(TableAmRoutine *r);
extern void hdb_tam_ddl_callbacks(TableAmRoutine *r);
extern void hdb_tam_ddl_init(void);

#endif							/* HDB_TAM_INTERNAL_H */
