/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  The payload codec of heliosdb_encrypted: a logical row to one
 *	  encrypted bytea value and back.
 *
 * A decrypted row is a heap tuple again after one allocation and one
 * decryption: the transaction fields (xmin, xmax, cid, ctid) and the
 * visibility bits are taken from the physical tuple that heap manages.
 * External values are flattened and large values compressed before
 * encryption, so nothing of the row leaves the payload and heap's toaster
 * only ever moves ciphertext.
 *
 * Payload layout, format 2 (all of it authenticated):
 *	 format (1) = 2
 *	 key id: the data key that sealed it, 7 bits a byte, least significant
 *			 group first, high bit set on all but the last byte (1-5 bytes)
 *	 nonce, 96 random bits
 *	 ciphertext of: a row descriptor, then the logical tuple from its null
 *			 bitmap (rows with nulls) or from t_hoff (others).  The
 *			 descriptor is one byte for fewer than 32 attributes: bit 6
 *			 HASVARWIDTH, bit 5 HASNULL, bits 0-4 the number of attributes;
 *			 with bit 7 set, a second byte holds the number's bits 5 on.
 *	 GCM tag (16)
 * The AAD is everything before the ciphertext.  The descriptor replaces the
 * tuple header image of format 1, since t_hoff follows from it; together
 * with the short key id this saves 7 to 8 bytes a row.
 *
 * Format 1, still read, and written for a tuple whose layout the
 * descriptor cannot express: format (1) = 1, key id (4, little-endian),
 * nonce, then the ciphertext of the logical tuple from t_infomask2 on.
 *
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

/* Where the encrypted part of a logical tuple header starts, format 1. */
#define PLAIN_OFFSET	offsetof(HeapTupleHeaderData, t_infomask2)

/* The row descriptor of format 2. */
#define DESC_LONG		0x80
#define DESC_HASVARWIDTH 0x40
#define DESC_HASNULL	0x20
#define DESC_NATTS		0x1f

/* Where the data of a tuple without nulls starts. */
#define DATA_OFFSET		MAXALIGN(SizeofHeapTupleHeader)

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
 * The header offset heap_form_tuple gives a tuple of natts attributes, with
 * or without a null bitmap.
 */
static inline uint8
standard_hoff(int natts, bool hasnull)
{
	Size		hoff = SizeofHeapTupleHeader;

	if (hasnull)
		hoff += BITMAPLEN(natts);
	return (uint8) MAXALIGN(hoff);
}

/* Append key_id in format 2's encoding at p; returns the bytes written. */
static int
put_key_id(uint8 *p, int32 key_id)
{
	uint32		id = (uint32) key_id;
	int			n = 0;

	while (id >= 0x80)
	{
		p[n++] = (id & 0x7f) | 0x80;
		id >>= 7;
	}
	p[n++] = id;
	return n;
}

/*
 * Read a format 2 key id from the len bytes at p; returns the bytes it
 * takes, or 0 when it is malformed.
 */
static inline int
get_key_id(const uint8 *p, int len, int32 *key_id)
{
	uint32		id = 0;
	int			n;

	for (n = 0; n < 5 && n < len; n++)
	{
		id |= (uint32) (p[n] & 0x7f) << (7 * n);
		if ((p[n] & 0x80) == 0)
		{
			*key_id = (int32) id;
			return n + 1;
		}
	}
	return 0;
}

/*
 * Encrypt a logical tuple of rel into a physical tuple (allocated in the
 * current memory context) sealed with the table's current data key.
 */
