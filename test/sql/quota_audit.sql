-- Refusals by the quota module reach the audit log as quota_exceeded
-- events, end to end: a storage quota refusal (53100) and a rate limit
-- refusal (53400), each naming the tenant (audit_quota tests the capture
-- side with synthetic errors).
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT heliosdb.audit_flush();
SELECT coalesce(max(seq), 0) AS start_seq FROM heliosdb.audit_log \gset

-- Storage: a tenant whose schema is over its quota.
SELECT heliosdb.tenant_create('aq-store') IS NOT NULL AS created;
CREATE SCHEMA aq_store;
SELECT heliosdb.tenant_add_schema('aq-store', 'aq_store');
CREATE TABLE aq_store.t (id int, body text) WITH (autovacuum_enabled = off);
INSERT INTO aq_store.t SELECT g, repeat('s', 100) FROM generate_series(1, 100) g;
SELECT heliosdb.quota_refresh() >= 1 AS refreshed;
SELECT heliosdb.tenant_set_quota('aq-store', 1000, NULL);
\set VERBOSITY sqlstate
INSERT INTO aq_store.t VALUES (0, 'over');
\set VERBOSITY terse

-- Rate: a plain role acting for a tenant with no refill and a burst of 2.
ALTER SYSTEM SET heliosdb.default_qps_limit = 0.001;
ALTER SYSTEM SET heliosdb.rate_limit_burst = 2;
SELECT pg_reload_conf();
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_sleep(0.02) WHERE current_setting(%L) <> %L',
			  'heliosdb.rate_limit_burst', '2')
FROM generate_series(1, 500) \gexec
\o
\set ECHO all
SELECT heliosdb.rate_limit_reset();
SELECT heliosdb.tenant_create('aq-rate') IS NOT NULL AS created;
CREATE ROLE regress_aq_app;
SELECT heliosdb.set_tenant('aq-rate');
SET ROLE regress_aq_app;
SELECT 1 AS one;
SELECT 2 AS two;
SELECT 3 AS three;
-- (RESET ROLE would count as a statement too: start a new session.)
\c -
SET client_min_messages = warning;
\set VERBOSITY terse

SELECT heliosdb.audit_flush();
SELECT action, resource, result, error_code,
	   regexp_replace(error_message, '[0-9]+ bytes', 'N bytes') AS error_message
FROM heliosdb.audit_log
WHERE seq > :start_seq AND event_type = 'quota_exceeded'
ORDER BY seq;

ALTER SYSTEM RESET heliosdb.default_qps_limit;
ALTER SYSTEM RESET heliosdb.rate_limit_burst;
SELECT pg_reload_conf();
SELECT heliosdb.rate_limit_reset();
SELECT heliosdb.reset_context();
DROP ROLE regress_aq_app;
DROP SCHEMA aq_store CASCADE;
SELECT heliosdb.tenant_drop('aq-rate');
SELECT heliosdb.tenant_drop('aq-store');
