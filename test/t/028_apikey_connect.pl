# Connection-time API-key login over TCP with real libpq clients: roles in
# heliosdb.token_login_roles may pass an API key in the startup option
# heliosdb.api_key instead of a JWT.  The hook checks keys against the copy
# in shared memory, which follows key changes at commit and survives
# restarts through its state file; wrong secrets count toward the lockout
# shared with login_apikey().  No key reaches the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('apikey_connect');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'heliosdb'
listen_addresses = '127.0.0.1'
heliosdb.token_login_roles = 'app'
heliosdb.apikey_max_failed_attempts = 3
heliosdb.apikey_max_keys = 16
log_statement = none
log_connections = on
log_error_verbosity = verbose
});
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('key-acme');
	CREATE ROLE regress_key_app IN ROLE heliosdb_service;
	CREATE ROLE regress_key_other;
	CREATE ROLE app LOGIN IN ROLE regress_key_app;
	CREATE ROLE plain LOGIN;
	CREATE TABLE notes (id int);
	INSERT INTO notes VALUES (1);
	GRANT SELECT, DELETE ON notes TO regress_key_app;
	CREATE TABLE keys (n text PRIMARY KEY, api_key text, key_id text);
});

# Create a key (in the current server, after its start) and remember it.
sub create_key
{
	my ($name, $role, $extra) = @_;
	$extra //= '';
	$node->safe_psql('postgres', qq{
		INSERT INTO keys SELECT '$name', api_key, key_id
			FROM heliosdb.apikey_create('$name', '$role', 'key-acme' $extra)});
}
sub key_of
{
	return $node->safe_psql('postgres',
		"SELECT api_key FROM keys WHERE n = '$_[0]'");
}
sub id_of
{
	return $node->safe_psql('postgres',
		"SELECT key_id FROM keys WHERE n = '$_[0]'");
}
sub wrong_of
{
	return 'hdb_sk_' . id_of($_[0]) . ('q' x 32);
}

my $port = $node->port;
sub connstr
{
	my ($user, $options, $db) = @_;
	$db //= 'postgres';
	my $s = "host=127.0.0.1 port=$port dbname=$db user=$user";
	$s .= " options='$options'" if defined $options;
	return $s;
}
sub with_key { return connstr($_[0], '-c heliosdb.api_key=' . $_[1], $_[2]); }

sub status_of
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT status || '/' || failed_attempts FROM heliosdb.apikeys
			WHERE key_id = (SELECT key_id FROM keys WHERE n = '$name')});
}

# Keys created while the server runs work at once.
for my $n (qw(good wrong locked expired revoked rotated cutoff))
{
	create_key($n, 'regress_key_app');
}
create_key('other_role', 'regress_key_other');
my %key = map { $_ => key_of($_) } qw(good wrong locked expired revoked
  rotated cutoff other_role);

my $context_sql = q{SELECT current_user, session_user, source, tenant,
	user_id FROM heliosdb.session_context()};
my $good_id = id_of('good');
$node->connect_ok(with_key('app', $key{good}), 'valid API key logs in',
	sql => $context_sql,
	expected_stdout => qr/^regress_key_app\|app\|apikey\|key-acme\|$good_id$/);
$node->connect_ok(with_key('app', $key{good}), 'key option is not visible',
	sql => q{SELECT count(*) FROM pg_settings WHERE setting LIKE '%hdb_sk_%'},
	expected_stdout => qr/^0$/);
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW heliosdb.api_key',
	connstr => with_key('app', $key{good}));
like($stderr, qr/unrecognized configuration parameter "heliosdb\.api_key"/,
	'SHOW heliosdb.api_key finds no such setting');
$node->connect_ok(connstr('app', "-c role=app -c heliosdb.api_key=$key{good}"),
	'client role option ignored',
	sql => 'SELECT current_user', expected_stdout => qr/^regress_key_app$/);

# The key's permission set (heliosdb_service: no delete) and role lock apply.
($ret, $stdout, $stderr) = $node->psql('postgres', 'DELETE FROM notes',
	connstr => with_key('app', $key{good}));
like($stderr, qr/permission denied/, 'permission set of the key applies');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SET ROLE app',
	connstr => with_key('app', $key{good}));
like($stderr, qr/cannot execute SET ROLE while a token login is active/,
	'role of a connection login is locked');
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{BEGIN; SELECT 1/0; ROLLBACK; SELECT current_user, tenant FROM heliosdb.session_context();},
	connstr => with_key('app', $key{good}), on_error_stop => 0);