HeapTuple
hdb_encrypt_tuple(Relation rel, HeapTuple logical)
{
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	flat = logical;
	HeapTuple	row;
	HeapTupleHeader td;
	bool		v2;
	int			natts;
	uint32		start;
	uint32		plen;
	int			hlen;
	bytea	   *payload;
	uint8	   *p;
	uint8		head[HDB_PAYLOAD_HEADER_MAX];
	uint8		rowdesc[2];
	int			dlen = 0;
	Datum		value;
	bool		isnull = false;
	HeapTuple	phys;
	HdbDataKey *key;

	if (HeapTupleHasExternal(logical))
		flat = toast_flatten_tuple(logical, desc);
	row = compress_wide_row(desc, flat);
	td = row->t_data;

	key = hdb_datakey_for_seal(rel);

	/* format 2 when the descriptor and t_hoff say all of the header */
	v2 = (td->t_infomask & HEAP_HASEXTERNAL) == 0 &&
		td->t_hoff == standard_hoff(HeapTupleHeaderGetNatts(td),
									HeapTupleHasNulls(row));
	if (v2)
	{
		head[0] = HDB_PAYLOAD_FORMAT_V2;
		hlen = 1 + put_key_id(head + 1, key->key_id);
		start = HeapTupleHasNulls(row) ?
			offsetof(HeapTupleHeaderData, t_bits) : td->t_hoff;
		natts = HeapTupleHeaderGetNatts(td);
		rowdesc[0] = (natts & DESC_NATTS) |
			(HeapTupleHasNulls(row) ? DESC_HASNULL : 0) |
			(HeapTupleHasVarWidth(row) ? DESC_HASVARWIDTH : 0);
		dlen = 1;
		if (natts > DESC_NATTS)
		{
			rowdesc[0] |= DESC_LONG;
			rowdesc[1] = natts >> 5;
			dlen = 2;
		}
		plen = dlen + row->t_len - start;
	}
	else
	{
		head[0] = HDB_PAYLOAD_FORMAT_V1;
		head[1] = (uint32) key->key_id & 0xff;
		head[2] = ((uint32) key->key_id >> 8) & 0xff;
		head[3] = ((uint32) key->key_id >> 16) & 0xff;
		head[4] = ((uint32) key->key_id >> 24) & 0xff;
		hlen = 5;
		start = PLAIN_OFFSET;
		plen = row->t_len - start;
	}
	hdb_random_nonce(head + hlen);
	hlen += HDB_NONCE_LEN;

	payload = (bytea *) palloc(VARHDRSZ + hlen + plen + HDB_TAG_LEN);
	SET_VARSIZE(payload, VARHDRSZ + hlen + plen + HDB_TAG_LEN);
	p = (uint8 *) VARDATA(payload);
	memcpy(p, head, hlen);

	/* lay out the plaintext where the ciphertext goes, encrypt in place */
	if (v2)
	{
		memcpy(p + hlen, rowdesc, dlen);
		memcpy(p + hlen + dlen, (char *) td + start, plen - dlen);
	}
	else
		memcpy(p + hlen, (char *) td + start, plen);
	hdb_aead_seal(key, p + hlen - HDB_NONCE_LEN, p, hlen,
				  p + hlen, plen, p + hlen, p + hlen + plen);

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

/*
 * Parse the clear header of a payload of len bytes at p: its key id and
 * length (the AAD, ending with the nonce).  False if it is malformed.
 */
static inline bool
parse_header(const uint8 *p, int len, int32 *key_id, int *hlen)
{
	int			n;

	if (len < 1)
		return false;
	if (p[0] == HDB_PAYLOAD_FORMAT_V1)
	{
		if (len < HDB_PAYLOAD_HEADER_V1)
			return false;
		*key_id = (int32) ((uint32) p[1] | (uint32) p[2] << 8 |
						   (uint32) p[3] << 16 | (uint32) p[4] << 24);
		*hlen = HDB_PAYLOAD_HEADER_V1;
		return true;
	}
	if (p[0] == HDB_PAYLOAD_FORMAT_V2)
	{
		n = get_key_id(p + 1, len - 1, key_id);
		if (n == 0 || len < 1 + n + HDB_NONCE_LEN)
			return false;
		*hlen = 1 + n + HDB_NONCE_LEN;
		return true;
	}
	return false;
}

/* The key id named by a payload (0 when the payload is malformed). */
int32
hdb_payload_key_id(Datum payload)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(payload);
	struct varlena *head = v;
	int32		id = 0;
	int			hlen;

	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		head = detoast_attr_slice(v, 0, HDB_PAYLOAD_HEADER_MAX);
	if (!parse_header((uint8 *) VARDATA_ANY(head), VARSIZE_ANY_EXHDR(head),
					  &id, &hlen))
		id = 0;
	if (head != v)
		pfree(head);
	return id;
}

/*
 * Where in a logical tuple the plaintext of a payload goes.  Format 2
 * decrypts to just before where a tuple without nulls has its data, so
 * that a one-byte descriptor ends up in the header (set by open_payload)
 * and the data in place; other rows are moved down a byte or two.
 */
static inline int
plain_dest(bool v2)
{
	return v2 ? DATA_OFFSET - 1 : PLAIN_OFFSET;
}

/*
 * Open the payload at p (len bytes, hlen of them the clear header) with key
 * into tuple, whose t_data must have room for plain_dest() + the
 * plaintext.  Sets the tuple's length and its row layout fields; returns
 * NULL, or why the payload is not a valid row.  Raises nothing.
 */
