# Packaging and loading: the versions in heliosdb.control, META.json and the
# installed extension agree, and the library refuses to work unless it is
# preloaded, with an error rather than a crash.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $control = slurp_file('heliosdb.control');
my ($control_version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $control_version, 'control file names a default version');

my $meta = slurp_file('META.json');
my ($meta_version) = $meta =~ /^\s{3}"version"\s*:\s*"([^"]+)"/m;
my ($provides_version) =
  $meta =~ /"provides".*?"heliosdb".*?"version"\s*:\s*"([^"]+)"/s;
is($meta_version, $control_version, 'META.json version matches the control file');
is($provides_version, $control_version, 'META.json provides the same version');
ok(-f "sql/heliosdb--$control_version.sql", 'install script of that version exists');

# A server that preloads heliosdb.
my $node = PostgreSQL::Test::Cluster->new('preloaded');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION heliosdb');
is($node->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'heliosdb'"),
	$control_version, 'installed extension has the control file version');
is($node->safe_psql('postgres', 'SHOW heliosdb.auto_tenant_isolation'),
	'on', 'GUC defined with its default');

# Unknown parameters under the reserved prefix are refused, also at startup.
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'SET heliosdb.tenant_id = 1');
isnt($ret, 0, 'SET of an unknown heliosdb parameter fails');
like($stderr, qr/invalid configuration parameter name "heliosdb\.tenant_id"/,
	'reserved prefix reported');
$node->stop;

# A server that does not preload it.
my $plain = PostgreSQL::Test::Cluster->new('not_preloaded');
$plain->init;
$plain->start;
($ret, $stdout, $stderr) = $plain->psql('postgres', 'CREATE EXTENSION heliosdb');
isnt($ret, 0, 'CREATE EXTENSION fails without preloading');
like($stderr, qr/heliosdb must be loaded via shared_preload_libraries/,
	'error says how to load the library');
like($stderr, qr/HINT:  Add heliosdb to shared_preload_libraries/, 'with a hint');
($ret, $stdout, $stderr) = $plain->psql('postgres', 'LOAD \'heliosdb\'');
isnt($ret, 0, 'LOAD fails too');
is($plain->safe_psql('postgres', 'SELECT 1'), '1', 'server is still up');
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'heliosdb'"),
	'0', 'nothing half-installed');
$plain->stop;

done_testing();
