# API key lockout state survives restarts (clean and immediate): counts
# below the limit, locks, and their end.  A damaged state file is reported
# and ignored.  Keys never reach the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('apikey');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");
# The test framework logs every statement; the server's default does not,
# and that is what the check of the log at the end is about.
$node->append_conf('postgresql.conf', "log_statement = none");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE keys AS
		SELECT n, k.* FROM unnest(ARRAY['locked', 'counted', 'short']) n,
			LATERAL heliosdb.apikey_create(n) k;
});

sub key_of
{
	my ($name) = @_;
	return $node->safe_psql('postgres', "SELECT api_key FROM keys WHERE n = '$name'");
}

sub wrong_of
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT 'hdb_sk_' || key_id || repeat('q', 32) FROM keys WHERE n = '$name'");
}

# Try a key; returns the SQLSTATE-bearing error text, or "ok".
sub try_login
{
	my ($key) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SELECT role FROM heliosdb.login_apikey('$key', true)");
	return $ret == 0 ? 'ok' : $stderr;
}

sub state_of
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || '/' || failed_attempts FROM heliosdb.apikeys a JOIN keys k USING (key_id) WHERE k.n = '$name'");
}

my %key = map { $_ => key_of($_) } qw(locked counted short);
my %wrong = map { $_ => wrong_of($_) } qw(locked counted short);

like(try_login($wrong{locked}), qr/invalid API key/, 'wrong secret refused') for 1 .. 4;
like(try_login($wrong{counted}), qr/invalid API key/, 'wrong secret refused') for 1 .. 2;
is(state_of('locked'), 'active/4', 'four failures counted');

$node->restart;
is(state_of('locked'), 'active/4', 'failures survive a clean restart');
is(state_of('counted'), 'active/2', 'failures of another key survive too');
like(try_login($wrong{locked}), qr/invalid API key/, 'fifth wrong secret');
is(state_of('locked'), 'locked/5', 'fifth failure locks the key');
like(try_login($key{locked}), qr/API key is locked/, 'right secret refused while locked');

$node->stop('immediate');
$node->start;
is(state_of('locked'), 'locked/5', 'lock survives an immediate stop');
like(try_login($key{locked}), qr/API key is locked/,
	'right secret still refused after the crash');
is(state_of('counted'), 'active/2', 'counts survive an immediate stop');
is(try_login($key{counted}), 'ok', 'right secret of an unlocked key works');
is(state_of('counted'), 'active/0', 'success clears the count');

$node->restart;
is(state_of('counted'), 'active/0', 'cleared count stays cleared after a restart');
is(state_of('locked'), 'locked/5', 'lock still there after another restart');

# A lock ends at its time even when that passes while the server is down.
$node->append_conf('postgresql.conf', "heliosdb.apikey_lockout_duration = '2s'");
$node->reload;
like(try_login($wrong{short}), qr/invalid API key/, 'wrong secret') for 1 .. 5;
is(state_of('short'), 'locked/5', 'short lock taken');
$node->stop;
$node->start;
ok( $node->poll_query_until('postgres',
		"SELECT status FROM heliosdb.apikeys a JOIN keys k USING (key_id) WHERE k.n = 'short'",
		'active'),
	'short lock ends after the restart');
is(try_login($key{short}), 'ok', 'key works again once its lock ended');

# A damaged state file is reported and ignored: the server still starts.
$node->stop;
my $state = $node->data_dir . '/heliosdb_apikey_lockout.state';
ok(-f $state, 'state file exists in the data directory');
open(my $fh, '>', $state) or die "could not write $state: $!";
print $fh "garbage";
close($fh);
$node->start;
ok($node->log_contains('ignoring damaged API key lockout state file'),
	'damaged state file reported');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server runs with a damaged state file');

# Keys were passed as literals to refused statements above: these
# statements are not logged with their errors (with log_statement off).
my $log = slurp_file($node->logfile);
for my $n (qw(locked counted short))
{
	unlike($log, qr/\Q$key{$n}\E/, "key '$n' not in the server log");
	unlike($log, qr/\Q$wrong{$n}\E/, "wrong key '$n' not in the server log");
}

$node->stop;
done_testing();
