/*-------------------------------------------------------------------------
 *
 * tam.c
 *	  Set-up of heliosdb's tam module: the heliosdb_encrypted table access method.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tam/hdb_tam.h"

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_tam_init(void)
{
}
