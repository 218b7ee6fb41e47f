# The lockout table of shared memory is bounded by
# heliosdb.apikey_lockout_entries: when it is full, the failure count with
# the oldest failure that holds no lock gives way; locks are never evicted,
# and a failure that finds every slot locked is logged and not counted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('apikey_full');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
heliosdb.apikey_lockout_entries = 16
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE keys AS
		SELECT i, k.* FROM generate_series(1, 18) i,
			LATERAL heliosdb.apikey_create('key ' || i) k;
	CREATE FUNCTION wrong(n int) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM heliosdb.login_apikey(
			(SELECT 'hdb_sk_' || key_id || repeat('q', 32) FROM keys WHERE i = n));
		RETURN 'accepted';
	EXCEPTION WHEN OTHERS THEN
		RETURN SQLSTATE;
	END $$;
});

sub count_of
{
	my ($n) = @_;
	return $node->safe_psql('postgres',
		"SELECT failed_attempts FROM heliosdb.apikeys WHERE key_id = (SELECT key_id FROM keys WHERE i = $n)");
}

# Sixteen keys with one failure each fill the table.
$node->safe_psql('postgres', "SELECT wrong($_)") for 1 .. 16;
is($node->safe_psql('postgres', 'SELECT count(*) FROM heliosdb._apikey_lockout()'),
	'16', 'sixteen entries');
# The seventeenth key takes the slot of the oldest failure (key 1).
is($node->safe_psql('postgres', 'SELECT wrong(17)'), '28P01', 'wrong secret of key 17');
is(count_of(17), '1', 'key 17 counted');
is(count_of(1), '0', 'oldest count (key 1) gave way');
is(count_of(2), '1', 'younger counts kept');

# With every slot locked, nothing gives way.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET heliosdb.apikey_max_failed_attempts = 1;
	SELECT pg_reload_conf();
});
$node->poll_query_until('postgres',
	"SELECT current_setting('heliosdb.apikey_max_failed_attempts') = '1'")
  or die 'setting not reloaded';
$node->safe_psql('postgres', "SELECT wrong($_)") for 2 .. 17;
is($node->safe_psql('postgres', "SELECT count(*) FROM heliosdb.apikeys WHERE status = 'locked'"),
	'16', 'sixteen keys locked');
my $offset = -s $node->logfile;
is($node->safe_psql('postgres', 'SELECT wrong(18)'), '28P01',
	'wrong secret of key 18 is still refused');
is(count_of(18), '0', 'but not counted');
ok($node->wait_for_log(qr/failed login attempt with API key "\w+" not counted/, $offset),
	'the uncounted failure is logged');
is($node->safe_psql('postgres', "SELECT count(*) FROM heliosdb.apikeys WHERE status = 'locked'"),
	'16', 'no lock was evicted');

$node->stop;
done_testing();
