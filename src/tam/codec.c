/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  The payload codec of heliosdb_encrypted: a logical row to one
 *	  encrypted bytea value and back.
 *
 * The plaintext is the logical heap tuple from its t_infomask2 field on
 * (natts, null bitmap flags, t_hoff, null bitmap, data), so a decrypted row
 * is a heap tuple again after one allocation and one decryption: the
 * transaction fields (xmin, xmax, cid, ctid) and the visibility bits are
 * taken from the physical tuple that heap manages.  External values are
 * flattened and large values compressed before encryption, so nothing of
 * the row leaves the payload and heap's toaster only ever moves ciphertext.
 *
 * Payload layout (all of it authenticated; bytes 0..16 are the AAD):
 *	 0		format (1)
 *	 1..4	key id, little-endian: the data key that sealed it
 *	 5..16	nonce, 96 random bits
 *	 17..	ciphertext, as long as the plaintext
 *	 last 16 bytes: GCM tag
 * The AAD binds the format and key id, never the OID or relfilenode, so
 * payloads stay valid when rewrites move them to other files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"

#include "crypto/hdb_crypto.h"
#include "tam/tam_internal.h"

/* Where the encrypted part of a logical tuple header starts. */
#define PLAIN_OFFSET	offsetof(HeapTupleHeaderData, t_infomask2)

/* Infomask bits that describe the logical row, not its transaction state. */
#define LOGICAL_INFOMASK	(HEAP_HASNULL | HEAP_HASVARWIDTH | HEAP_HASEXTERNAL)

/* Values at least this large are compressed when the row is large. */
#define COMPRESS_MIN_VALUE	256

static TupleDesc physical_desc = NULL;

/* The physical descriptor: one bytea column with storage EXTERNAL. */
TupleDesc
hdb_physical_desc(void)
{
	if (physical_desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc	desc = CreateTemplateTupleDesc(1);

		TupleDescInitEntry(desc, 1, "payload", BYTEAOID, -1, 0);
		TupleDescAttr(desc, 0)->attstorage = TYPSTORAGE_EXTERNAL;
		TupleDescAttr(desc, 0)->attnotnull = true;
		MemoryContextSwitchTo(old);
		physical_desc = desc;
	}
	return physical_desc;
}

/*
 * Compress the large varlena values of a wide row, as heap's toaster would
 * have, because ciphertext does not compress.  Returns tup itself when
 * nothing was compressed.
 */
static HeapTuple
compress_wide_row(TupleDesc desc, HeapTuple tup)
{
	int			natts = desc->natts;
	Datum	   *values;
	bool	   *isnull;
	bool		changed = false;
	int			i;
	HeapTuple	result;

	if (tup->t_len <= TOAST_TUPLE_THRESHOLD)
		return tup;
	values = palloc(natts * sizeof(Datum));
	isnull = palloc(natts * sizeof(bool));
	heap_deform_tuple(tup, desc, values, isnull);
	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		struct varlena *v;
		Datum		c;
		char		method;

		if (isnull[i] || att->attlen != -1 ||
			(att->attstorage != TYPSTORAGE_EXTENDED &&
			 att->attstorage != TYPSTORAGE_MAIN))
			continue;
		v = (struct varlena *) DatumGetPointer(values[i]);
		if (VARATT_IS_EXTENDED(v) || VARSIZE(v) < COMPRESS_MIN_VALUE)
			continue;
		method = CompressionMethodIsValid(att->attcompression) ?
			att->attcompression : default_toast_compression;
		c = toast_compress_datum(values[i], method);
		if (DatumGetPointer(c) != NULL)
		{
			values[i] = c;
			changed = true;
		}
	}
	result = changed ? heap_form_tuple(desc, values, isnull) : tup;
	pfree(values);
	pfree(isnull);
	return result;
}

/*
 * Encrypt a logical tuple of rel into a physical tuple (allocated in the
 * current memory context) sealed with key, or when key is NULL with the
 * table's current data key.
 */
