/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Storing a batch of records in heliosdb.audit_log without SQL: the
 *	  writer's fast path.
 *
 * The statement
 *		INSERT INTO heliosdb.audit_log
 *		SELECT * FROM heliosdb._audit_rows(records, last_seq, last_hash)
 * would store a batch too, but it builds every row twice (into the
 * function's tuplestore, then for the insert) and inserts rows one at a
 * time, each with its own WAL record.  Here the rows, built and
 * chained by chain.c exactly as _audit_rows() builds them, are routed to
 * their partitions with the executor's tuple routing, as COPY FROM does,
 * and inserted with table_multi_insert(), which writes one WAL record per
 * page rather than one per row; then their index entries are made.
 *
 * Triggers are not fired here: when audit_log or a partition a row goes
 * to has any (or audit_log is not partitioned, which the extension never
 * makes it), hdb_audit_store_rows() inserts nothing and returns false, and
 * the writer stores the batch with the INSERT statement above.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "audit/audit_internal.h"

/*
 * The rows of a batch live in a context of their own whose first megabyte
 * is kept from batch to batch.  In the transaction's memory they went back
 * to malloc at every commit, and were mapped and faulted in afresh for the
 * next batch, which cost the writer about a third of its time.
 */
static MemoryContext batch_cxt = NULL;

/*
 * New rows go to their pages through a ring of buffers (the bulk-write
 * strategy COPY uses) kept from batch to batch.  Without it the audit
 * pages, each written once, pushed the sessions' pages out of shared
 * buffers: under pgbench select-only the sessions read about half as many
 * pages again from the kernel.  The ring must last across batches, as a
 * batch fills far fewer pages than it holds.  Its pin is dropped after
 * each partition's rows; an error in between ends the writer's process.
 */
static BulkInsertState bistate = NULL;

/* The rows of a batch that go to one partition. */
typedef struct PartitionRows
{
	ResultRelInfo *rri;
	TupleDesc	desc;			/* a copy: slots need not pin it */
	TupleTableSlot **slots;
	int			n;
} PartitionRows;

/*
 * Store records recs[0..n) (lens[i] bytes each) in audit_log, chained
 * after (last_seq, last_hash; NULL when the chain is empty), in the
 * current transaction.  The chain's new end is left in
 * hdb_audit_chain_last_*.  Returns false, having stored nothing, when a
 * trigger would have to fire (see the header).
 */
bool
hdb_audit_store_rows(char **recs, int *lens, int n, int64 last_seq,
					 const uint8 *last_hash)
{
	Oid			nsp = get_namespace_oid("heliosdb", false);
	Oid			relid = get_relname_relid("audit_log", nsp);
	RangeTblEntry *rte;
	EState	   *estate;
	ResultRelInfo *root_rri;
	ModifyTableState *mtstate;
	PartitionTupleRouting *proute;
	Relation	root;
	TupleTableSlot *root_slot;
	HdbAuditRowInfo *ri;
	PartitionRows *parts;
	int			nparts = 0;
	bool		triggers = false;
	uint8		prev[HDB_AUDIT_HASH_LEN];
	uint8		hash[HDB_AUDIT_HASH_LEN];
	int64		seq = last_seq;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	CommandId	cid;
	MemoryContext row_cxt;
	MemoryContext old;

	/* See what the statements before did (partitions just made). */
	CommandCounterIncrement();
	cid = GetCurrentCommandId(true);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"heliosdb.audit_log\" does not exist")));
	/* Routing is set up for the partitioned table the extension makes. */
	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return false;
	LockRelationOid(relid, RowExclusiveLock);

	/* An executor state for one result relation, as COPY FROM makes. */
	estate = CreateExecutorState();
	estate->es_output_cid = cid;
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_PARTITIONED_TABLE;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	root_rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(estate, root_rri, 1);
	root = root_rri->ri_RelationDesc;

	mtstate = makeNode(ModifyTableState);
	mtstate->ps.plan = NULL;
	mtstate->ps.state = estate;
	mtstate->operation = CMD_INSERT;
	mtstate->mt_nrels = 1;
	mtstate->resultRelInfo = root_rri;
	mtstate->rootResultRelInfo = root_rri;
	proute = ExecSetupPartitionTupleRouting(estate, root);

	if (batch_cxt == NULL)
		batch_cxt = AllocSetContextCreate(TopMemoryContext,
										  "heliosdb audit batch",
										  1024 * 1024, 1024 * 1024,
										  8 * 1024 * 1024);
	MemoryContextReset(batch_cxt);
	if (bistate == NULL)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		bistate = GetBulkInsertState();
		MemoryContextSwitchTo(old);
	}

	triggers = root_rri->ri_TrigDesc != NULL;
	root_slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(root),
									   &TTSOpsVirtual);
	ri = hdb_audit_row_info(RelationGetDescr(root), CurrentMemoryContext);
	parts = palloc0(sizeof(PartitionRows) * n);
	if (last_hash != NULL)
		memcpy(prev, last_hash, HDB_AUDIT_HASH_LEN);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext,
									"heliosdb audit row",
									ALLOCSET_DEFAULT_SIZES);

	/* Build, chain and route every row before inserting any. */
	for (int r = 0; r < n && !triggers; r++)
	{
		ResultRelInfo *part_rri;
		TupleConversionMap *map;
		PartitionRows *pr = NULL;
		TupleTableSlot *src;
		TupleTableSlot *slot;

		old = MemoryContextSwitchTo(row_cxt);
		ExecClearTuple(root_slot);
		hdb_audit_build_row(ri, recs[r], lens[r], ++seq,
							(last_hash != NULL || r > 0) ? prev : NULL, now,
							root_slot->tts_values, root_slot->tts_isnull,
							hash);
		ExecStoreVirtualTuple(root_slot);
		memcpy(prev, hash, HDB_AUDIT_HASH_LEN);
		MemoryContextSwitchTo(old);

		part_rri = ExecFindPartition(mtstate, root_rri, proute, root_slot,
									 estate);
		if (part_rri->ri_TrigDesc != NULL)
		{
			triggers = true;
			break;
		}
		for (int p = 0; p < nparts; p++)
			if (parts[p].rri == part_rri)
				pr = &parts[p];
		if (pr == NULL)
		{
			pr = &parts[nparts++];
			pr->rri = part_rri;
			old = MemoryContextSwitchTo(batch_cxt);
			pr->desc =
				CreateTupleDescCopy(RelationGetDescr(part_rri->ri_RelationDesc));
			pr->slots = palloc(sizeof(TupleTableSlot *) * n);
			MemoryContextSwitchTo(old);
		}

		/* In the partition's row type, checked, then copied as a tuple. */
		src = root_slot;
		map = part_rri->ri_RootToPartitionMap;
		if (map != NULL)
			src = execute_attr_map_slot(map->attrMap, root_slot,
										part_rri->ri_PartitionTupleSlot);
		if (part_rri->ri_RelationDesc->rd_att->constr)
			ExecConstraints(part_rri, src, estate);
		old = MemoryContextSwitchTo(batch_cxt);
		slot = MakeSingleTupleTableSlot(pr->desc, &TTSOpsHeapTuple);
		MemoryContextSwitchTo(old);
		ExecCopySlot(slot, src);
		pr->slots[pr->n++] = slot;
		MemoryContextReset(row_cxt);
	}

	if (!triggers)
	{
		for (int p = 0; p < nparts; p++)
		{
			PartitionRows *pr = &parts[p];

			table_multi_insert(pr->rri->ri_RelationDesc, pr->slots, pr->n,
							   cid, 0, bistate);
			ReleaseBulkInsertStatePin(bistate);
			for (int i = 0; i < pr->n; i++)
			{
				if (pr->rri->ri_NumIndices > 0)
					list_free(ExecInsertIndexTuples(pr->rri, pr->slots[i],
													estate, false, false,
													NULL, NIL));
				ResetPerTupleExprContext(estate);
				ExecDropSingleTupleTableSlot(pr->slots[i]);
			}
		}
		if (n > 0)
		{
			hdb_audit_chain_last_seq = seq;
			memcpy(hdb_audit_chain_last_hash, hash, HDB_AUDIT_HASH_LEN);
		}
	}

	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCleanupTupleRouting(mtstate, proute);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
	MemoryContextDelete(row_cxt);
	MemoryContextReset(batch_cxt);
	return !triggers;
}