is($stdout, 'regress_key_app|key-acme',
	'login survives a failed first transaction');

# Refusals.
$node->connect_fails(connstr('app'), 'missing token refused',
	expected_stderr => qr/FATAL:  role "app" must log in with a token/);
$node->connect_fails(connstr('app', '-c heliosdb.api_key='), 'empty key refused',
	expected_stderr => qr/FATAL:  role "app" must log in with a token/);
$node->connect_fails(
	connstr('app', "-c heliosdb.jwt=x -c heliosdb.api_key=$key{good}"),
	'two tokens refused',
	expected_stderr => qr/FATAL:  role "app" must log in with exactly one token/);
$node->connect_fails(with_key('app', 'hdb_sk_tooshort'), 'malformed key refused',
	expected_stderr => qr/FATAL:  malformed API key/);
$node->connect_fails(with_key('app', 'hdb_sk_' . ('A' x 44)),
	'unknown key id refused',
	expected_stderr => qr/FATAL:  invalid API key/);
$node->connect_fails(with_key('app', $key{other_role}),
	'key of a role the user is not a member of refused',
	expected_stderr => qr/FATAL:  permission denied to set role "regress_key_other"/);

# Wrong secrets: 28P01, counted toward the lockout like login_apikey().
$node->connect_fails(with_key('app', wrong_of('wrong')), 'wrong secret refused',
	expected_stderr => qr/FATAL:  invalid API key/,
	log_like => [qr/FATAL:  28P01: invalid API key/]);
is(status_of('wrong'), 'active/1', 'wrong secret counted');
$node->connect_ok(with_key('app', $key{wrong}), 'right secret still works',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);
is(status_of('wrong'), 'active/0', 'success clears the count');

$node->connect_fails(with_key('app', wrong_of('locked')), 'wrong secret')
  for 1 .. 3;
is(status_of('locked'), 'locked/3', 'third wrong secret locks the key');
$node->connect_fails(with_key('app', $key{locked}),
	'locked key refused with the right secret',
	expected_stderr => qr/FATAL:  API key is locked/,
	log_like => [qr/FATAL:  28000: API key is locked/]);
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT 1 FROM heliosdb.login_apikey('$key{locked}')");
like($stderr, qr/API key is locked/, 'lock also refuses SQL logins');

# Expiry, revocation and rotation take effect at their commit.
$node->safe_psql('postgres', qq{
	UPDATE heliosdb.apikey SET expires_at = now() - interval '1 min'
		WHERE key_id = '@{[id_of('expired')]}'});
$node->connect_fails(with_key('app', $key{expired}), 'expired key refused',
	expected_stderr => qr/FATAL:  API key has expired/,
	log_like => [qr/FATAL:  28000: API key has expired/]);
$node->safe_psql('postgres',
	"SELECT heliosdb.apikey_revoke('@{[id_of('revoked')]}')");
$node->connect_fails(with_key('app', $key{revoked}), 'revoked key refused',
	expected_stderr => qr/FATAL:  API key has been revoked/);

$node->safe_psql('postgres', qq{
	INSERT INTO keys SELECT 'rotated_new', api_key, key_id
		FROM heliosdb.apikey_rotate('@{[id_of('rotated')]}', '1 hour')});
$node->safe_psql('postgres', qq{
	INSERT INTO keys SELECT 'cutoff_new', api_key, key_id
		FROM heliosdb.apikey_rotate('@{[id_of('cutoff')]}', '0')});
$key{$_} = key_of($_) for qw(rotated_new cutoff_new);
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
	connstr => with_key('app', $key{rotated}));
is($stdout, '1', 'old key works in its grace');
like($stderr, qr/WARNING:  API key expires soon/,
	'with a warning: its grace ends within heliosdb.apikey_expiry_warning');
$node->connect_ok(with_key('app', $key{rotated_new}), 'new key works at once',
	sql => 'SELECT user_id FROM heliosdb.session_context()',
	expected_stdout => qr/^@{[id_of('rotated_new')]}$/);
$node->connect_fails(with_key('app', $key{cutoff}),
	'old key refused once its grace ended',
	expected_stderr => qr/FATAL:  API key has expired\nDETAIL:  The key was replaced by rotation/);
$node->connect_ok(with_key('app', $key{cutoff_new}), 'its replacement works',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);

# A key whose creation rolled back never works.
$key{rolled} = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT api_key FROM heliosdb.apikey_create('rolled', 'regress_key_app');
	ROLLBACK;});
