/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  Storage quota enforcement: statements that add data to a tenant's
 *	  relations are refused with disk_full (53100) while the tenant is over
 *	  its quota; reads and deletes always run, so a tenant can clean up.
 *
 * What counts as writing "into a tenant":
 *	- INSERT, UPDATE, MERGE (and data-modifying CTEs), COPY FROM and
 *	  CREATE INDEX on a relation in one of the tenant's schemas
 *	  (heliosdb.tenant_schema), and CREATE TABLE AS / SELECT INTO /
 *	  CREATE MATERIALIZED VIEW creating a relation there;
 *	- the same writes into any other table with row level security while
 *	  the session's security context names the tenant (shared tables with
 *	  tenant isolation).
 * Statements are checked at every nesting level (a function's INSERT is
 * checked too).
 *
 * Usage is the last refreshed usage (usage.c) plus the current size of
 * every table this transaction created in the tenant's schemas, which no
 * refresh can see before it commits: a table created and filled in one
 * transaction counts at once.  Enforcement otherwise lags by up to one
 * refresh interval, and the statement that crosses the quota completes.
 *
 * The map from schemas to tenants is cached per backend and reloaded when
 * heliosdb.tenant_schema changes (schema generation, see usage.c) or a
 * schema is created, renamed or dropped (syscache callback).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "common/hdb_common.h"
#include "quota/quota_internal.h"

/* Attribute numbers of heliosdb.tenant_schema, fixed by the install script. */
#define Anum_tenant_schema_schema	1
#define Anum_tenant_schema_tenant	2

typedef struct SchemaTenant
{
	Oid			nspid;
	char		tenant[HDB_TENANT_NAME_MAX];
} SchemaTenant;

static SchemaTenant *schema_map = NULL;
static int	schema_map_len = 0;
static bool schema_map_valid = false;
static uint64 schema_map_generation = 0;
static MemoryContext schema_map_cxt = NULL;

/* Relations created by the current transaction (TopMemoryContext). */
static List *new_relations = NIL;

static object_access_hook_type prev_object_access = NULL;

static void storage_object_access(ObjectAccessType access, Oid classId,
								  Oid objectId, int subId, void *arg);
static void storage_xact_callback(XactEvent event, void *arg);
static void schema_inval_callback(Datum arg, int cacheid, uint32 hashvalue);

void
hdb_storage_init(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = storage_object_access;
	RegisterXactCallback(storage_xact_callback, NULL);
}

/*
 * Remember relations created in this transaction.
 */
static void
storage_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					  int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	if (access == OAT_POST_CREATE && classId == RelationRelationId &&
		subId == 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		new_relations = lappend_oid(new_relations, objectId);
		MemoryContextSwitchTo(old);
	}
}

static void
storage_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free(new_relations);
		new_relations = NIL;
		/* A map loaded with this transaction's own changes is not shared. */
		if (hdb_schemas_changed_in_xact())
			schema_map_valid = false;
	}
}

static void
schema_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	schema_map_valid = false;
}

/*
 * Read heliosdb.tenant_schema into the backend's map.
 */
static void
load_schema_map(void)
{
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ?
		get_relname_relid("tenant_schema", nsp) : InvalidOid;
	uint64		generation = hdb_schema_generation();
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	int			alloc = 8;

	if (schema_map_cxt == NULL)
	{
		schema_map_cxt = AllocSetContextCreate(TopMemoryContext,
											   "heliosdb tenant schemas",
											   ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(NAMESPACEOID, schema_inval_callback,
									  (Datum) 0);
	}
	MemoryContextReset(schema_map_cxt);
	schema_map = NULL;
	schema_map_len = 0;
	schema_map_valid = false;

	if (!OidIsValid(relid))
	{
		schema_map_generation = generation;
		schema_map_valid = true;
		return;
	}

	schema_map = MemoryContextAlloc(schema_map_cxt,
									sizeof(SchemaTenant) * alloc);
	InvalidateCatalogSnapshot();
	snapshot = RegisterSnapshot(GetCatalogSnapshot(relid));
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull1,
					isnull2;
		Datum		schema = heap_getattr(tuple, Anum_tenant_schema_schema,
										  desc, &isnull1);
		Datum		tenant = heap_getattr(tuple, Anum_tenant_schema_tenant,
										  desc, &isnull2);
		Oid			nspid;

		if (isnull1 || isnull2)
			continue;
		nspid = get_namespace_oid(NameStr(*DatumGetName(schema)), true);
		if (!OidIsValid(nspid))
			continue;
		if (schema_map_len == alloc)
		{
			alloc *= 2;
			schema_map = repalloc(schema_map, sizeof(SchemaTenant) * alloc);
		}
		schema_map[schema_map_len].nspid = nspid;
		text_to_cstring_buffer(DatumGetTextPP(tenant),
							   schema_map[schema_map_len].tenant,
							   HDB_TENANT_NAME_MAX);
		schema_map_len++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);

	schema_map_generation = generation;
	schema_map_valid = true;
}

/*
 * The tenant owning a schema, or NULL.
 */
