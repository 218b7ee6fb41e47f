# The tenant registry and isolation policies survive a restart (clean and
# immediate); session contexts do not, and cannot be brought back through
# startup options.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('tenant');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('acme');
	SELECT heliosdb.tenant_create('globex');
	CREATE ROLE app LOGIN;
	CREATE TABLE notes (id int, tenant_id uuid NOT NULL DEFAULT heliosdb.current_tenant_id(), body text);
	GRANT SELECT, INSERT ON notes TO app;
	SELECT heliosdb.set_tenant('acme');
	INSERT INTO notes (id, body) VALUES (1, 'acme note');
	SELECT heliosdb.set_tenant('globex');
	INSERT INTO notes (id, body) VALUES (2, 'globex note');
});

sub check_survivors
{
	my ($when) = @_;
	is($node->safe_psql('postgres', 'SELECT string_agg(name, \',\' ORDER BY name) FROM heliosdb.tenants'),
		'acme,globex', "registry intact $when");
	is($node->safe_psql('postgres',
			"SELECT polname FROM pg_policy WHERE polrelid = 'notes'::regclass"),
		'heliosdb_tenant_isolation', "policy intact $when");
	is($node->safe_psql('postgres',
			"SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'notes'"),
		't', "row level security still forced $when");
	is($node->safe_psql('postgres', 'SELECT heliosdb.current_tenant_id() IS NULL',
			extra_params => [ '-U', 'app' ]),
		't', "new session has no context $when");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM notes',
			extra_params => [ '-U', 'app' ]),
		'0', "no rows visible without a context $when");
	is($node->safe_psql('postgres',
			"SELECT heliosdb.set_tenant('acme'); SET ROLE app; SELECT body FROM notes"),
		"\nacme note", "a new context sees its rows $when");
}

# A session holding a context is cut off by the restart.
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_safe("SELECT heliosdb.set_tenant('acme')");
is($session->query_safe('SELECT heliosdb.current_tenant()'), 'acme',
	'session has a context before the restart');

$node->restart;
check_survivors('after a clean restart');
my $after = eval { $session->query('SELECT heliosdb.current_tenant()') };
ok(!defined $after || $after !~ /acme/,
	'old session did not carry its context over the restart');
eval { $session->quit; };

$node->stop('immediate');
$node->start;
check_survivors('after an immediate stop');

# Startup options cannot name a tenant.
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT heliosdb.current_tenant()',
	extra_params => [ '-U', 'app' ],
	connstr => $node->connstr('postgres') . " options='-c heliosdb.tenant=acme'");
isnt($ret, 0, 'connection with a heliosdb.tenant startup option is refused');
like($stderr, qr/invalid configuration parameter name "heliosdb\.tenant"/,
	'startup option refused by name');

$node->stop;
done_testing();
