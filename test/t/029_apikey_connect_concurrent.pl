# Concurrent key changes in one database: each committing transaction
# refreshes the database's keys in the connection-time copy, so the copy
# must end up with every committed key whatever the order of the commits
# and the isolation level (a refresh reading an old snapshot would drop
# the key of a transaction that committed in between).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('apikey_concurrent');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'heliosdb'
listen_addresses = '127.0.0.1'
heliosdb.token_login_roles = 'app'
});
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE ROLE app LOGIN IN ROLE heliosdb_readonly;
});

my $port = $node->port;
sub key_works
{
	my ($key, $name) = @_;
	$node->connect_ok(
		"host=127.0.0.1 port=$port dbname=postgres user=app "
		  . "options='-c heliosdb.api_key=$key'",
		$name, sql => 'SELECT current_user',
		expected_stdout => qr/^heliosdb_readonly$/);
}

my $create = q{SELECT api_key FROM heliosdb.apikey_create('%s');};

for my $order ('first begun commits first', 'last begun commits first')
{
	my $s1 = $node->background_psql('postgres');
	my $s2 = $node->background_psql('postgres');
	$s1->query_safe('BEGIN');
	my $k1 = $s1->query_safe(sprintf($create, "s1 $order"));
	$s2->query_safe('BEGIN');
	my $k2 = $s2->query_safe(sprintf($create, "s2 $order"));
	if ($order eq 'first begun commits first')
	{
		$s1->query_safe('COMMIT');
		$s2->query_safe('COMMIT');
	}
	else
	{
		$s2->query_safe('COMMIT');
		$s1->query_safe('COMMIT');
	}
	$s1->quit;
	$s2->quit;
	key_works($k1, "$order: key of the first transaction works");
	key_works($k2, "$order: key of the second transaction works");
}

# A REPEATABLE READ transaction whose snapshot predates another key.
my $s1 = $node->background_psql('postgres');
$s1->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$s1->query_safe('SELECT count(*) FROM heliosdb.apikeys');
my $k2 = $node->safe_psql('postgres', sprintf($create, 'committed meanwhile'));
my $k1 = $s1->query_safe(sprintf($create, 'repeatable read'));
$s1->query_safe('COMMIT');
$s1->quit;
key_works($k1, 'key of the REPEATABLE READ transaction works');
key_works($k2, 'key committed after its snapshot still works');

# A revocation and a creation committing in either order.
my $victim = $node->safe_psql('postgres', sprintf($create, 'victim'));
my $victim_id = substr($victim, 7, 12);
$s1 = $node->background_psql('postgres');
$s1->query_safe('BEGIN');
$s1->query_safe("SELECT heliosdb.apikey_revoke('$victim_id')");
my $k3 = $node->safe_psql('postgres', sprintf($create, 'during revoke'));
$s1->query_safe('COMMIT');
$s1->quit;
key_works($k3, 'key created during a revocation works');
$node->connect_fails(
	"host=127.0.0.1 port=$port dbname=postgres user=app "
	  . "options='-c heliosdb.api_key=$victim'",
	'revoked key refused',
	expected_stderr => qr/FATAL:  API key has been revoked/);

$node->stop;
done_testing();
