/*-------------------------------------------------------------------------
 *
 * physrel.c
 *	  The physical view of an encrypted relation: a private copy of its
 *	  RelationData on which heap's own code runs.
 *
 * The view differs from the relation in its descriptor (one bytea column),
 * its table AM (heap's, which heap_getnext insists on) and its index
 * attribute bitmaps (in physical attnums, preset per update).  One view is
 * kept per relation for the life of the backend, in TopMemoryContext, so
 * that a scan's resource owner can always release its reference to it,
 * even after an abort.  Each use refreshes it from the relation:
 *	- the relation's fields are copied anew, but rd_rel and rd_options are
 *	  deep copies owned by the view, so that a relcache rebuild of the
 *	  relation in the middle of a heap call cannot free them under it;
 *	- the view owns its own smgr reference (smgr's owner back-link then
 *	  points into the view, which never goes away), dropped when the
 *	  relation's file changes;
 *	- the relation is associated with its pgstat entry first, so heap's
 *	  counters on the view go to the relation's entry and pgstat never
 *	  links back to the view;
 *	- the reference count is the view's own (scans on the view count it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "nodes/bitmapset.h"
#include "pgstat.h"
#include "storage/smgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "tam/tam_internal.h"

typedef struct ViewEntry
{
	Oid			relid;			/* hash key */
	Relation	view;
	Size		options_size;	/* allocated size of view->rd_options */
	Bitmapset  *phys_attr;		/* {attnum 1}, offset by FirstLow... */
	Bitmapset  *no_attr;		/* an empty but non-NULL set */
} ViewEntry;

static HTAB *views = NULL;

static ViewEntry *
view_entry(Oid relid)
{
	ViewEntry  *e;
	bool		found;

	if (views == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ViewEntry);
		ctl.hcxt = TopMemoryContext;
		views = hash_create("heliosdb physical views", 32, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(views, &relid, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		e->view = palloc0(sizeof(RelationData));
		e->view->rd_rel = palloc0(CLASS_TUPLE_SIZE);
		e->options_size = 0;
		e->phys_attr =
			bms_make_singleton(1 - FirstLowInvalidHeapAttributeNumber);
		/* built by hand: bms functions may turn an empty set into NULL */
		e->no_attr = palloc0(offsetof(Bitmapset, words) + sizeof(bitmapword));
		e->no_attr->nwords = 1;
		MemoryContextSwitchTo(old);
	}
	return e;
}

/*
 * The physical view of rel, refreshed.  Valid until the next call for the
 * same relation; the struct itself never moves.
 */
Relation
hdb_physical_view(Relation rel)
{
	ViewEntry  *e = view_entry(RelationGetRelid(rel));
	Relation	view = e->view;
	SMgrRelation smgr = view->rd_smgr;
	int			refcnt = view->rd_refcnt;
	Form_pg_class relform = view->rd_rel;
	bytea	   *options = view->rd_options;

	/* let pgstat link to the real relation, never to the view */
	(void) pgstat_should_count_relation(rel);

	if (smgr != NULL &&
		(!RelFileNodeEquals(smgr->smgr_rnode.node, rel->rd_node) ||
		 smgr->smgr_rnode.backend != rel->rd_backend))
	{
		smgrclearowner(&view->rd_smgr, smgr);
		smgr = NULL;
	}

	memcpy(view, rel, sizeof(RelationData));
	view->rd_smgr = smgr;
	view->rd_refcnt = refcnt;
	view->rd_att = hdb_physical_desc();
	view->rd_tableam = GetHeapamTableAmRoutine();
	memcpy(relform, rel->rd_rel, CLASS_TUPLE_SIZE);
	view->rd_rel = relform;
	if (rel->rd_options != NULL)
	{
		Size		sz = VARSIZE(rel->rd_options);

		if (sz > e->options_size)
		{
			if (options != NULL)
				pfree(options);
			options = MemoryContextAlloc(TopMemoryContext, sz);
			e->options_size = sz;
		}
		memcpy(options, rel->rd_options, sz);
		view->rd_options = options;
	}
	else
	{
		view->rd_options = NULL;
		if (options != NULL)
			pfree(options);
		e->options_size = 0;
	}
	/* heap may test these sets; by default every change is "indexed" */
	view->rd_indexattr = e->phys_attr;
	view->rd_keyattr = e->phys_attr;
	view->rd_pkattr = e->phys_attr;
	view->rd_idattr = e->phys_attr;
	/* nothing of these belongs to the view */
	view->rd_amcache = NULL;
	view->rd_partkeycxt = NULL;
	view->rd_pdcxt = NULL;
	view->rd_pddcxt = NULL;
	view->rd_partdesc = NULL;
	view->rd_partdesc_nodetached = NULL;
	view->rd_partkey = NULL;
	view->rd_fdwroutine = NULL;
	return view;
}

/*
 * Preset the view's index attribute bitmaps for heap_update from which
 * kinds of index columns changed in the logical row: heap then decides HOT
 * and the tuple lock strength as it would for a heap table.
 */
void
hdb_view_set_update_bitmaps(Relation view, bool index_changed,
							bool key_changed, bool pk_changed,
							bool id_changed)
{
	ViewEntry  *e = hash_search(views, &view->rd_id, HASH_FIND, NULL);

	Assert(e != NULL && e->view == view);
	view->rd_indexattr = index_changed ? e->phys_attr : e->no_attr;
	view->rd_keyattr = key_changed ? e->phys_attr : e->no_attr;
	view->rd_pkattr = pk_changed ? e->phys_attr : e->no_attr;
	view->rd_idattr = id_changed ? e->phys_attr : e->no_attr;
}
