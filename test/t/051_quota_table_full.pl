# The shared table of rate-limit buckets has a fixed size
# (heliosdb.rate_limit_max_entries).  Idle entries are reused; when every
# entry is in use the check fails closed: new tenants' statements and new
# client addresses' connections are refused with a clear error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('quota_full');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
listen_addresses = '127.0.0.1'
heliosdb.rate_limit_max_entries = 16
heliosdb.rate_limit_burst = 2
heliosdb.rate_limit_global = 0
heliosdb.default_qps_limit = 1000000
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE ROLE app LOGIN;
	SELECT heliosdb.tenant_create('t' || i) FROM generate_series(1, 20) i;
});

# One statement as "app" acting for tenant tN; returns (ret, stdout, stderr).
sub as_tenant
{
	my ($n) = @_;
	return $node->psql('postgres',
		"SELECT heliosdb.set_tenant('t$n'); SET ROLE app; SELECT 'ran t$n';");
}

# With a huge rate every bucket is full again at once, so 20 tenants fit
# in 16 entries.
my $all = 1;
for my $n (1 .. 20)
{
	my ($ret) = as_tenant($n);
	$all &&= ($ret == 0);
}
ok($all, '20 tenants run in a table of 16 entries: idle entries are reused');
cmp_ok($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.rate_limit_status WHERE kind = 'tenant'}),
	'<=', 16, 'never more than 16 entries');

# With a tiny rate, buckets stay in use: 16 tenants fill the table.
$node->append_conf('postgresql.conf', 'heliosdb.default_qps_limit = 0.001');
$node->reload;
$node->poll_query_until('postgres',
	q{SELECT current_setting('heliosdb.default_qps_limit') = '0.001'})
  or die 'configuration not reloaded';
$node->safe_psql('postgres', 'SELECT heliosdb.rate_limit_reset()');
$all = 1;
for my $n (1 .. 16)
{
	my ($ret) = as_tenant($n);
	$all &&= ($ret == 0);
}
ok($all, '16 tenants fill the table');

my ($ret, $out, $err) = as_tenant(17);
isnt($ret, 0, 'a 17th tenant is refused (fail closed)');
like($err, qr/ERROR:  heliosdb rate-limit table is full/, 'error says the table is full');
like($err, qr/HINT:  Increase heliosdb.rate_limit_max_entries/, 'hint names the setting');

($ret, $out, $err) = as_tenant(3);
is($ret, 0, 'tenants already in the table keep running');

$node->connect_fails('host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=app',
	'a new client address is refused at connection time',
	expected_stderr => qr/rate-limit table is full/);

$node->safe_psql('postgres', 'SELECT heliosdb.rate_limit_reset()');
($ret, $out, $err) = as_tenant(17);
is($ret, 0, 'after a reset the 17th tenant runs');
like($out, qr/ran t17/, 'and gets its result');

$node->stop;
done_testing();
