/*-------------------------------------------------------------------------
 *
 * hdb_tam.h
 *	  Interface of heliosdb's tam module: the heliosdb_encrypted table
 *	  access method.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_TAM_H
#define HDB_TAM_H

#include "utils/relcache.h"

extern void hdb_tam_init(void);
extern bool hdb_is_encrypted(Relation rel);

#endif							/* HDB_TAM_H */
