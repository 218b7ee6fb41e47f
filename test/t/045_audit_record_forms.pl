# The two forms of a queued record.  The audited backend queues records in
# a binary form; versions before it queued JSON text, and such records may
# still wait in WAL when the server restarts on a newer version: the writer
# must store both.  A binary record must also give the very row its JSON
# form (the file sink's line) gives, so that digests do not depend on the
# form a record travelled in.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('audit_forms');
$node->init;
my $file = $node->basedir . '/audit.json';
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
wal_level = replica
heliosdb.audit_events = 'all'
heliosdb.audit_destination = 'database, file'
heliosdb.audit_file = '$file'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE items (id int, note text);
	CREATE TABLE guarded (id int, owner text);
	ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own ON guarded USING (owner = current_user);
	CREATE POLICY everyone ON guarded FOR SELECT USING (true);
	CREATE ROLE reader LOGIN;
	GRANT SELECT, INSERT ON guarded TO reader;
});
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'writer is running');

# Records of every shape: parameters, failures, denials, RLS policies,
# odd text.
$node->safe_psql('postgres', q{
	SET heliosdb.audit_redact = off;
	PREPARE ins(int, text) AS INSERT INTO items VALUES ($1, $2);
	EXECUTE ins(1, E'tab\there "quoted" \\\\ back é');
	EXECUTE ins(2, NULL);
	RESET heliosdb.audit_redact;
	PREPARE sel(int) AS SELECT * FROM items WHERE id = $1;
	EXECUTE sel(1);
	INSERT INTO items SELECT g, 'n' || g FROM generate_series(10, 19) g;
});
$node->psql('postgres', 'SELECT 1/0');
$node->psql('postgres', 'INSERT INTO guarded VALUES (1, current_user)',
	extra_params => [ '-U', 'reader' ]);
$node->psql('postgres', 'SELECT * FROM guarded',
	extra_params => [ '-U', 'reader' ]);
$node->psql('postgres', 'DELETE FROM guarded', extra_params => [ '-U', 'reader' ]);
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'records stored');

# Every stored row equals the row its JSON line (the file sink's) gives.
my @lines = grep { /\S/ } split(/\n/, slurp_file($file));
cmp_ok(scalar(@lines), '>=', 10, 'file holds the records');
my $cols = q{"timestamp", event_type, user_id, tenant_id, role, ip_address,
	action, resource, query, params, result, error_code, error_message,
	rows_affected, duration_ms, rls_policies_applied, request_id, session_id,
	database};
$node->safe_psql('postgres', 'CREATE TABLE lines (n serial, line text)');
my $copy = join("\n", map { s/\\/\\\\/gr } @lines) . "\n";
$node->safe_psql('postgres', "COPY lines (line) FROM STDIN;\n$copy\\.\n");
is($node->safe_psql('postgres', qq{
	WITH parsed AS (
		SELECT r.* FROM lines, heliosdb._audit_rows(ARRAY[line], 0, NULL) r),
	stored AS (
		SELECT * FROM heliosdb.audit_log
		WHERE request_id IN (SELECT request_id FROM parsed))
	SELECT count(*) FROM (
		(SELECT $cols FROM parsed EXCEPT ALL SELECT $cols FROM stored)
		UNION ALL
		(SELECT $cols FROM stored EXCEPT ALL SELECT $cols FROM parsed)) d}),
	'0', 'binary records and their JSON lines give the same rows');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE params IS NOT NULL) > 0,
		   count(*) FILTER (WHERE rls_policies_applied IS NOT NULL) > 0,
		   count(*) FILTER (WHERE error_message IS NOT NULL) > 0,
		   count(*) FILTER (WHERE query LIKE '%"quoted" %back é%') > 0
	FROM heliosdb.audit_log}),
	't|t|t|t', 'the records cover parameters, policies, errors and odd text');

# A JSON record left in WAL by an older version, among binary ones, before
# an immediate stop: the writer stores it at its next start.
my $blocker = $node->background_psql('postgres');
$blocker->query_safe('BEGIN; LOCK heliosdb.audit_state IN ACCESS EXCLUSIVE MODE');
my $json = q({"timestamp":"2026-01-31T23:59:58.123456Z","event_type":"data_modification",)
  . q("user_id":"old\"one","tenant_id":null,"role":"r","ip_address":"10.1.2.3",)
  . q("action":"INSERT","resource":"public.items","query":"INSERT INTO items VALUES ($1)",)
  . q("params":["[REDACTED]"],"result":"success","error_code":null,)
  . q("error_message":null,"rows_affected":1,"duration_ms":1.250,)
  . q("rls_policies_applied":null,"request_id":"old.1",)
  . q("session_id":"old","database":"postgres"});
$node->safe_psql('postgres', qq{
	INSERT INTO items VALUES (100, 'before old');
	SELECT pg_logical_emit_message(false, 'heliosdb.audit', '$json');
	INSERT INTO items VALUES (101, 'after old');
});
$node->stop('immediate');
eval { $blocker->quit };
$node->start;
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'), 't',
	'writer caught up after the restart');
is($node->safe_psql('postgres', q{
	SELECT user_id, ip_address, params, duration_ms, request_id
	FROM heliosdb.audit_log WHERE session_id = 'old'}),
	'old"one|10.1.2.3|["[REDACTED]"]|1.250|old.1',
	'the JSON record is stored, once');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM heliosdb.audit_log
	WHERE query = 'INSERT INTO items VALUES ($1, $2)'
	  AND "timestamp" > now() - interval '1 hour'}),
	'2', 'the binary records around it are stored, once each');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact');

# With a trigger on audit_log the writer stores through an INSERT
# statement, which fires it; the chain goes on across both ways.
$node->safe_psql('postgres', q{
	CREATE TABLE fired (seq bigint);
	CREATE FUNCTION note_seq() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN INSERT INTO fired VALUES (NEW.seq); RETURN NULL; END$$;
	CREATE TRIGGER note_seq AFTER INSERT ON heliosdb.audit_log
	  FOR EACH ROW EXECUTE FUNCTION note_seq();
});
$node->safe_psql('postgres',
	"INSERT INTO items VALUES (200, 'with trigger'); INSERT INTO items VALUES (201, 'with trigger');");
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'records stored with a trigger');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM heliosdb.audit_log a JOIN fired f USING (seq)
	WHERE a.query = 'INSERT INTO items VALUES ($1, $2)'
	  AND "timestamp" > now() - interval '1 hour'}),
	'2', 'the trigger fired for their rows');
$node->safe_psql('postgres', 'DROP TRIGGER note_seq ON heliosdb.audit_log');
$node->safe_psql('postgres', "INSERT INTO items VALUES (202, 'after trigger')");
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'records stored after the trigger went');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact across both ways of storing');

$node->stop;
done_testing();
