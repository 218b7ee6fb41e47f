# Connection-time token login over TCP with real libpq clients: roles in
# heliosdb.token_login_roles must pass a valid JWT in the startup option
# heliosdb.jwt; the session then starts with the token's role, tenant, user
# and claims, and the option is never visible afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fx = PostgreSQL::Test::Utils::tempdir;
system_or_bail('/usr/bin/python3', 'test/jwt/make_tokens.py', $fx);
sub token { return slurp_file("$fx/$_[0].jwt"); }
my $secret = slurp_file("$fx/secret.txt");

my $node = PostgreSQL::Test::Cluster->new('jwt_connect');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
listen_addresses = '127.0.0.1'
heliosdb.jwt_secret = '$secret'
heliosdb.jwt_key_file = '$fx/rsa.pem'
heliosdb.token_login_roles = 'app'
});
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('jwt-acme');
	CREATE ROLE regress_jwt_app;
	CREATE ROLE regress_jwt_other;
	CREATE ROLE app LOGIN;
	CREATE ROLE plain LOGIN;
	GRANT regress_jwt_app TO app;
	GRANT regress_jwt_other TO plain;
	CREATE TABLE notes (id int);
	GRANT SELECT ON notes TO regress_jwt_app;
});

my $port = $node->port;
sub connstr
{
	my ($user, $options) = @_;
	my $s = "host=127.0.0.1 port=$port dbname=postgres user=$user";
	$s .= " options='$options'" if defined $options;
	return $s;
}
sub with_token { return connstr($_[0], '-c heliosdb.jwt=' . token($_[1])); }

# Valid tokens.
$node->connect_ok(with_token('app', 'hs256'), 'HS256 token logs in',
	sql => q{SELECT current_user, session_user, heliosdb.current_tenant(),
				heliosdb.current_user_id(), heliosdb.jwt_claims() ->> 'sub'},
	expected_stdout => qr/^regress_jwt_app\|app\|jwt-acme\|user-1\|user-1$/);
$node->connect_ok(with_token('app', 'rs256'), 'RS256 token logs in',
	sql => 'SELECT current_user, heliosdb.current_tenant()',
	expected_stdout => qr/^regress_jwt_app\|jwt-acme$/);
$node->connect_ok(with_token('app', 'hs256'), 'token option is not visible',
	sql => q{SELECT count(*) FROM pg_settings WHERE name LIKE 'heliosdb.jwt%' AND setting LIKE 'ey%'},
	expected_stdout => qr/^0$/);
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW heliosdb.jwt',
	connstr => with_token('app', 'hs256'));
like($stderr, qr/unrecognized configuration parameter "heliosdb\.jwt"/,
	'SHOW heliosdb.jwt finds no such setting');

# The login is locked and restricted like a SQL login.
($ret, $stdout, $stderr) = $node->psql('postgres', 'SET ROLE app',
	connstr => with_token('app', 'hs256'));
like($stderr, qr/cannot execute SET ROLE while a token login is active/,
	'role of a connection login is locked');
$node->connect_ok(with_token('app', 'perm_none'), 'token with no permissions logs in',
	sql => q{SELECT heliosdb.current_user_id()},
	expected_stdout => qr/^user-perm_none$/);
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM notes',
	connstr => with_token('app', 'perm_none'));
like($stderr, qr/permission denied for relation notes/,
	'permission set of a connection login applies');
# An aborted first transaction does not lose the login.
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{BEGIN; SELECT 1/0; ROLLBACK; SELECT current_user, heliosdb.current_tenant();},
	connstr => with_token('app', 'hs256'), on_error_stop => 0);
like($stderr, qr/division by zero/, 'first transaction failed');
is($stdout, 'regress_jwt_app|jwt-acme', 'login survives a failed first transaction');
# A role option of the client cannot replace the token's role.
$node->connect_ok(connstr('app', '-c role=app -c heliosdb.jwt=' . token('hs256')),
	'client role option ignored',
	sql => 'SELECT current_user', expected_stdout => qr/^regress_jwt_app$/);

# Refused connections.
$node->connect_fails(connstr('app'), 'missing token refused',
	expected_stderr => qr/FATAL:  role "app" must log in with a token/);
$node->connect_fails(with_token('app', 'hs256_wrong_secret'), 'forged HS256 token refused',
	expected_stderr => qr/FATAL:  token signature is invalid/);
$node->connect_fails(with_token('app', 'rs256_other_key'), 'RS256 token of another key refused',
	expected_stderr => qr/FATAL:  token signature is invalid/);
$node->connect_fails(with_token('app', 'expired'), 'expired token refused',
	expected_stderr => qr/FATAL:  token has expired/);
$node->connect_fails(with_token('app', 'alg_none'), 'unsigned token refused',
	expected_stderr => qr/FATAL:  unsigned tokens are not accepted/);
$node->connect_fails(with_token('app', 'garbage'), 'malformed token refused',
	expected_stderr => qr/FATAL:  token is not a JWS in compact serialization/);
$node->connect_fails(with_token('app', 'role_other'), 'role the user is not a member of refused',
	expected_stderr => qr/FATAL:  permission denied to set role "regress_jwt_other"/);
my $log = slurp_file($node->logfile);
ok(index($log, token('hs256_wrong_secret')) < 0, 'refused tokens are not logged');

# Roles not in the list log in as usual, and cannot pass a token.
$node->connect_ok(connstr('plain'), 'other roles need no token',
	sql => 'SELECT current_user', expected_stdout => qr/^plain$/);
$node->connect_fails(with_token('plain', 'hs256'), 'other roles cannot use heliosdb.jwt',
	expected_stderr => qr/invalid configuration parameter name "heliosdb\.jwt"/);

$node->stop;
done_testing();