HeapTuple
hdb_encrypt_tuple(Relation rel, HeapTuple logical, HdbDataKey *key)
{
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	flat = logical;
	HeapTuple	row;
	uint32		plen;
	bytea	   *payload;
	uint8	   *p;
	Datum		value;
	bool		isnull = false;
	HeapTuple	phys;

	if (HeapTupleHasExternal(logical))
		flat = toast_flatten_tuple(logical, desc);
	row = compress_wide_row(desc, flat);

	if (key == NULL)
		key = hdb_datakey_for_write(rel);
	plen = row->t_len - PLAIN_OFFSET;
	payload = (bytea *) palloc(VARHDRSZ + HDB_PAYLOAD_HEADER + plen +
							   HDB_TAG_LEN);
	SET_VARSIZE(payload, VARHDRSZ + HDB_PAYLOAD_HEADER + plen + HDB_TAG_LEN);
	p = (uint8 *) VARDATA(payload);
	p[0] = HDB_PAYLOAD_FORMAT;
	p[1] = (uint32) key->key_id & 0xff;
	p[2] = ((uint32) key->key_id >> 8) & 0xff;
	p[3] = ((uint32) key->key_id >> 16) & 0xff;
	p[4] = ((uint32) key->key_id >> 24) & 0xff;
	hdb_random_nonce(p + 5);
	hdb_aead_seal(key, p + 5, p, HDB_PAYLOAD_HEADER,
				  (uint8 *) row->t_data + PLAIN_OFFSET, plen,
				  p + HDB_PAYLOAD_HEADER, p + HDB_PAYLOAD_HEADER + plen);

	value = PointerGetDatum(payload);
	phys = heap_form_tuple(hdb_physical_desc(), &value, &isnull);
	phys->t_tableOid = RelationGetRelid(rel);
	pfree(payload);
	if (row != flat)
		heap_freetuple(row);
	if (flat != logical)
		heap_freetuple(flat);
	return phys;
}

static void
decrypt_failed(Relation rel, ItemPointer tid, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not decrypt row (%u,%u) of table \"%s\"",
					ItemPointerGetBlockNumberNoCheck(tid),
					ItemPointerGetOffsetNumberNoCheck(tid),
					RelationGetRelationName(rel)),
			 errdetail("%s", detail)));
}

/* The key id named by a payload (0 when the payload is malformed). */
int32
hdb_payload_key_id(Datum payload)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(payload);
	struct varlena *head = v;
	uint8	   *p;
	int32		id = 0;

	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		head = detoast_attr_slice(v, 0, HDB_PAYLOAD_HEADER);
	if (VARSIZE_ANY_EXHDR(head) >= HDB_PAYLOAD_HEADER)
	{
		p = (uint8 *) VARDATA_ANY(head);
		if (p[0] == HDB_PAYLOAD_FORMAT)
			id = (int32) ((uint32) p[1] | (uint32) p[2] << 8 |
						  (uint32) p[3] << 16 | (uint32) p[4] << 24);
	}
	if (head != v)
		pfree(head);
	return id;
}

/*
 * Decrypt a payload into a logical heap tuple allocated in mcxt, whose
 * header fields outside the plaintext are zero.  tid names the row in
 * errors.  Fails with XX001 unless the payload is authentic.
 */
