# The shared table of measured usage has a fixed size
# (heliosdb.quota_max_tenants).  When a refresh cannot store every tenant
# it warns, and the tenants left out are refused writes (fail closed)
# until the table is large enough again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('quota_usage_full');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
heliosdb.quota_database = ''
heliosdb.quota_max_tenants = 1
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('u1');
	SELECT heliosdb.tenant_create('u2');
	CREATE SCHEMA u1_data;
	CREATE SCHEMA u2_data;
	SELECT heliosdb.tenant_add_schema('u1', 'u1_data');
	SELECT heliosdb.tenant_add_schema('u2', 'u2_data');
	CREATE TABLE u1_data.t (id int);
	CREATE TABLE u2_data.t (id int);
});

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT heliosdb.quota_refresh()');
is($ret, 0, 'refresh runs');
like($err, qr/WARNING:  heliosdb storage usage table is full/, 'refresh warns that the table is full');
is($node->safe_psql('postgres', 'SELECT count(used_bytes) FROM heliosdb.tenant_usage'),
	'1', 'only one tenant measured');

my @errors;
for my $t ('u1', 'u2')
{
	my ($r, $o, $e) = $node->psql('postgres', "INSERT INTO ${t}_data.t VALUES (1)");
	push @errors, $e if $r != 0;
}
is(scalar(@errors), 1, 'the tenant left out is refused writes, the other is not');
like($errors[0] // '', qr/ERROR:  storage usage of tenant "u[12]" is unknown/,
	'refusal says the usage is unknown');

# Room for both: everything is measured and writes run again.
$node->append_conf('postgresql.conf', 'heliosdb.quota_max_tenants = 8');
$node->restart;
($ret, $out, $err) = $node->psql('postgres', 'SELECT heliosdb.quota_refresh()');
is($err, '', 'no warning with room for every tenant');
is($node->safe_psql('postgres', 'SELECT count(used_bytes) FROM heliosdb.tenant_usage'),
	'2', 'both tenants measured');
is($node->psql('postgres', 'INSERT INTO u1_data.t VALUES (2); INSERT INTO u2_data.t VALUES (2)'),
	0, 'both tenants write');

$node->stop;
done_testing();
