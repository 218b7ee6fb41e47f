/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Lookups in the tenant registry (table heliosdb.tenant) and the
 *	  generation counter that revokes contexts of dropped tenants.
 *
 * Lookups scan the registry's unique indexes directly rather than through
 * SPI: they serve every session, also ones whose role has no privilege on
 * the registry, and they must not depend on search_path.
 *
 * The last name found is cached per backend, for logins that name the same
 * tenant again and again.  An entry holds only while the registry
 * generation it was found under is current (every committed UPDATE, DELETE
 * or TRUNCATE of the registry moves it on) and this backend has neither
 * changed the registry in its open transaction nor aborted anything since
 * (an aborted transaction may have created the tenant it found).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common/hdb_common.h"
#include "tenant/tenant_internal.h"

/* Attribute numbers of heliosdb.tenant, fixed by the install script. */
#define Anum_tenant_id				1
#define Anum_tenant_name			2
#define Anum_tenant_storage_quota	3
#define Anum_tenant_qps_limit		4

static bool registry_changed_in_xact = false;

static struct
{
	bool		valid;
	uint64		generation;
	char		name[HDB_TENANT_NAME_MAX];
	pg_uuid_t	id;
}			name_cache;

static void registry_xact_callback(XactEvent event, void *arg);
static void registry_subxact_callback(SubXactEvent event,
									  SubTransactionId mySubid,
									  SubTransactionId parentSubid,
									  void *arg);

void
hdb_registry_init(void)
{
	RegisterXactCallback(registry_xact_callback, NULL);
	RegisterSubXactCallback(registry_subxact_callback, NULL);
}

/*
 * Is this a well-formed tenant name (^[a-z0-9][a-z0-9_-]{0,62}$)?
 */
bool
hdb_tenant_name_is_valid(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len >= HDB_TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '_' || c == '-'))
			continue;
		return false;
	}
	return true;
}

uint64
hdb_registry_generation(void)
{
	if (hdb_tenant_shared == NULL)
		return 0;
	return pg_atomic_read_u64(&hdb_tenant_shared->registry_generation);
}

/*
 * Find one registry row through the unique index "indexname".  It is read
 * with a fresh catalog snapshot: the registry as committed now (plus this
 * transaction's own changes), also inside a REPEATABLE READ transaction
 * whose snapshot predates a drop, and without fixing the transaction's
 * snapshot early.  Returns false when there is no such tenant; when the
 * extension is not installed, too if missing_ok, else that is an error.
 */
static bool
registry_scan(AttrNumber attno, RegProcedure eqproc, Datum value,
			  const char *indexname, bool missing_ok, HdbTenantRow *row)
{
	Oid			nsp = get_namespace_oid(HDB_SCHEMA, true);
	Oid			relid = InvalidOid;
	Oid			indexid = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	bool		found;

	if (OidIsValid(nsp))
	{
		relid = get_relname_relid("tenant", nsp);
		indexid = get_relname_relid(indexname, nsp);
	}
	if (!OidIsValid(relid) || !OidIsValid(indexid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"heliosdb\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION heliosdb.")));
	}

	InvalidateCatalogSnapshot();
	snapshot = RegisterSnapshot(GetCatalogSnapshot(relid));
	rel = table_open(relid, AccessShareLock);
	ScanKeyEntryInitialize(&key, 0, attno, BTEqualStrategyNumber, InvalidOid,
						   C_COLLATION_OID, eqproc, value);
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d;

		d = heap_getattr(tuple, Anum_tenant_id, desc, &isnull);
		memcpy(&row->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
		d = heap_getattr(tuple, Anum_tenant_name, desc, &isnull);
		text_to_cstring_buffer(DatumGetTextPP(d), row->name,
							   HDB_TENANT_NAME_MAX);
		d = heap_getattr(tuple, Anum_tenant_storage_quota, desc, &isnull);
		row->storage_quota = isnull ? -1 : DatumGetInt64(d);
		d = heap_getattr(tuple, Anum_tenant_qps_limit, desc, &isnull);
		row->qps_limit = isnull ? 0 : DatumGetInt32(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * The registry row of tenant "name"; false when there is none, also when
 * the extension is not installed in this database.
 */
bool
hdb_registry_fetch(const char *name, HdbTenantRow *row)
{
	return registry_scan(Anum_tenant_name, F_TEXTEQ,
						 CStringGetTextDatum(name), "tenant_name_key",
						 true, row);
}

bool
hdb_registry_lookup_name(const char *name, pg_uuid_t *id)
{
	uint64		generation = hdb_registry_generation();
	HdbTenantRow row;

	if (name_cache.valid && !registry_changed_in_xact &&
		name_cache.generation == generation &&
		strcmp(name_cache.name, name) == 0)
	{
		memcpy(id, &name_cache.id, sizeof(pg_uuid_t));
		return true;
	}

	if (!registry_scan(Anum_tenant_name, F_TEXTEQ,
					   CStringGetTextDatum(name), "tenant_name_key",
					   false, &row))
		return false;
	memcpy(id, &row.id, sizeof(pg_uuid_t));

	if (strlen(name) < HDB_TENANT_NAME_MAX)
	{
		name_cache.valid = true;
		name_cache.generation = generation;
		strlcpy(name_cache.name, name, sizeof(name_cache.name));
		memcpy(&name_cache.id, id, sizeof(pg_uuid_t));
	}
	return true;
}

bool
hdb_registry_lookup_id(const pg_uuid_t *id, char *name)
{
	HdbTenantRow row;

	if (!registry_scan(Anum_tenant_id, F_UUID_EQ, UUIDPGetDatum(id),
					   "tenant_pkey", false, &row))
		return false;
	strlcpy(name, row.name, HDB_TENANT_NAME_MAX);
	return true;
}

/*
 * Statement trigger on heliosdb.tenant for UPDATE, DELETE and TRUNCATE:
 * once the transaction commits, every session re-checks its tenant.
 */
PG_FUNCTION_INFO_V1(hdb_tenant_registry_changed);
Datum
hdb_tenant_registry_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired by a trigger",
						"heliosdb._tenant_registry_changed")));
	registry_changed_in_xact = true;
	name_cache.valid = false;
	return PointerGetDatum(NULL);
}

static void
registry_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:

			/*
			 * The commit of a prepared transaction runs no callback of ours,
			 * so the other sessions would never learn of the change.
			 */
			if (registry_changed_in_xact)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that changed the heliosdb tenant registry")));
			break;
		case XACT_EVENT_COMMIT:
			if (registry_changed_in_xact && hdb_tenant_shared != NULL)
				pg_atomic_fetch_add_u64(&hdb_tenant_shared->registry_generation, 1);
			registry_changed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
			registry_changed_in_xact = false;
			name_cache.valid = false;
			break;
		default:
			break;
	}
}

static void
registry_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		name_cache.valid = false;
}
