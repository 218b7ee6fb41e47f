/*-------------------------------------------------------------------------
 *
 * tam_admin.c
 *	  SQL-callable parts of heliosdb_encrypted's administration: rotation
 *	  of a table's data key, and which key versions its rows use.
 *
 * encrypt_table, rotate_keys and encryption_status are written in SQL on
 * top of these (sql/install/031_tam.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/multixact.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "commands/cluster.h"
#include "commands/tablecmds.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "storage/lmgr.h"
#include "utils/tuplestore.h"

#include "crypto/hdb_crypto.h"
#include "tam/hdb_tam.h"
#include "tam/tam_internal.h"

PG_FUNCTION_INFO_V1(hdb_rotate_table_key);
PG_FUNCTION_INFO_V1(hdb_row_key_ids);

/* Open relid and fail unless it is a table of heliosdb_encrypted. */
static Relation
open_encrypted(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = relation_open(relid, lockmode);

	if (!hdb_is_encrypted(rel))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not an encrypted table",
						RelationGetRelationName(rel)),
				 errhint("Use heliosdb.encrypt_table() to encrypt it.")));
	return rel;
}

/*
 * Rewrite rel into a new relation file, as ALTER TABLE does: the live rows
 * (under the newest snapshot, so not MVCC-safe for older snapshots, like
 * ALTER TABLE) are decrypted and encrypted again into the transient
 * relation, which writes with rel's current data key; then the files are
 * swapped and the indexes rebuilt.  Dropped columns are emptied.  rel is
 * closed here.
 */
static void
reencrypt_rewrite(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	char		persistence = rel->rd_rel->relpersistence;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			newrelid;
	Relation	newrel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	TupleTableSlot *out;
	BulkInsertState bistate;
	CommandId	cid = GetCurrentCommandId(true);
	int			i;

	newrelid = make_new_heap(relid, rel->rd_rel->reltablespace,
							 rel->rd_rel->relam, persistence,
							 AccessExclusiveLock);
	newrel = table_open(newrelid, AccessExclusiveLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	slot = table_slot_create(rel, NULL);
	out = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	bistate = GetBulkInsertState();
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		ExecClearTuple(out);
		for (i = 0; i < desc->natts; i++)
		{
			out->tts_values[i] = slot->tts_values[i];
			out->tts_isnull[i] = slot->tts_isnull[i] ||
				TupleDescAttr(desc, i)->attisdropped;
		}
		ExecStoreVirtualTuple(out);
		table_tuple_insert(newrel, out, cid, TABLE_INSERT_SKIP_FSM, bistate);
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(out);
	FreeBulkInsertState(bistate);
	table_finish_bulk_insert(newrel, TABLE_INSERT_SKIP_FSM);
	table_close(newrel, NoLock);
	table_close(rel, NoLock);

	finish_heap_swap(relid, newrelid, false, false, true, true,
					 RecentXmin, ReadNextMultiXactId(), persistence);
}

/*
 * heliosdb.rotate_table_key(regclass): start a new data key version for
 * the table and re-encrypt every row with it.  Owner only.  Returns the
 * new version.
 */
Datum
hdb_rotate_table_key(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = open_encrypted(relid, AccessExclusiveLock);
	int32		version;

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE,
					   RelationGetRelationName(rel));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or materialized view",
						RelationGetRelationName(rel))));
	CheckTableNotInUse(rel, "heliosdb.rotate_table_key");
	version = hdb_datakey_lookup(hdb_datakey_create(relid))->version;
	reencrypt_rewrite(rel);
	PG_RETURN_INT32(version);
}

/*
 * heliosdb._row_key_ids(regclass): how many row versions visible to the
 * current snapshot each data key seals.  Reads only payload headers.
 */
Datum
hdb_row_key_ids(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	Relation	view;
	TableScanDesc scan;
	TupleTableSlot *pslot;
	int32		ids[64];
	int64		counts[64];
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	rel = open_encrypted(relid, AccessShareLock);
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE,
					   RelationGetRelationName(rel));

	view = hdb_physical_view(rel);
	pslot = MakeSingleTupleTableSlot(hdb_physical_desc(),
									 &TTSOpsBufferHeapTuple);
	scan = hdb_heap->scan_begin(view, GetActiveSnapshot(), 0, NULL, NULL,
								SO_TYPE_SEQSCAN | SO_ALLOW_STRAT |
								SO_ALLOW_SYNC | SO_ALLOW_PAGEMODE);
	while (hdb_heap->scan_getnextslot(scan, ForwardScanDirection, pslot))
	{
		bool		isnull;
		Datum		payload = slot_getattr(pslot, 1, &isnull);
		int32		id = isnull ? 0 : hdb_payload_key_id(payload);

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n && ids[i] != id; i++)
			;
		if (i == n)
		{
			if (n == lengthof(ids))
				elog(ERROR, "too many data keys in one table");
			ids[n] = id;
			counts[n++] = 0;
		}
		counts[i]++;
	}
	hdb_heap->scan_end(scan);
	ExecDropSingleTupleTableSlot(pslot);
	relation_close(rel, AccessShareLock);

	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(ids[i]);
		values[1] = Int64GetDatum(counts[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
