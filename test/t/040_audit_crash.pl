# Durability of audit records: records of committed statements that the
# writer had not stored yet survive an immediate shutdown and a backend
# crash; the writer recovers them at its next start, from WAL, or for
# read-only transactions, whose WAL nothing flushes, from the queue file
# the crashed server left.  The writer is held back by a session that
# locks heliosdb.audit_state, so the records are certainly not stored when
# the server goes down.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $n = 50;

my $node = PostgreSQL::Test::Cluster->new('audit_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
wal_level = replica
restart_after_crash = on
# Nothing but commits writes WAL out in this test: the WAL writer sleeps
# long, and no autovacuum or quota refresh commits.
wal_writer_delay = 10s
wal_buffers = 4MB
autovacuum = off
heliosdb.quota_refresh_interval = 3600000
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE items (id int, note text);
});
ok($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()') eq 't',
	'writer is running');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_replication_slots
		  WHERE slot_name LIKE 'heliosdb\_audit\_%' AND restart_lsn IS NOT NULL}),
	'1', 'writer holds WAL with a replication slot');

# Commit $n statements, each in its own transaction, while the writer
# cannot store them.
sub commit_unstored
{
	my ($first, $label) = @_;
	my $blocker = $node->background_psql('postgres');
	$blocker->query_safe(
		'BEGIN; LOCK heliosdb.audit_state IN ACCESS EXCLUSIVE MODE');
	my $sql = join("\n",
		map { "INSERT INTO items VALUES ($_, 'committed $label');" }
		  ($first .. $first + $n - 1));
	$node->safe_psql('postgres', $sql);
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM items WHERE note = 'committed $label'"),
		$n, "$n statements committed before the $label");
	is($node->safe_psql('postgres',
			q{SELECT count(*) FROM heliosdb.audit_log
			  WHERE query = 'INSERT INTO items VALUES ($1, $2)'
				AND "timestamp" > now() - interval '1 hour'}),
		$first - 1, "their records are not stored before the $label");
	my ($queued) = $node->safe_psql('postgres',
		'SELECT queued FROM heliosdb.audit_stats()');
	cmp_ok($queued, '>=', $n, "records are queued before the $label");

	# Last, $n read-only transactions: their records' WAL messages are
	# neither flushed nor written when the server goes down.
	$node->safe_psql('postgres', join("\n",
		"SET heliosdb.audit_events = 'data_access';",
		map { "SELECT count(*) FROM items WHERE id = $_;" }
		  ($first .. $first + $n - 1)));
	return $blocker;
}

sub check_all_recovered
{
	my ($total, $label) = @_;
	is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'),
		't', "writer caught up after the $label");
	is($node->safe_psql('postgres',
			q{SELECT count(*), count(DISTINCT request_id)
			  FROM heliosdb.audit_log
			  WHERE query = 'INSERT INTO items VALUES ($1, $2)'
				AND result = 'success' AND rows_affected = 1}),
		"$total|$total", "all $total records present once after the $label");
	is($node->safe_psql('postgres',
			q{SELECT count(*), count(DISTINCT request_id)
			  FROM heliosdb.audit_log
			  WHERE query = 'SELECT count(*) FROM items WHERE id = $1'
				AND event_type = 'data_access' AND result = 'success'}),
		"$total|$total",
		"all $total records of read-only transactions present once after the $label");
	my @from_queue = slurp_file($node->logfile) =~
	  /DETAIL:  (\d+) of them from the queue of an earlier run/g;
	cmp_ok($from_queue[-1] // 0, '>=', $n,
		"records that WAL lost were taken from the queue file after the $label");
	my @files = glob($node->data_dir . '/heliosdb_audit/queues.*');
	is(scalar(@files), 1, "only the running server's queue file is left after the $label");
	is($node->safe_psql('postgres',
			'SELECT ok FROM heliosdb.audit_verify()'),
		't', "chain intact after the $label");
	cmp_ok($node->safe_psql('postgres',
			'SELECT recovered FROM heliosdb.audit_stats()'),
		'>=', $n, "records recovered from WAL after the $label")
	  or diag(join("\n", grep { /heliosdb audit/ }
			split(/\n/, slurp_file($node->logfile))));
	is($node->safe_psql('postgres',
			'SELECT dropped FROM heliosdb.audit_stats()'),
		'0', "nothing dropped after the $label");
}

# 1. pg_ctl stop -m immediate.
my $blocker = commit_unstored(1, 'immediate stop');
$node->stop('immediate');
eval { $blocker->quit };
$node->start;
check_all_recovered($n, 'immediate stop');

# 2. A backend crash (SIGKILL) makes the postmaster reinitialize.
$blocker = commit_unstored($n + 1, 'backend crash');
my $victim = $node->background_psql('postgres');
my $pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
# The blocker's session ends with the crash, not before: once it let go
# of its lock, the writer could store records before the server restarts.
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'server did not come back after the crash';
eval { $blocker->quit };
eval { $victim->quit };
check_all_recovered(2 * $n, 'backend crash');