static const char *
schema_tenant(Oid nspid)
{
	if (!schema_map_valid || schema_map_generation != hdb_schema_generation() ||
		hdb_schemas_changed_in_xact())
		load_schema_map();
	for (int i = 0; i < schema_map_len; i++)
		if (schema_map[i].nspid == nspid)
			return schema_map[i].tenant;
	return NULL;
}

/*
 * Bytes in tables the current transaction created in the tenant's schemas.
 * Relations that are gone, are no tables or lie outside every tenant schema
 * are dropped from the list on the way, so that a transaction creating
 * many ordinary tables (a restore) does not make each check slower.
 */
static int64
new_relations_bytes(const char *tenant)
{
	int64		total = 0;
	ListCell   *lc;

	foreach(lc, new_relations)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);
		const char *owner = NULL;

		if (relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW)
			owner = schema_tenant(get_rel_namespace(relid));
		if (owner == NULL)
		{
			new_relations = foreach_delete_current(new_relations, lc);
			continue;
		}
		if (strcmp(owner, tenant) != 0)
			continue;
		total += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
												   ObjectIdGetDatum(relid)));
	}
	return total;
}

/*
 * Refuse to add data for a tenant that is over its quota.
 */
static void
check_tenant(const char *tenant)
{
	const HdbTenantLimits *limits;
	int64		used;
	int64		pending;
	int64		quota;
	bool		overflow;

	if (!hdb_usage_lookup(tenant, &used, &overflow) && overflow)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("storage usage of tenant \"%s\" is unknown", tenant),
				 errdetail("The heliosdb storage usage table is full."),
				 errhint("Increase heliosdb.quota_max_tenants and restart the server.")));

	limits = hdb_tenant_limits(tenant);
	quota = limits->storage_quota >= 0 ? limits->storage_quota :
		(int64) hdb_default_storage_quota * 1024 * 1024;
	if (used > quota)
		pending = 0;			/* over already; no need to measure more */
	else
		pending = new_relations_bytes(tenant);

	if (used + pending > quota)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("storage quota exceeded for tenant \"%s\": " INT64_FORMAT " bytes used of " INT64_FORMAT,
						tenant, used + pending, quota),
				 pending > 0 ?
				 errdetail("The usage includes " INT64_FORMAT " bytes in tables created by the current transaction.",
						   pending) : 0,
				 errhint("Delete data, or raise the quota with heliosdb.tenant_set_quota().")));
}

static bool
relation_has_rls(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		result = false;

	if (HeapTupleIsValid(tuple))
	{
		result = ((Form_pg_class) GETSTRUCT(tuple))->relrowsecurity;
		ReleaseSysCache(tuple);
	}
	return result;
}

/*
 * Check a write into relation "relid" (InvalidOid: a new relation in
 * schema "nspid").
 */
static void
check_write(Oid relid, Oid nspid)
{
	const char *tenant;

	if (!OidIsValid(nspid))
		return;
	if (IsCatalogNamespace(nspid) || isAnyTempNamespace(nspid) ||
		nspid == PG_TOAST_NAMESPACE)
		return;

	tenant = schema_tenant(nspid);
	if (tenant == NULL && OidIsValid(relid))
	{
		const HdbSecurityContext *ctx = hdb_context_get_unchecked();

		if (ctx->has_tenant && relation_has_rls(relid))
			tenant = ctx->tenant_name;
	}
	if (tenant != NULL)
		check_tenant(tenant);
}

/* Nothing to check outside a valid transaction or in parallel workers. */
static bool
storage_inactive(void)
{
	return !IsTransactionState() || IsParallelWorker();
}

/*
 * ExecutorStart: INSERT, UPDATE, MERGE and data-modifying CTEs.
 */
void
hdb_storage_check_query(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	ListCell   *lc;

	if (storage_inactive() || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;
	if (queryDesc->operation == CMD_SELECT && !pstmt->hasModifyingCTE)
		return;
	if (queryDesc->operation == CMD_DELETE && !pstmt->hasModifyingCTE)
		return;

	foreach(lc, pstmt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

		check_write(rte->relid, get_rel_namespace(rte->relid));
	}
}

/*
 * ProcessUtility: COPY FROM, CREATE INDEX, CREATE TABLE AS, SELECT INTO,
 * CREATE MATERIALIZED VIEW.
 */
void
hdb_storage_check_utility(Node *stmt)
{
	RangeVar   *rv = NULL;
	Oid			relid;

	if (storage_inactive())
		return;

	switch (nodeTag(stmt))
	{
		case T_CopyStmt:
			if (((CopyStmt *) stmt)->is_from)
				rv = ((CopyStmt *) stmt)->relation;
			break;
		case T_IndexStmt:
			rv = ((IndexStmt *) stmt)->relation;
			break;
		case T_CreateTableAsStmt:
			{
				IntoClause *into = ((CreateTableAsStmt *) stmt)->into;

				if (into->rel->relpersistence == RELPERSISTENCE_TEMP)
					return;
				check_write(InvalidOid,
							RangeVarGetCreationNamespace(into->rel));
				return;
			}
		default:
			return;
	}
	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid))
		check_write(relid, get_rel_namespace(relid));
}
