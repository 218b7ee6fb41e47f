-- The list settings of the audit: accepted values and refused ones.
SET heliosdb.audit_events = 'all';
SHOW heliosdb.audit_events;
SET heliosdb.audit_events = 'none';
SET heliosdb.audit_events = 'Authentication, quota_exceeded';
SHOW heliosdb.audit_events;
SET heliosdb.audit_events = 'authentication, s3_upload';
SET heliosdb.audit_events = 'authentication,,quota_exceeded';
RESET heliosdb.audit_events;
-- audit_destination is reloaded from the configuration: ALTER SYSTEM
-- checks the value before writing it.
ALTER SYSTEM SET heliosdb.audit_destination = 'database, s3';
ALTER SYSTEM SET heliosdb.audit_destination = 'all';
SHOW heliosdb.audit_destination;
-- audit_sync_read_only: a read-only transaction that was audited flushes
-- its records' WAL at commit (by default they are safe in the queue file
-- only); only superusers may change it.
CREATE TABLE sync_ro (x int);
SET heliosdb.audit_events = 'data_access';
SET heliosdb.audit_sync_read_only = on;
SELECT pg_current_wal_insert_lsn() AS before_lsn, count(*) FROM sync_ro \gset
SELECT pg_current_wal_flush_lsn() > :'before_lsn'::pg_lsn AS flushed;
RESET heliosdb.audit_sync_read_only;
RESET heliosdb.audit_events;
DROP TABLE sync_ro;
CREATE ROLE audit_sync_user;
SET ROLE audit_sync_user;
SET heliosdb.audit_sync_read_only = on;
RESET ROLE;
DROP ROLE audit_sync_user;
