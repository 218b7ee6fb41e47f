/*-------------------------------------------------------------------------
 *
 * tam.c
 *	  Set-up of heliosdb's tam module: the heliosdb_encrypted table access
 *	  method's handler.
 *
 * The routine is heap's (GetHeapamTableAmRoutine) with the callbacks that
 * form or read tuples replaced; MVCC, WAL, VACUUM, the free space and
 * visibility maps, pruning and freezing stay heap's own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "fmgr.h"

#include "tam/hdb_tam.h"
#include "tam/tam_internal.h"

const TableAmRoutine *hdb_heap = NULL;
static TableAmRoutine encrypted_routine;

PG_FUNCTION_INFO_V1(hdb_encrypted_handler);

/*
 * Called from _PG_init while the library is preloaded: builds the routine
 * once, so that every backend inherits it.
 */
void
hdb_tam_init(void)
{
	hdb_heap = GetHeapamTableAmRoutine();
	encrypted_routine = *hdb_heap;
	hdb_tam_scan_callbacks(&encrypted_routine);
	hdb_tam_modify_callbacks(&encrypted_routine);
	hdb_tam_ddl_callbacks(&encrypted_routine);
	hdb_tam_ddl_init();
}

/* The table_am_handler of heliosdb_encrypted. */
Datum
hdb_encrypted_handler(PG_FUNCTION_ARGS)
{
	if (hdb_heap == NULL)
		hdb_tam_init();
	PG_RETURN_POINTER(&encrypted_routine);
}

/* Is rel a relation of the heliosdb_encrypted access method? */
bool
hdb_is_encrypted(Relation rel)
{
	return rel->rd_tableam == &encrypted_routine;
}