like($key{rolled}, qr/^hdb_sk_/, 'key of a rolled-back transaction shown');
$node->connect_fails(with_key('app', $key{rolled}),
	'key of a rolled-back transaction refused',
	expected_stderr => qr/FATAL:  invalid API key/);

$key{savepoint} = $node->safe_psql('postgres', q{
	BEGIN;
	SAVEPOINT s;
	SELECT api_key FROM heliosdb.apikey_create('savepoint', 'regress_key_app');
	ROLLBACK TO s;
	COMMIT;});
$node->connect_fails(with_key('app', $key{savepoint}),
	'key of a rolled-back savepoint refused',
	expected_stderr => qr/FATAL:  invalid API key/);

# The copy in shared memory is only a filter: the key table decides at the
# first statement.  A revocation that bypassed the trigger still counts.
create_key('bypassed', 'regress_key_app');
$key{bypassed} = key_of('bypassed');
$node->safe_psql('postgres', qq{
	SET session_replication_role = replica;
	SELECT heliosdb.apikey_revoke('@{[id_of('bypassed')]}')});
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
	connstr => with_key('app', $key{bypassed}));
like($stderr, qr/FATAL:  API key is no longer valid/,
	'key the table no longer accepts refused at the first statement');
is($stdout, '', 'no statement ran');
$node->safe_psql('postgres', 'SELECT heliosdb.apikey_sync()');
$node->connect_fails(with_key('app', $key{bypassed}),
	'apikey_sync() brings the copy up to date',
	expected_stderr => qr/FATAL:  API key has been revoked/);

# A key that expires soon logs in with a warning.
create_key('soon', 'regress_key_app', ", '1 day'");
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT 1',
	connstr => with_key('app', key_of('soon')));
is($stdout, '1', 'key that expires soon logs in');
like($stderr, qr/WARNING:  API key expires soon/, 'with a warning');

# Dropping a tenant deletes its keys, also from the connection-time copy.
$key{gone} = $node->safe_psql('postgres', q{
	SELECT heliosdb.tenant_create('key-gone');
	SELECT api_key FROM heliosdb.apikey_create('gone', 'regress_key_app',
											   'key-gone');});
$key{gone} = (split /\n/, $key{gone})[-1];
$node->connect_ok(with_key('app', $key{gone}), 'key of a tenant works',
	sql => 'SELECT tenant FROM heliosdb.session_context()',
	expected_stdout => qr/^key-gone$/);
$node->safe_psql('postgres', q{SELECT heliosdb.tenant_drop('key-gone')});
$node->connect_fails(with_key('app', $key{gone}),
	'key of a dropped tenant refused',
	expected_stderr => qr/FATAL:  invalid API key/);

# Keys belong to their database: not found when connecting to another.
$node->safe_psql('postgres', 'CREATE DATABASE keydb');
$node->safe_psql('keydb', 'CREATE EXTENSION heliosdb');
$node->connect_fails(with_key('app', $key{good}, 'keydb'),
	'key of another database refused',
	expected_stderr => qr/FATAL:  invalid API key/);
# ... nor in a new database created under the name of a dropped one.
$key{dropped} = $node->safe_psql('keydb', q{
	SELECT api_key FROM heliosdb.apikey_create('dropped', 'regress_key_app')});
$node->connect_ok(with_key('app', $key{dropped}, 'keydb'),
	'key of the second database works there',
	sql => 'SELECT current_user', expected_stdout => qr/^regress_key_app$/);
$node->safe_psql('postgres', 'DROP DATABASE keydb');
$node->safe_psql('postgres', 'CREATE DATABASE keydb');
($ret, $stdout, $stderr) = $node->psql('keydb', 'SELECT 1',
	connstr => with_key('app', $key{dropped}, 'keydb'));
like($stderr, qr/FATAL:  API key does not belong to this database/,
	'key of a dropped database refused in its namesake');
# Any key change (here: installing the extension) prunes dropped databases.
$node->safe_psql('keydb', 'CREATE EXTENSION heliosdb');
$node->connect_fails(with_key('app', $key{dropped}, 'keydb'),
	'keys of dropped databases pruned',
	expected_stderr => qr/FATAL:  invalid API key/);

# Re-creating the extension forgets the keys of the former installation.
$key{reinstalled} = $node->safe_psql('keydb', q{
	SELECT api_key FROM heliosdb.apikey_create('reinstalled', 'regress_key_app')});