static const char *
open_payload(HdbDataKey *key, const uint8 *p, int len, int hlen,
			 HeapTuple tuple)
{
	HeapTupleHeader td = tuple->t_data;
	bool		v2 = p[0] == HDB_PAYLOAD_FORMAT_V2;
	int			plen = len - hlen - HDB_TAG_LEN;
	int			dest = plain_dest(v2);
	uint8	   *d = (uint8 *) td + dest;

	tuple->t_len = dest + plen;
	if (!hdb_aead_open(key, p + hlen - HDB_NONCE_LEN, p, hlen,
					   p + hlen, plen, d, p + hlen + plen))
		return "The row failed authentication: it was altered or damaged.";
	if (v2)
	{
		int			dlen = (d[0] & DESC_LONG) ? 2 : 1;
		int			natts = d[0] & DESC_NATTS;
		bool		hasnull = (d[0] & DESC_HASNULL) != 0;
		int			target;

		if (dlen == 2 && plen >= 2)
			natts |= d[1] << 5;
		if (plen < dlen || natts > MaxTupleAttributeNumber)
			return "The decrypted row has an invalid header.";
		target = hasnull ? offsetof(HeapTupleHeaderData, t_bits) :
			DATA_OFFSET;
		td->t_infomask = (hasnull ? HEAP_HASNULL : 0) |
			((d[0] & DESC_HASVARWIDTH) ? HEAP_HASVARWIDTH : 0);
		if (dest + dlen != target)
			memmove((char *) td + target, d + dlen, plen - dlen);
		tuple->t_len = target + plen - dlen;
		td->t_infomask2 = natts;
		td->t_hoff = standard_hoff(natts, hasnull);
	}
	if (td->t_hoff < SizeofHeapTupleHeader ||
		td->t_hoff > tuple->t_len ||
		HeapTupleHeaderGetNatts(td) > MaxTupleAttributeNumber)
		return "The decrypted row has an invalid header.";
	return NULL;
}

/*
 * Decrypt a payload into a logical heap tuple, whose header fields outside
 * the plaintext are zero.  The tuple is buf's memory when buf is given
 * (grown as needed), otherwise allocated in mcxt.  tid names the row in
 * errors.  Fails with XX001 unless the payload is authentic.
 */
static HeapTuple
decrypt_payload(Relation rel, Datum payload, ItemPointer tid,
				MemoryContext mcxt, HdbRowBuffer *buf)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(payload);
	struct varlena *v = raw;
	uint8	   *p;
	int			len;
	int			hlen;
	int			plen;
	bool		v2;
	int32		key_id;
	HdbDataKey *key;
	Size		need;
	HeapTuple	tuple;
	const char *bad;

	if (VARATT_IS_EXTERNAL(raw) || VARATT_IS_COMPRESSED(raw))
		v = detoast_attr(raw);
	p = (uint8 *) VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (!parse_header(p, len, &key_id, &hlen) ||
		len < hlen + HDB_TAG_LEN)
		decrypt_failed(rel, tid, "The payload is not in a known format.");
	v2 = p[0] == HDB_PAYLOAD_FORMAT_V2;
	plen = len - hlen - HDB_TAG_LEN;
	if (plen < (v2 ? 1 : (int) (SizeofHeapTupleHeader - PLAIN_OFFSET)))
		decrypt_failed(rel, tid, "The payload is too short.");
	/* a scan's rows are mostly sealed with one key: keep it at hand */
	if (buf != NULL && buf->key != NULL && buf->key->key_id == key_id)
		key = buf->key;
	else
	{
		key = hdb_datakey_lookup(key_id);
		if (buf != NULL)
			buf->key = key;
	}

	need = HEAPTUPLESIZE + plain_dest(v2) + plen;
	if (buf == NULL)
		tuple = (HeapTuple) MemoryContextAlloc(mcxt, need);
	else
	{
		if (buf->size < need)
		{
			if (buf->tuple != NULL)
				pfree(buf->tuple);
			buf->tuple = NULL;
			buf->size = Max(need, 256);
			buf->tuple = (HeapTuple) MemoryContextAlloc(buf->mcxt, buf->size);
		}
		tuple = buf->tuple;
	}
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	tuple->t_tableOid = RelationGetRelid(rel);
	ItemPointerCopy(tid, &tuple->t_self);
	/* rows decrypted into buf always get their header from heap's tuple */
	if (buf == NULL)
		memset(tuple->t_data, 0, plain_dest(v2));
	bad = open_payload(key, p, len, hlen, tuple);
	if (bad != NULL)
	{
		if (buf == NULL)
			pfree(tuple);
		decrypt_failed(rel, tid, bad);
	}
	if (v != raw)
		pfree(v);
	return tuple;
}

/*
 * Decrypt the physical tuple phys into the room bytes at mem, as a logical
 * tuple whose header is to be copied from phys (hdb_copy_header), without
 * raising: NULL when the row cannot be decrypted there, because its
 * payload is stored out of line or compressed, was sealed with another key
 * than key, does not fit, or is not authentic.  The caller then takes the
 * general path, which raises what is wrong.  Sets *used to the bytes taken.
 */
