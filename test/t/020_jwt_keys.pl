# JWT keys follow their configuration without a restart: a key file
# replaced by rename is re-read by a running session (also for tokens it
# had cached), a new heliosdb.jwt_key_file takes effect after a reload, and
# the HMAC secret from postgresql.conf is never shown or logged.
use strict;
use warnings;
use File::Copy;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fx = PostgreSQL::Test::Utils::tempdir;
system_or_bail('/usr/bin/python3', 'test/jwt/make_tokens.py', $fx);
sub token { return slurp_file("$fx/$_[0].jwt"); }
my $secret = slurp_file("$fx/secret.txt");

copy("$fx/jwks_k1.json", "$fx/active.json") or die "copy: $!";

my $node = PostgreSQL::Test::Cluster->new('jwt_keys');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
heliosdb.jwt_key_file = '$fx/active.json'
heliosdb.jwt_secret = '$secret'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	SELECT heliosdb.tenant_create('jwt-acme');
	CREATE ROLE regress_jwt_app;
});

my $session = $node->background_psql('postgres', on_error_stop => 0);

sub login
{
	my ($name) = @_;
	$session->{stderr} = '';
	my $out = $session->query(
		"SELECT user_id FROM heliosdb.login_jwt('" . token($name) . "'); SELECT heliosdb.logout();");
	return $out;
}

like(login('jwks_k1'), qr/user-k1/, 'k1 token accepted with k1 in the key file');
like(login('jwks_k1'), qr/user-k1/, 'k1 token accepted again (cached)');
unlike(login('jwks_k2'), qr/user-k2/, 'k2 token refused before the rotation');
like($session->{stderr}, qr/no configured key can verify the token/, 'refused for want of a key');

# Rotate by atomic rename: the running session re-reads the file.
copy("$fx/jwks_k2.json", "$fx/active.json.new") or die "copy: $!";
rename("$fx/active.json.new", "$fx/active.json") or die "rename: $!";
like(login('jwks_k2'), qr/user-k2/, 'k2 token accepted after the rotation');
unlike(login('jwks_k1'), qr/user-k1/, 'cached k1 token refused after the rotation');

# A new setting takes effect after a configuration reload.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET heliosdb.jwt_key_file = '$fx/ec256.pem'");
$node->reload;
my $seen = 0;
foreach (1 .. 100)
{
	if ($session->query('SHOW heliosdb.jwt_key_file') =~ /ec256\.pem/)
	{
		$seen = 1;
		last;
	}
	usleep(50_000);
}
ok($seen, 'running session sees the new key file setting');
like(login('es256'), qr/user-1/, 'ES256 token accepted with the new key file');
unlike(login('jwks_k2'), qr/user-k2/, 'k2 token refused with the new key file');

# A broken key file refuses every public-key token, HMAC tokens still work.
open(my $fh, '>', "$fx/ec256.pem") or die;
print $fh "not a key\n";
close $fh;
unlike(login('es256'), qr/user-1/, 'ES256 token refused with a broken key file');
like($session->{stderr}, qr/JWT key file .* is invalid/, 'broken key file reported');
like(login('hs256'), qr/user-1/, 'HS256 token accepted with the secret from the configuration');
is($session->query('SHOW heliosdb.jwt_secret'), '(hidden)', 'the secret is not shown');
$session->quit;

$node->stop;
my $log = slurp_file($node->logfile);
ok(index($log, $secret) < 0, 'the secret never reached the server log');
done_testing();