$node->connect_ok(with_key('app', $key{reinstalled}, 'keydb'),
	'key of the first installation works', sql => 'SELECT 1',
	expected_stdout => qr/^1$/);
$node->safe_psql('keydb', 'DROP EXTENSION heliosdb CASCADE');
($ret, $stdout, $stderr) = $node->psql('keydb', 'SELECT 1',
	connstr => with_key('app', $key{reinstalled}, 'keydb'));
like($stderr, qr/FATAL:  API key does not belong to this database/,
	'key refused once the extension is dropped');
$node->safe_psql('keydb', 'CREATE EXTENSION heliosdb');
$node->connect_fails(with_key('app', $key{reinstalled}, 'keydb'),
	'key of a former installation refused',
	expected_stderr => qr/FATAL:  invalid API key/);

# Keys, states and locks survive restarts (clean and immediate).
$node->restart;
$node->connect_ok(with_key('app', $key{good}), 'key works after a restart',
	sql => $context_sql,
	expected_stdout => qr/^regress_key_app\|app\|apikey\|key-acme\|$good_id$/);
$node->connect_fails(with_key('app', $key{revoked}),
	'revoked key still refused after a restart',
	expected_stderr => qr/FATAL:  API key has been revoked/);
$node->connect_fails(with_key('app', $key{locked}),
	'lock still in force after a restart',
	expected_stderr => qr/FATAL:  API key is locked/);
create_key('after_restart', 'regress_key_app');
$key{after_restart} = key_of('after_restart');
$node->stop('immediate');
$node->start;
$node->connect_ok(with_key('app', $key{after_restart}),
	'key created after a restart survives an immediate stop',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);

# A damaged state file is reported; its keys are refused until a sync.
$node->stop;
my $state = $node->data_dir . '/heliosdb_apikey_keys.state';
ok(-f $state, 'state file exists in the data directory');
unlike(slurp_file($state), qr/hdb_sk_/, 'state file holds no keys');
open(my $fh, '>', $state) or die "could not write $state: $!";
print $fh "garbage";
close($fh);
$node->start;
ok($node->log_contains('ignoring damaged API key state file'),
	'damaged state file reported');
$node->connect_fails(with_key('app', $key{good}),
	'keys refused while the state is lost',
	expected_stderr => qr/FATAL:  invalid API key/);
$node->safe_psql('postgres', 'SELECT heliosdb.apikey_sync()');
$node->connect_ok(with_key('app', $key{good}), 'apikey_sync() restores them',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);

# The table is sized by heliosdb.apikey_max_keys: a key that would not fit
# is refused at creation, not dropped silently.
my $used = $node->safe_psql('postgres', 'SELECT count(*) FROM heliosdb.apikey');
create_key("fill$_", 'regress_key_app') for 1 .. 16 - $used;
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT heliosdb.apikey_create('one too many', 'regress_key_app')});
like($stderr, qr/ERROR:  too many API keys/, 'full table refuses a new key');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	BEGIN;
	SELECT 1 FROM heliosdb.apikey_create('one too many', 'regress_key_app');
	SELECT 'not reached';
	COMMIT;});
like($stderr, qr/ERROR:  too many API keys/, 'refused in an explicit transaction');
unlike($stdout, qr/not reached/, 'refused by apikey_create() itself, not at commit');
my $last = key_of('fill' . (16 - $used));
$node->connect_ok(with_key('app', $last), 'last key that fit works',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);
$node->safe_psql('postgres', qq{
	DELETE FROM heliosdb.apikey WHERE key_id = '@{[id_of('expired')]}'});
$node->safe_psql('postgres',
	q{SELECT heliosdb.apikey_create('fits again', 'regress_key_app')});
pass('deleting a key makes room');

# Roles not in the list cannot pass a key.
$node->connect_fails(with_key('plain', $key{good}),
	'other roles cannot use heliosdb.api_key',
	expected_stderr => qr/invalid configuration parameter name "heliosdb\.api_key"/);

# No key, right or wrong, ever reached the server log.
my $log = slurp_file($node->logfile);
like($log, qr/connection authorized: user=app/, 'connections were logged');
for my $n (sort keys %key)
{
	unlike($log, qr/\Q$key{$n}\E/, "key '$n' not in the server log");
}
unlike($log, qr/\Q@{[wrong_of('locked')]}\E/, 'wrong key not in the server log');
unlike($log, qr/hdb_sk_[0-9A-Za-z]{44}/, 'no API key at all in the server log');

$node->stop;
done_testing();
