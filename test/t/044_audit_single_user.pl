# Single-user mode (postgres --single) runs no audit writer: audited
# statements must not wait for one, even when they produce more records
# than the queue holds, and their records reach the table when the server
# runs normally again (the writer finds them in WAL).
use strict;
use warnings;
use IPC::Run qw(run timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Far more than the smallest queue (64kB) holds.
my $n = 1000;

my $node = PostgreSQL::Test::Cluster->new('single_user');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
wal_level = replica
heliosdb.audit_queue_size = '64kB'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE items (id int, note text);
});
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'writer is running');
$node->stop;

my $input = join('',
	map { "INSERT INTO items VALUES ($_, 'single user')\n" } (1 .. $n));
my ($out, $err) = ('', '');
my $ok = eval {
	run([ 'postgres', '--single', '-D', $node->data_dir, 'postgres' ],
		\$input, \$out, \$err, timeout($PostgreSQL::Test::Utils::timeout_default));
};
ok($ok, 'single-user session ran to the end without waiting for a writer')
  or diag("stderr: $err");

$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), $n,
	'every single-user statement committed');
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush(60000)'), 't',
	'writer caught up after the restart');
is($node->safe_psql('postgres',
		q{SELECT count(*), count(DISTINCT request_id) FROM heliosdb.audit_log
		  WHERE query = 'INSERT INTO items VALUES ($1, $2)'}),
	"$n|$n", 'every record of the single-user session stored once');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'chain intact');

$node->stop;
done_testing();
