/*-------------------------------------------------------------------------
 *
 * hdb_audit.h
 *	  Interface of heliosdb's audit module: audit event capture, sinks and retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_AUDIT_H
#define HDB_AUDIT_H

extern void hdb_audit_init(void);

#endif							/* HDB_AUDIT_H */
