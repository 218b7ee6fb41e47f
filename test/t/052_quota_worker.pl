# The quota worker refreshes tenant storage usage of heliosdb.quota_database
# on its own, every heliosdb.quota_refresh_interval, so that quotas are
# enforced without anyone calling quota_refresh(); it comes back after a
# restart, and picks up a new interval on reload.  Its own queries are not
# audited.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('quota_worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
heliosdb.quota_database = 'postgres'
heliosdb.quota_refresh_interval = '200ms'
heliosdb.audit_events = 'all'
});
$node->start;

ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heliosdb quota worker'}),
	'quota worker runs');

$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('w1', 50000);
	CREATE SCHEMA w1_data;
	SELECT heliosdb.tenant_add_schema('w1', 'w1_data');
	CREATE TABLE w1_data.t (id int, body text);
	INSERT INTO w1_data.t SELECT g, repeat('x', 50) FROM generate_series(1, 100) g;
});

ok($node->poll_query_until('postgres',
		q{SELECT used_bytes = pg_total_relation_size('w1_data.t') FROM heliosdb.tenant_usage WHERE tenant = 'w1'}),
	'worker measured the new table without quota_refresh()');

# Grow past the quota: the worker notices and writes are refused.
$node->safe_psql('postgres',
	q{INSERT INTO w1_data.t SELECT g, repeat('x', 50) FROM generate_series(1, 2000) g});
ok($node->poll_query_until('postgres',
		q{SELECT used_bytes > quota_bytes FROM heliosdb.tenant_usage WHERE tenant = 'w1'}),
	'worker sees the tenant over quota');
my ($ret, $out, $err) = $node->psql('postgres', 'INSERT INTO w1_data.t VALUES (0, NULL)');
isnt($ret, 0, 'insert over quota refused');
like($err, qr/storage quota exceeded for tenant "w1": \d+ bytes used of 50000/,
	'error names tenant, usage and quota');
is($node->safe_psql('postgres', 'SELECT count(*) FROM w1_data.t'), '2100',
	'reads still work');

# Cleaning up brings the tenant back under quota at the next refresh.
$node->safe_psql('postgres', 'TRUNCATE w1_data.t');
ok($node->poll_query_until('postgres',
		q{SELECT used_bytes <= quota_bytes FROM heliosdb.tenant_usage WHERE tenant = 'w1'}),
	'worker sees the tenant back under quota');
($ret, $out, $err) = $node->psql('postgres', 'INSERT INTO w1_data.t VALUES (1, NULL)');
is($ret, 0, 'insert accepted again');

# Usage is in shared memory: after a restart the worker measures it again.
$node->restart;
ok($node->poll_query_until('postgres',
		q{SELECT refreshed_at IS NOT NULL FROM heliosdb.tenant_usage WHERE tenant = 'w1'}),
	'usage measured again after a restart');

# A new interval is picked up on reload.
$node->append_conf('postgresql.conf', "heliosdb.quota_refresh_interval = '1h'");
$node->reload;
ok($node->poll_query_until('postgres',
		q{SELECT current_setting('heliosdb.quota_refresh_interval') = '1h'}),
	'new interval loaded by the server');
my $before = $node->safe_psql('postgres',
	q{SELECT refreshed_at FROM heliosdb.tenant_usage WHERE tenant = 'w1'});
$node->safe_psql('postgres', 'SELECT heliosdb.quota_refresh()');
isnt($node->safe_psql('postgres',
		q{SELECT refreshed_at FROM heliosdb.tenant_usage WHERE tenant = 'w1'}),
	$before, 'quota_refresh() refreshes on demand');

# The worker's refreshes are housekeeping: with every event type audited,
# they leave no record, while a session's quota_refresh() does.
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'audit writer caught up');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE query LIKE '%_quota_usage()%'}),
	'0', 'no audit record of the worker\'s refreshes');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM heliosdb.audit_log
		  WHERE query = 'SELECT heliosdb.quota_refresh()'}),
	'1', 'a session\'s quota_refresh() is recorded');

# An empty heliosdb.quota_database runs no worker.
$node->append_conf('postgresql.conf', "heliosdb.quota_database = ''");
$node->restart;
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'heliosdb quota worker'}),
	'0', 'no worker without a quota database');

$node->stop;
done_testing();
