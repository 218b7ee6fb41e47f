/*-------------------------------------------------------------------------
 *
 * hdb_audit.h
 *	  Interface of heliosdb's audit module: audit event capture, sinks and
 *	  retention.
 *
 * The module captures statements itself through executor and utility
 * hooks.  Other modules report the events only they can see (logins,
 * quota refusals, key operations) with hdb_audit_event(), which formats
 * and queues one record, or does nothing when auditing is disabled, the
 * event type is not selected by heliosdb.audit_events or the current
 * database does not have the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_AUDIT_H
#define HDB_AUDIT_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

typedef enum HdbAuditEventType
{
	HDB_AUDIT_AUTHENTICATION = 0,
	HDB_AUDIT_AUTHORIZATION,
	HDB_AUDIT_DATA_ACCESS,
	HDB_AUDIT_DATA_MODIFICATION,
	HDB_AUDIT_SCHEMA_CHANGES,
	HDB_AUDIT_ADMIN_ACTIONS,
	HDB_AUDIT_RLS_BYPASS,
	HDB_AUDIT_QUOTA_EXCEEDED,
	HDB_AUDIT_NUM_EVENT_TYPES
} HdbAuditEventType;

typedef enum HdbAuditResult
{
	HDB_AUDIT_SUCCESS = 0,
	HDB_AUDIT_FAILURE,
	HDB_AUDIT_DENIED
} HdbAuditResult;

/*
 * One audit record as captured.  Fields describing the session (user,
 * tenant, role, address, session id, database) are added when the record
 * is formatted.  NULL pointers and negative numbers mean "not known".
 */
typedef struct HdbAuditRecord
{
	HdbAuditEventType event_type;
	TimestampTz ts;				/* 0: now */
	const char *action;			/* command tag or function name */
	const char *resource;		/* schema-qualified relations, ", "-separated */
	const char *query;			/* already redacted as configured */
	int			nparams;		/* bind parameters */
	char	  **param_values;	/* NULL: shown as [REDACTED] */
	HdbAuditResult result;
	const char *error_code;		/* SQLSTATE */
	const char *error_message;
	int64		rows_affected;
	double		duration_ms;
	List	   *rls_policies;	/* policy names (char *) */
	uint64		request_no;		/* statement number in the session */
} HdbAuditRecord;

extern void hdb_audit_init(void);

/* Names of event types and results, as stored. */
extern const char *hdb_audit_event_name(HdbAuditEventType type);
extern const char *hdb_audit_result_name(HdbAuditResult result);

/*
 * Report an event seen by another module.  Never raises an error for a
 * disabled audit; "detail" goes to error_message and is scrubbed of API
 * keys and tokens.  Safe to call outside a transaction only for records
 * that then go nowhere (no database selected yet): such events are written
 * to the server log alone.
 */
extern void hdb_audit_event(HdbAuditEventType type, const char *action,
							HdbAuditResult result, const char *resource,
							const char *error_code, const char *detail);

/* Queue a fully built record (no-op when auditing is off here). */
extern void hdb_audit_submit(const HdbAuditRecord *rec);

/* Leave this process's statements out: for heliosdb's own workers. */
extern void hdb_audit_ignore_statements(void);

#endif							/* HDB_AUDIT_H */
