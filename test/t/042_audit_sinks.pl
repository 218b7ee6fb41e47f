# The file sink (JSON lines, reopened on SIGHUP for rotation) and the log
# sink (one JSON record per server-log line), and that no secret reaches
# any sink: not the table, not the file, not the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('audit_sinks');
$node->init;
my $file = $node->basedir . '/audit.json';
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
wal_level = replica
heliosdb.audit_destination = 'database, file, log'
heliosdb.audit_file = '$file'
log_statement = none
log_min_error_statement = panic
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE notes (id int, body text);
	CREATE ROLE sink_role PASSWORD 'pw-never-logged-1';
	ALTER ROLE sink_role PASSWORD 'pw-never-logged-2';
	INSERT INTO notes VALUES (1, 'hdb_sk_live_never_logged_key');
	INSERT INTO notes VALUES (2, 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bmV2ZXJsb2dnZWQ');
	SET heliosdb.audit_redact = off;
	INSERT INTO notes VALUES (3, 'hdb_sk_live_never_logged_key_2');
	ALTER ROLE sink_role PASSWORD 'pw-never-logged-3';
	INSERT INTO notes VALUES (4, 'plain visible text');
});
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'writer caught up');

# The number of records of database $db matching $where, once its writer
# has stored everything queued ($what says after what).
sub stored_records
{
	my ($db, $where, $what) = @_;
	is($node->safe_psql($db, 'SELECT heliosdb.audit_flush()'), 't',
		"writer caught up $what");
	return $node->safe_psql($db,
		"SELECT count(*) FROM heliosdb.audit_log WHERE $where");
}

# Wait until no audit writer runs.
sub writer_gone
{
	my ($name) = @_;
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) = 0 FROM pg_stat_activity
			  WHERE backend_type = 'heliosdb audit writer'}),
		$name);
}

sub json_lines
{
	my ($path) = @_;
	my @records;
	open(my $fh, '<', $path) or return ();
	while (my $line = <$fh>)
	{
		chomp $line;
		push @records, decode_json($line);
	}
	close $fh;
	return @records;
}

# File sink: one JSON object per line, the same records as the table.
# Each new session queues its login record before its first statement,
# so the comparisons leave authentication records out.
sub statements { return grep { $_->{event_type} ne 'authentication' } @_; }
my @records = statements(json_lines($file));
my $in_table = $node->safe_psql('postgres',
	q{SELECT count(*) FROM heliosdb.audit_log WHERE event_type <> 'authentication'});
