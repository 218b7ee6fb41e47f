-- heliosdb demo: tenant isolation that works, and fails closed.
-- Statements that must fail run through demo_expect_error(), which prints
-- the refusal and stops the demo if the statement was NOT refused.
\pset footer off
CREATE EXTENSION heliosdb;

CREATE FUNCTION pg_temp.demo_expect_error(what text, q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RAISE EXCEPTION 'demo failed: "%" was not refused', what;
EXCEPTION WHEN others THEN
	IF SQLERRM LIKE 'demo failed:%' THEN
		RAISE;
	END IF;
	RETURN format('refused (%s): %s', SQLSTATE, SQLERRM);
END $$;

\echo
\echo '== 1. An administrator registers two tenants'
SELECT heliosdb.tenant_create('acme') AS acme_id \gset
SELECT heliosdb.tenant_create('globex') AS globex_id \gset
SELECT name, id FROM heliosdb.tenants ORDER BY name;

\echo
\echo '== 2. A table with a uuid tenant_id column is isolated when it is created'
CREATE TABLE invoices (
	id serial PRIMARY KEY,
	tenant_id uuid NOT NULL DEFAULT heliosdb.current_tenant_id(),
	customer text,
	amount numeric
);
SELECT polname, pg_get_expr(polqual, polrelid) AS policy
FROM pg_policy WHERE polrelid = 'invoices'::regclass;

-- The application connects as an ordinary role; a trusted middle tier (a
-- heliosdb_admin member) sets the tenant, or a token login does (issue 3).
CREATE ROLE demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO demo_app;
GRANT USAGE ON SEQUENCE invoices_id_seq TO demo_app;

\echo
\echo '== 3. Each tenant writes its own rows'
SELECT heliosdb.set_tenant('acme') \g /dev/null
SET ROLE demo_app;
INSERT INTO invoices (customer, amount) VALUES ('Road Runner', 120), ('Coyote', 99.5);
RESET ROLE;
SELECT heliosdb.set_tenant('globex') \g /dev/null
SET ROLE demo_app;
INSERT INTO invoices (customer, amount) VALUES ('Hank Scorpio', 1000000);

\echo
\echo '== 4. ...and sees only its own rows'
SELECT heliosdb.current_tenant() AS acting_for, customer, amount FROM invoices ORDER BY id;
RESET ROLE;
SELECT heliosdb.set_tenant('acme') \g /dev/null
SET ROLE demo_app;
SELECT heliosdb.current_tenant() AS acting_for, customer, amount FROM invoices ORDER BY id;

\echo
\echo '== 5. Cross-tenant writes are refused'
SELECT pg_temp.demo_expect_error('insert for another tenant',
	format($$INSERT INTO invoices (tenant_id, customer, amount) VALUES (%L, 'forged', 1)$$, :'globex_id'))
	AS outcome;
SELECT pg_temp.demo_expect_error('move a row to another tenant',
	format($$UPDATE invoices SET tenant_id = %L$$, :'globex_id')) AS outcome;
UPDATE invoices SET amount = 0 WHERE customer = 'Hank Scorpio';
\echo '(the UPDATE above touched no row: globex rows are invisible to acme)'

\echo
\echo '== 6. The application cannot choose its tenant'
SELECT pg_temp.demo_expect_error('set_tenant by the application',
	$$SELECT heliosdb.set_tenant('globex')$$) AS outcome;
SELECT pg_temp.demo_expect_error('SET a heliosdb parameter',
	$$SET heliosdb.tenant = 'globex'$$) AS outcome;

\echo
\echo '== 7. Without a tenant, nothing is visible and nothing can be written'
SELECT heliosdb.reset_context() \g /dev/null
SELECT count(*) AS visible_rows FROM invoices;
SELECT pg_temp.demo_expect_error('insert without a tenant',
	$$INSERT INTO invoices (customer, amount) VALUES ('nobody', 1)$$) AS outcome;
RESET ROLE;

\echo
\echo '== 8. Dropping a tenant revokes the sessions acting for it'
SELECT heliosdb.set_tenant('globex') \g /dev/null
SELECT heliosdb.tenant_drop('globex') \g /dev/null
SELECT pg_temp.demo_expect_error('use a dropped tenant',
	$$SELECT heliosdb.current_tenant_id()$$) AS outcome;
SELECT heliosdb.reset_context() \g /dev/null

SELECT cross_tenant_denied FROM heliosdb.isolation_stats();
\echo
\echo 'Demo finished: isolation held and every forbidden step was refused.'
