/*-------------------------------------------------------------------------
 *
 * hdb_tam.h
 *	  Interface of heliosdb's tam module: the heliosdb_encrypted table access method.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_TAM_H
#define HDB_TAM_H

extern void hdb_tam_init(void);

#endif							/* HDB_TAM_H */
