# Many audited clients at once: 8 pgbench clients x 1,000 statements give
# exactly 8,000 data records; bind parameters are redacted; a full queue
# makes backends wait (never drop) until the writer makes room.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('audit_concurrency');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
wal_level = replica
heliosdb.audit_queue_size = 64kB
max_connections = 30
log_statement = none
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE bench (client int, n int, note text);
});

# 1. 8 clients x 1,000 inserts, simple protocol (literals in the text).
my $script = $node->basedir . '/insert.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"\\set n random(1, 1000000)\nINSERT INTO bench VALUES (:client_id, :n, 'simple');\n");
$node->command_ok(
	[ 'pgbench', '-n', '-c', '8', '-j', '2', '-t', '1000', '-f', $script, 'postgres' ],
	'8 clients x 1,000 statements');
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(120000)'), 't',
	'writer caught up');
is($node->safe_psql('postgres',
		q{SELECT count(*), count(DISTINCT request_id), count(DISTINCT session_id)
		  FROM heliosdb.audit_log
		  WHERE event_type = 'data_modification' AND action = 'INSERT'
			AND resource = 'public.bench' AND result = 'success'}),
	'8000|8000|8', 'exactly 8,000 data records, one per statement, from 8 sessions');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE resource = 'public.bench' AND action = 'INSERT'
			AND query <> 'INSERT INTO bench VALUES ($1, $2, $3)'}),
	'0', 'literals of every statement redacted');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bench'), '8000',
	'8,000 rows inserted');

# 2. Extended protocol: bind parameters are shown as [REDACTED]; the
# statement's own placeholder keeps its number, literals follow it.
my $ext = $node->basedir . '/extended.sql';
PostgreSQL::Test::Utils::append_to_file($ext,
	"INSERT INTO bench VALUES (:client_id, 42, 'hdb_sk_bound_secret_value');\n");
$node->command_ok(
	[ 'pgbench', '-n', '-M', 'extended', '-c', '1', '-t', '3', '-f', $ext, 'postgres' ],
	'statements with bind parameters');
$node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE query = 'INSERT INTO bench VALUES ($1, $2, $3)'
			AND params = '["[REDACTED]"]'::jsonb}),
	'3', 'bind parameters recorded as [REDACTED], placeholders kept');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log a
		  WHERE a::text LIKE '%bound\_secret%' OR a::text LIKE '%1000000%'}),
	'0', 'no bound value stored');

# 3. A full queue: the writer is held back, the client waits, nothing is
# dropped, and everything arrives once the writer may go on.  Every new
# session queues its login record before its first statement and would
# wait too, so the checks use a session opened before the queue fills.
my $monitor = $node->background_psql('postgres');
$monitor->query_safe('SELECT 1');

sub monitor_until
{
	my ($query) = @_;
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		return 1 if $monitor->query_safe($query) eq 't';
		usleep(100_000);
	}
	return 0;
}

my $blocker = $node->background_psql('postgres');
$blocker->query_safe('BEGIN; LOCK heliosdb.audit_state IN ACCESS EXCLUSIVE MODE');
my $many = $node->basedir . '/many.sql';
PostgreSQL::Test::Utils::append_to_file($many,
	join('', map { "INSERT INTO bench VALUES (-1, $_, 'queue full " . ('x' x 200) . "');\n" } 1 .. 600));
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $many, '-d', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok(monitor_until(q{SELECT waits > 0 FROM heliosdb.audit_stats()}),
	'a backend waits for room in the full queue');
ok(monitor_until(
		q{SELECT count(*) > 0 FROM pg_stat_activity
		  WHERE wait_event_type = 'Extension' AND query LIKE 'INSERT INTO bench%'}),
	'the waiting backend shows an Extension wait event');
cmp_ok($monitor->query_safe("SELECT count(*) FROM bench WHERE client = -1"),
	'<', 600, 'the client is held back while the queue is full');
$blocker->query_safe('COMMIT');
$h->finish;
is($?, 0, 'the waiting client finished once the writer went on');
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(120000)'), 't',
	'writer caught up after the queue was full');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE action = 'INSERT' AND resource = 'public.bench'
			AND result = 'success'}),
	8000 + 3 + 600, 'every insert so far has its record, the 600 waiting ones too');
is($node->safe_psql('postgres', 'SELECT dropped FROM heliosdb.audit_stats()'),
	'0', 'nothing dropped');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact');
$blocker->quit;
$monitor->quit;

$node->stop;
done_testing();
