# Authentication records of connection-time logins: a successful login is
# stored (before the session's first statement), a failed one goes to the
# server log as JSON, and the password is written nowhere.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('audit_login');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
log_statement = none
password_encryption = 'scram-sha-256'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SET heliosdb.audit_redact = off;
	CREATE ROLE alice LOGIN PASSWORD 'alice-secret-pw';
});
# alice must give her password; everybody else is trusted.
my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open(my $fh, '>', $hba) or die "could not write $hba: $!";
print $fh "local all alice scram-sha-256\n$rules";
close $fh;
$node->reload;

$ENV{PGPASSWORD} = 'alice-secret-pw';
is($node->safe_psql('postgres', 'SELECT current_user', extra_params => [ '-U', 'alice' ]),
	'alice', 'alice logs in with her password');
$ENV{PGPASSWORD} = 'wrong-secret-pw';
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT 1', extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'a wrong password is refused');
delete $ENV{PGPASSWORD};

is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't', 'writer caught up');
is($node->safe_psql('postgres',
		q{SELECT user_id, role, action, result, query IS NULL
		  FROM heliosdb.audit_logs
		  WHERE event_type = 'authentication' AND user_id = 'alice'}),
	'alice|alice|LOGIN scram-sha-256|success|t', 'the successful login is stored');

my $log = slurp_file($node->logfile);
like($log,
	qr/heliosdb audit: \{.*"event_type":"authentication".*"action":"LOGIN scram-sha-256".*"result":"failure","error_code":"28000","error_message":"authentication of user \\"alice\\" to database \\"postgres\\" failed"/,
	'the failed login is in the server log as JSON');

my $table = $node->safe_psql('postgres', q{SELECT string_agg(a::text, ' ') FROM heliosdb.audit_log a});
unlike($table, qr/secret-pw/, 'no password in the table');
unlike($log, qr/secret-pw/, 'no password in the server log');

# Failed-login query from the seed runs (the failure is in the log only).
is($node->safe_psql('postgres', q{
	SET search_path = public, heliosdb;
	SELECT count(*) FROM (SELECT user_id, COUNT(*) as attempts FROM audit_logs WHERE event_type = 'authentication' AND result = 'failure' AND timestamp > NOW() - INTERVAL '1 hour' GROUP BY user_id HAVING COUNT(*) > 5) q}),
	'0', 'seed query on failed logins runs');

$node->stop;
done_testing();