is(scalar(@records), $in_table, 'file holds as many records as the table');
my @inserts = grep { ($_->{action} // '') eq 'INSERT' } @records;
is(scalar(@inserts), 4, 'four INSERT records in the file');
is($inserts[0]->{query}, 'INSERT INTO notes VALUES ($1, $2)',
	'file record has the redacted query');
is($inserts[3]->{query}, q{INSERT INTO notes VALUES (4, 'plain visible text')},
	'with redaction off, plain literals show in the file');
ok(defined $inserts[0]->{timestamp} && defined $inserts[0]->{session_id}
	  && $inserts[0]->{event_type} eq 'data_modification'
	  && $inserts[0]->{result} eq 'success' && $inserts[0]->{rows_affected} == 1,
	'file record has the seed fields');

# Log sink: the same records as JSON in the server log.
my $log = slurp_file($node->logfile);
my @log_records = statements(map { decode_json($_) }
	  ($log =~ /LOG:  (\{"timestamp".*\})$/mg));
is(scalar(@log_records), $in_table, 'server log holds one line per record');

# No secret anywhere.
my $table = $node->safe_psql('postgres', 'SELECT string_agg(a::text, E\'\n\') FROM heliosdb.audit_log a');
my $text = slurp_file($file);
for my $secret ('pw-never-logged', 'hdb_sk_live_never', 'eyJhbGciOiJIUzI1NiJ9')
{
	unlike($table, qr/\Q$secret\E/, "table has no $secret");
	unlike($text, qr/\Q$secret\E/, "file has no $secret");
	unlike($log, qr/\Q$secret\E/, "server log has no $secret");
}

# Rotation: move the file away, reload; the writer reopens the file name.
rename($file, "$file.1") or die "rename: $!";
$node->reload;
ok($node->poll_query_until('postgres',
		qq{SELECT (pg_stat_file('$file', true)).size IS NOT NULL}),
	'writer reopened the file after SIGHUP');
$node->safe_psql('postgres', "INSERT INTO notes VALUES (5, 'after rotation')");
$node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()');
my @new = statements(json_lines($file));
my @old = statements(json_lines("$file.1"));
ok((grep { ($_->{query} // '') =~ /^INSERT INTO notes/ } @new) == 1,
	'new records go to the new file');
is(scalar(@old), scalar(@records), 'the rotated file got nothing more');

# An unwritable file: records still reach the table, a warning says why.
$node->safe_psql('postgres', q{ALTER SYSTEM SET heliosdb.audit_file = '/nonexistent/dir/audit.json'});
$node->reload;
$node->safe_psql('postgres', "INSERT INTO notes VALUES (6, 'no file')");
is(stored_records('postgres', q{query LIKE 'INSERT INTO notes VALUES ($1, $2)'},
		'without its file'),
	'4', 'records stored in the table');
like(slurp_file($node->logfile), qr/could not open audit file/,
	'the writer reports the file it cannot open');

# Retention: the writer deletes records older than
# heliosdb.audit_retention_days when it starts and every hour after.
$node->safe_psql('postgres', q{ALTER SYSTEM RESET heliosdb.audit_file});
$node->safe_psql('postgres', q{
	UPDATE heliosdb.audit_log SET "timestamp" = now() - interval '400 days'
	WHERE seq <= 2});
$node->restart;
ok($node->poll_query_until('postgres',
		q{SELECT min(seq) = 3 FROM heliosdb.audit_log}),
	'the writer expired the records older than the retention period');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'what remains verifies');

# DROP EXTENSION stops the writer and drops its slot; CREATE EXTENSION
# audits the database again, with a new chain.
$node->safe_psql('postgres', 'DROP EXTENSION heliosdb');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_replication_slots
		  WHERE slot_name LIKE 'heliosdb\_audit\_%'}),
	'writer dropped its slot after DROP EXTENSION');
writer_gone('writer stopped after DROP EXTENSION');
$node->safe_psql('postgres', 'CREATE EXTENSION heliosdb');
$node->safe_psql('postgres', "INSERT INTO notes VALUES (7, 'audited again')");
is(stored_records('postgres', q{action = 'INSERT' AND resource = 'public.notes'},
		'after CREATE EXTENSION'),
	'1', 'statements are audited again');

# A writer started by a CREATE EXTENSION that has not committed yet (its
# own record starts one) finds no extension in its snapshot.  It must wait
# for the creation to end rather than take the database for one whose
# extension was dropped: that would drop the queued records and leave
# every later session looking the extension up at each statement.
$node->safe_psql('postgres', 'DROP EXTENSION heliosdb');
writer_gone('writer stopped after the second DROP EXTENSION');
my $log_offset = -s $node->logfile;
# (A backend launches a writer at most once a second.)
my $creator = $node->background_psql('postgres');
$creator->query_safe(q{
	SELECT pg_sleep(1.1);
	SET heliosdb.audit_events = 'all';
	BEGIN;
	CREATE EXTENSION heliosdb;
	SELECT 'queued before the commit';
});
ok($node->poll_query_until('postgres',
		q{SELECT wait_event_type = 'Lock' FROM pg_stat_activity
		  WHERE backend_type = 'heliosdb audit writer'}),
	'the writer waits for the creation to end');
$creator->query_safe('COMMIT');
$creator->quit;
$node->safe_psql('postgres', "INSERT INTO notes VALUES (8, 'after a slow create')");
is(stored_records('postgres', q{query LIKE 'SELECT $1%'},
		'after a slow CREATE EXTENSION'),
	'1', 'the record of a statement after CREATE EXTENSION is stored');
unlike(slurp_file($node->logfile, $log_offset),
	qr/audit writer stops/, 'the writer did not stop during the creation');

# A session that found no extension in its database (and no longer looks
# for it at each transaction) records statements once another session has
# created it.
$node->safe_psql('postgres', 'CREATE DATABASE lateext');
my $early = $node->background_psql('lateext');
$early->query_safe(q{CREATE TABLE early (id int); INSERT INTO early VALUES (1)});
$node->safe_psql('lateext', 'CREATE EXTENSION heliosdb');
$early->query_safe(q{INSERT INTO early VALUES (2)});
$early->quit;
is(stored_records('lateext', q{action = 'INSERT' AND resource = 'public.early'},
		'in the second database'),
	'1', 'a session older than CREATE EXTENSION is audited after it');

$node->stop;
done_testing();
