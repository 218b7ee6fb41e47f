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