# The number of stored records of statement $query, as recorded.
my $insert_query = 'INSERT INTO items VALUES ($1, $2)';
my $select_query = 'SELECT count(*) FROM items WHERE id = $1';
sub stored
{
	my ($query) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM heliosdb.audit_log WHERE query = '$query'");
}

# 3. A clean restart loses nothing either, and recovers nothing twice.
$node->safe_psql('postgres', "INSERT INTO items VALUES (0, 'before restart')");
$node->restart;
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'),
	't', 'writer caught up after a clean restart');
is(stored($insert_query), 2 * $n + 1,
	'records after a clean restart: each exactly once');
is(stored($select_query), 2 * $n,
	'records of read-only transactions after a clean restart: each exactly once');
my @files = glob($node->data_dir . '/heliosdb_audit/queues.*');
is(scalar(@files), 1, 'the queue file of the stopped server is removed');

# 4. A damaged queue file, as an operating system crash could leave it:
# the writer warns, stores the records up to the damage and everything
# WAL holds, and goes on.  A file that is no queue file is left alone.
$blocker = commit_unstored(2 * $n + 2, 'damaged queue file');
$node->stop('immediate');
eval { $blocker->quit };
my ($queue_file) = glob($node->data_dir . '/heliosdb_audit/queues.*');
my $image = slurp_file($queue_file);
my $needle = 'SELECT count(*) FROM items WHERE id = $1';
my $at = -1;
$at = index($image, $needle, $at + 1) for 1 .. 10;
cmp_ok($at, '>', 0, 'the tenth read-only record is in the queue file');
open(my $fh, '+<', $queue_file) or die "could not open $queue_file: $!";
binmode $fh;
seek($fh, $at, 0);
print $fh 'X';
close($fh);
my $stray = $node->data_dir . '/heliosdb_audit/queues.stray';
open($fh, '>', $stray) or die "could not create $stray: $!";
print $fh 'not a queue';
close($fh);
$node->start;
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'),
	't', 'writer caught up after the damaged queue file');
my $log = slurp_file($node->logfile);
like($log, qr/audit queue file "heliosdb_audit\/queues\.[0-9A-F]+" is damaged/,
	'the damage is reported');
like($log, qr/ignoring audit queue file "heliosdb_audit\/queues\.stray"/,
	'the stray file is reported');
is(stored($insert_query), 3 * $n + 1,
	'records of writing transactions all come from WAL');
is(stored($select_query), 2 * $n + 9,
	'read-only records up to the damage are stored');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact after the damaged queue file');
ok(-e $stray, 'the stray file is left alone');
@files = grep { $_ ne $stray } glob($node->data_dir . '/heliosdb_audit/queues.*');
is(scalar(@files), 1, 'the damaged queue file is removed once read');

# 5. The writer fails while it stores records taken from a crashed
# server's queue file, after it stored a first batch of them: its next
# attempt stores the others, and none twice.  A trigger makes the 600th
# of 700 such records fail once (the writer stores 500 per batch).
my $many = 700;
$node->safe_psql('postgres', q{
	CREATE SEQUENCE audit_rows_seen;
	CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.query = 'SELECT count(*) FROM items WHERE id = $1' AND
		   nextval('audit_rows_seen') = 600 THEN
			RAISE EXCEPTION 'audit writer made to fail once';
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER fail_once BEFORE INSERT ON heliosdb.audit_log
		FOR EACH ROW EXECUTE FUNCTION fail_once();
});
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'),
	't', 'writer caught up before the crash');
$blocker = $node->background_psql('postgres');
$blocker->query_safe(
	'BEGIN; LOCK heliosdb.audit_state IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', join("\n",
	"SET heliosdb.audit_events = 'data_access';",
	map { "SELECT count(*) FROM items WHERE id = $_;" } (1 .. $many)));
$node->stop('immediate');
eval { $blocker->quit };
$node->start;
$node->poll_query_until('postgres',
	"SELECT count(*) FROM heliosdb.audit_log WHERE query = '$select_query'",
	2 * $n + 9 + $many)
  or diag('read-only records stored: ' . stored($select_query));
like(slurp_file($node->logfile), qr/audit writer made to fail once/,
	'the writer failed once while storing them');
is(stored($select_query), 2 * $n + 9 + $many,
	'records taken from the queue file are stored once across the failure');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact after the failure');
$node->safe_psql('postgres', 'DROP TRIGGER fail_once ON heliosdb.audit_log');

$node->stop;

# 6. A server that preloads heliosdb but audits nothing leaves no queue
# file behind across restarts, clean or not.
my $idle = PostgreSQL::Test::Cluster->new('audit_idle');
$idle->init;
$idle->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");
$idle->start;
$idle->restart;
$idle->stop('immediate');
$idle->start;
@files = glob($idle->data_dir . '/heliosdb_audit/queues.*');
is(scalar(@files), 1, 'restarts of a server that audits nothing leave one queue file');
$idle->stop;

done_testing();