HeapTuple
hdb_decrypt_tuple_into(Relation rel, HeapTuple phys, HdbDataKey *key,
					   char *mem, Size room, Size *used)
{
	HeapTupleHeader pd = phys->t_data;
	struct varlena *v;
	const uint8 *p;
	int			len;
	int			hlen;
	int32		key_id;
	HeapTuple	tuple = (HeapTuple) mem;

	/* the payload is the only attribute, never null, right after t_hoff */
	if (HeapTupleHasNulls(phys) || HeapTupleHeaderGetNatts(pd) != 1 ||
		pd->t_hoff + VARHDRSZ > phys->t_len)
		return NULL;
	v = (struct varlena *) ((char *) pd + pd->t_hoff);
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v) ||
		pd->t_hoff + VARSIZE_ANY(v) > phys->t_len)
		return NULL;
	p = (const uint8 *) VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (!parse_header(p, len, &key_id, &hlen) || key_id != key->key_id ||
		len < hlen + HDB_TAG_LEN + 1 ||
		p[0] != HDB_PAYLOAD_FORMAT_V2)
		return NULL;
	*used = MAXALIGN(HEAPTUPLESIZE + plain_dest(true) +
					 len - hlen - HDB_TAG_LEN);
	if (*used > room)
		return NULL;
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	tuple->t_tableOid = RelationGetRelid(rel);
	if (open_payload(key, p, len, hlen, tuple) != NULL)
		return NULL;
	return tuple;
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
	return decrypt_payload(rel, payload, tid, mcxt, NULL);
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

/*
 * Decrypt a physical tuple into a logical one carrying its header, in buf
 * when given, otherwise allocated in mcxt.
 */
static HeapTuple
decrypt_tuple(Relation rel, HeapTuple phys, MemoryContext mcxt,
			  HdbRowBuffer *buf)
{
	bool		isnull;
	Datum		payload;
	HeapTuple	logical;

	payload = heap_getattr(phys, 1, hdb_physical_desc(), &isnull);
	if (isnull)
		decrypt_failed(rel, &phys->t_self, "The payload is missing.");
	logical = decrypt_payload(rel, payload, &phys->t_self, mcxt, buf);
	hdb_copy_header(phys, logical);
	return logical;
}

/* Decrypt a physical tuple into a logical one carrying its header. */
HeapTuple
hdb_decrypt_tuple(Relation rel, HeapTuple phys, MemoryContext mcxt)
{
	return decrypt_tuple(rel, phys, mcxt, NULL);
}

/* Decrypt the physical tuple held by pslot into the caller's slot. */
void
hdb_store_decrypted(Relation rel, TupleTableSlot *pslot, TupleTableSlot *slot)
{
	hdb_store_decrypted_buffered(rel, pslot, slot, NULL);
}

/*
 * Like hdb_store_decrypted, decrypting into buf rather than into a new
 * allocation when that is safe: buf may still be held by the slot it was
 * last stored into, so it is only overwritten to refill that same slot.
 * The buffer is never freed here, not even when the scan ends, since the
 * slot may outlive the scan; it goes with the scan's memory context.
 */
void
hdb_store_decrypted_buffered(Relation rel, TupleTableSlot *pslot,
							 TupleTableSlot *slot, HdbRowBuffer *buf)
{
	HeapTuple	phys = ExecFetchSlotHeapTuple(pslot, false, NULL);

	phys->t_self = pslot->tts_tid;
	hdb_store_decrypted_tuple(rel, phys, slot, buf);
}

/*
 * Like hdb_store_decrypted_buffered, for a physical tuple the caller holds
 * (with its buffer pinned) rather than a slot.
 */
void
hdb_store_decrypted_tuple(Relation rel, HeapTuple phys, TupleTableSlot *slot,
						  HdbRowBuffer *buf)
{
	HeapTuple	logical;

	if (buf != NULL && TTS_IS_HEAPTUPLE(slot) &&
		(buf->slot == NULL || buf->slot == slot))
		buf->slot = slot;
	else
		buf = NULL;
	if (buf != NULL)
	{
		/* the slot cannot hold buf while it is being overwritten */
		ExecClearTuple(slot);
		logical = decrypt_tuple(rel, phys, NULL, buf);
	}
	else
		logical = decrypt_tuple(rel, phys, slot->tts_mcxt, NULL);
	if (TTS_IS_HEAPTUPLE(slot))
		ExecStoreHeapTuple(logical, slot, buf == NULL);
	else
		ExecForceStoreHeapTuple(logical, slot, buf == NULL);
	slot->tts_tableOid = RelationGetRelid(rel);
	slot->tts_tid = logical->t_self;
}
