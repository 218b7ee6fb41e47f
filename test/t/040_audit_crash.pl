# Durability of audit records: records of committed statements that the
# writer had not stored yet survive an immediate shutdown and a backend
# crash; the writer recovers them from WAL at its next start.  The writer
# is held back by a session that locks heliosdb.audit_state, so the
# records are certainly not stored when the server goes down.
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
eval { $blocker->quit };
eval { $victim->quit };
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'server did not come back after the crash';
check_all_recovered(2 * $n, 'backend crash');

# 3. A clean restart loses nothing either, and recovers nothing twice.
$node->safe_psql('postgres', "INSERT INTO items VALUES (0, 'before restart')");
$node->restart;
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'),
	't', 'writer caught up after a clean restart');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE query = 'INSERT INTO items VALUES ($1, $2)'}),
	2 * $n + 1, 'records after a clean restart: each exactly once');

$node->stop;
done_testing();
