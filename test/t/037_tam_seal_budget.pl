# The count of rows a data key has sealed survives a crash: rows sealed
# before `pg_ctl stop -m immediate` still count against the key after the
# restart, so the table moves to a new key version in time, and the server
# log says so.  (A count kept only in memory would start again from zero
# and let the key seal the whole budget once more.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

my ($keyfile, $key) = master_key_file();
my $node = encrypted_node('seal_budget', $keyfile,
	"heliosdb.max_rows_per_data_key = 1000\n");
$node->safe_psql('postgres', 'CREATE EXTENSION heliosdb');

sub versions
{
	return $node->safe_psql('postgres', q{
		SELECT string_agg(key_version || ':' || row_count, ','
						  ORDER BY key_version)
		FROM heliosdb.encryption_status()
		WHERE table_name = 'budget'::regclass});
}

$node->safe_psql('postgres', q{
	CREATE TABLE budget (id int) USING heliosdb_encrypted;
	INSERT INTO budget SELECT generate_series(1, 900);
});
is(versions(), '1:900', 'the first 900 rows are sealed with version 1');

$node->stop('immediate');
$node->start;

# 300 more rows, from a new backend: 1,200 in all against a budget of 1,000
$node->safe_psql('postgres', 'INSERT INTO budget SELECT generate_series(901, 1200)');
my $v = versions();
like($v, qr/^1:\d+,2:\d+$/, "after the crash, the table moved to version 2 ($v)");
my ($first) = $v =~ /^1:(\d+)/;
ok($first <= 1002, "version 1 sealed no more than its budget ($first rows)");
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM budget'),
	'1200|720600', 'every row reads back');
ok($node->log_contains(
		qr/table "budget" moves from data key version 1 to version 2/),
	'the move is logged');
unlike(slurp_file($node->logfile), qr/$key/i, 'the master key is not in the log');

$node->stop;
done_testing();
