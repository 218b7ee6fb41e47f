# Rate limits per client address over real TCP connections from 127.0.0.1:
# refused statements count as violations, enough of them ban the address,
# banned and too-frequent connections are refused at authentication, and
# heliosdb.unban() lets the address back in.  Unix-socket sessions have no
# address and are never limited this way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('quota_ban');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
listen_addresses = '127.0.0.1'
log_error_verbosity = verbose
heliosdb.rate_limit_per_ip = 0.001
heliosdb.rate_limit_burst = 2
heliosdb.rate_limit_global = 0
heliosdb.ban_after_violations = 3
heliosdb.ban_duration = '10min'
heliosdb.connection_rate_per_ip = 1000000
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE ROLE app LOGIN;
});

my $port = $node->port;
my $tcp = "host=127.0.0.1 port=$port dbname=postgres user=app";

# Run SQL over TCP as "app"; returns (exit code, stdout, stderr).
sub tcp_psql
{
	my ($sql) = @_;
	return $node->psql('postgres', $sql, connstr => $tcp,
		extra_params => ['-w']);
}

# Change a setting, and wait until new backends run with it.
sub set_and_reload
{
	my ($name, $value) = @_;
	$node->append_conf('postgresql.conf', "$name = $value");
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('$name') = '$value'")
	  or die "configuration not reloaded";
}

# The address's bucket holds 2 tokens and refills at 0.001 per second.
my ($ret, $out, $err) = tcp_psql('SELECT 1');
is($ret, 0, 'first statement over TCP runs');
($ret, $out, $err) = tcp_psql('SELECT 2');
is($ret, 0, 'second statement (burst of 2) runs');
($ret, $out, $err) = tcp_psql('SELECT 3');
isnt($ret, 0, 'third statement is refused');
like($err, qr/rate limit exceeded for client address "127\.0\.0\.1"/,
	'refusal names the address');
like($err, qr/HINT:  The limit is 0\.001 statements per second with bursts of up to 2; retry in \d+ s\./,
	'hint gives the limit and when to retry');
ok($node->log_contains('ERROR:  53400: rate limit exceeded'),
	'refusal has SQLSTATE 53400');

# Unix-socket sessions have no address: not limited by it.
is($node->safe_psql('postgres', 'SET ROLE app; SELECT 1; SELECT 2; SELECT 3'),
	'1' . "\n" . '2' . "\n" . '3', 'local socket session is not limited per address');

is( $node->safe_psql('postgres',
		q{SELECT violations, banned_until IS NULL FROM heliosdb.rate_limit_status WHERE kind = 'ip'}),
	'1|t', 'one violation recorded, no ban yet');

# Two more refusals within a minute: the third violation bans the address.
tcp_psql('SELECT 4');
tcp_psql('SELECT 5');
is( $node->safe_psql('postgres',
		q{SELECT key, banned_until > now() + interval '9 min' FROM heliosdb.rate_limit_status WHERE kind = 'ip'}),
	'127.0.0.1|t', 'address banned for ban_duration');

my $log_offset = -s $node->logfile;
$node->connect_fails($tcp, 'banned address cannot connect',
	expected_stderr => qr/FATAL:  connections from address "127\.0\.0\.1" are banned/);
ok($node->wait_for_log(qr/FATAL:  28000: connections from address "127\.0\.0\.1" are banned/, $log_offset),
	'ban refusal has SQLSTATE 28000');
# No database is selected yet, so the audit record goes to the server log.
ok($node->wait_for_log(qr/heliosdb audit: .*"event_type":"quota_exceeded".*"ip 127\.0\.0\.1"/, $log_offset),
	'ban refusal audited as quota_exceeded');
$node->connect_fails("host=127.0.0.1 port=$port dbname=postgres user=postgres",
	'ban applies to every role, superusers too',
	expected_stderr => qr/are banned/);
is($node->safe_psql('postgres', 'SELECT 1'), '1',
	'local socket connections still work');

# Lift the ban; statements are still limited, so lift that limit too.
is($node->safe_psql('postgres', q{SELECT heliosdb.unban('127.0.0.1')}), 't',
	'unban reports a ban was lifted');
is($node->safe_psql('postgres', q{SELECT heliosdb.unban('127.0.0.1')}), 'f',
	'second unban finds no ban');
set_and_reload('heliosdb.rate_limit_per_ip', '0');
($ret, $out, $err) = tcp_psql('SELECT 42');
is($ret, 0, 'unbanned address connects again');
is($out, '42', 'and runs statements');

# The connection rate: a fresh bucket allows 2 connections at once, then
# refuses with 53400.
set_and_reload('heliosdb.connection_rate_per_ip', '0.001');
$node->safe_psql('postgres', 'SELECT heliosdb.rate_limit_reset()');
$node->connect_ok($tcp, 'first connection within the connection burst');
$node->connect_ok($tcp, 'second connection within the connection burst');
$log_offset = -s $node->logfile;
$node->connect_fails($tcp, 'third connection is refused',
	expected_stderr => qr/FATAL:  too many connections from address "127\.0\.0\.1"/);
ok($node->wait_for_log(qr/FATAL:  53400: too many connections from address/, $log_offset),
	'connection rate refusal has SQLSTATE 53400');
ok($node->wait_for_log(qr/heliosdb audit: .*"event_type":"quota_exceeded".*"error_code":"53400"/, $log_offset),
	'connection rate refusal audited as quota_exceeded');

# rate_limit_reset() forgets buckets and bans alike.
$node->safe_psql('postgres', 'SELECT heliosdb.rate_limit_reset()');
$node->connect_ok($tcp, 'connections accepted again after a reset');

$node->stop;
done_testing();