HeapTuple
hdb_decrypt_payload(Relation rel, Datum payload, ItemPointer tid,
					MemoryContext mcxt)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(payload);
	struct varlena *v = raw;
	uint8	   *p;
	int			len;
	int			plen;
	int32		key_id;
	HdbDataKey *key;
	HeapTuple	tuple;
	HeapTupleHeader td;

	if (VARATT_IS_EXTERNAL(raw) || VARATT_IS_COMPRESSED(raw))
		v = detoast_attr(raw);
	p = (uint8 *) VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (len < HDB_PAYLOAD_HEADER + HDB_TAG_LEN ||
		p[0] != HDB_PAYLOAD_FORMAT)
		decrypt_failed(rel, tid, "The payload is not in a known format.");
	plen = len - HDB_PAYLOAD_HEADER - HDB_TAG_LEN;
	if (plen < (int) (SizeofHeapTupleHeader - PLAIN_OFFSET))
		decrypt_failed(rel, tid, "The payload is too short.");
	key_id = (int32) ((uint32) p[1] | (uint32) p[2] << 8 |
					  (uint32) p[3] << 16 | (uint32) p[4] << 24);
	key = hdb_datakey_lookup(key_id);

	tuple = (HeapTuple) MemoryContextAlloc(mcxt,
										   HEAPTUPLESIZE + PLAIN_OFFSET + plen);
	td = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	tuple->t_len = PLAIN_OFFSET + plen;
	tuple->t_tableOid = RelationGetRelid(rel);
	ItemPointerCopy(tid, &tuple->t_self);
	tuple->t_data = td;
	memset(td, 0, PLAIN_OFFSET);
	if (!hdb_aead_open(key, p + 5, p, HDB_PAYLOAD_HEADER,
					   p + HDB_PAYLOAD_HEADER, plen,
					   (uint8 *) td + PLAIN_OFFSET,
					   p + HDB_PAYLOAD_HEADER + plen))
	{
		pfree(tuple);
		decrypt_failed(rel, tid,
					   "The row failed authentication: it was altered or damaged.");
	}
	if (td->t_hoff < SizeofHeapTupleHeader || td->t_hoff > tuple->t_len ||
		HeapTupleHeaderGetNatts(td) > MaxTupleAttributeNumber)
	{
		pfree(tuple);
		decrypt_failed(rel, tid, "The decrypted row has an invalid header.");
	}
	if (v != raw)
		pfree(v);
	return tuple;
}

/*
 * Give a logical tuple the transaction header of its physical tuple:
 * xmin, xmax, cid, ctid and every infomask bit that is not about the row's
 * own layout.
 */
void
hdb_copy_header(HeapTuple phys, HeapTuple logical)
{
	HeapTupleHeader pd = phys->t_data;
	HeapTupleHeader ld = logical->t_data;

	memcpy(ld, pd, PLAIN_OFFSET);
	ld->t_infomask = (ld->t_infomask & LOGICAL_INFOMASK) |
		(pd->t_infomask & ~LOGICAL_INFOMASK);
	ld->t_infomask2 = (ld->t_infomask2 & HEAP_NATTS_MASK) |
		(pd->t_infomask2 & ~HEAP_NATTS_MASK);
	logical->t_self = phys->t_self;
}

/* Decrypt a physical tuple into a logical one carrying its header. */
HeapTuple
hdb_decrypt_tuple(Relation rel, HeapTuple phys, MemoryContext mcxt)
{
	bool		isnull;
	Datum		payload;
	HeapTuple	logical;

	payload = heap_getattr(phys, 1, hdb_physical_desc(), &isnull);
	if (isnull)
		decrypt_failed(rel, &phys->t_self, "The payload is missing.");
	logical = hdb_decrypt_payload(rel, payload, &phys->t_self, mcxt);
	hdb_copy_header(phys, logical);
	return logical;
}

/* Decrypt the physical tuple held by pslot into the caller's slot. */
void
hdb_store_decrypted(Relation rel, TupleTableSlot *pslot, TupleTableSlot *slot)
{
	HeapTuple	phys = ExecFetchSlotHeapTuple(pslot, false, NULL);
	HeapTuple	logical;

	phys->t_self = pslot->tts_tid;
	logical = hdb_decrypt_tuple(rel, phys, slot->tts_mcxt);
	if (TTS_IS_HEAPTUPLE(slot))
		ExecStoreHeapTuple(logical, slot, true);
	else
		ExecForceStoreHeapTuple(logical, slot, true);
	slot->tts_tableOid = RelationGetRelid(rel);
	slot->tts_tid = logical->t_self;
}
