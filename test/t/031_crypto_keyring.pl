# Keyring providers: file, env and command each yield the master key; a
# missing, unreadable, badly protected or malformed keyring fails with a
# clear error and hint at first use, never at server start; a wrong master
# key fails reads of encrypted tables only.  No key appears in the log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(random_key);

sub write_file
{
	my ($path, $content, $mode) = @_;
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $content;
	close $fh;
	chmod $mode, $path;
}

my $dir = PostgreSQL::Test::Utils::tempdir;
my $key = random_key();
my $other = random_key();
write_file("$dir/good.key", "$key\n", 0600);
write_file("$dir/other.key", "$other\n", 0600);
write_file("$dir/open.key", "$key\n", 0644);
write_file("$dir/short.key", substr($key, 0, 40) . "\n", 0600);

my $node = PostgreSQL::Test::Cluster->new('keyring');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");

# Set the keyring settings and restart (a restart also resets the caches).
sub keyring
{
	my (%set) = @_;
	$node->stop if $node->{_pid};
	my $conf = $node->data_dir . '/heliosdb_keyring.conf';
	write_file($conf, join('', map { "heliosdb.$_ = '$set{$_}'\n" } sort keys %set), 0600);
	$node->append_conf('postgresql.conf', "include_if_exists = 'heliosdb_keyring.conf'")
	  unless $node->{_keyring_included}++;
	$node->start;
}

# Set the keyring settings and reload: sessions keep their caches.
sub keyring_reload
{
	my (%set) = @_;
	write_file($node->data_dir . '/heliosdb_keyring.conf',
		join('', map { "heliosdb.$_ = '$set{$_}'\n" } sort keys %set), 0600);
	$node->reload;
}

sub fails_like
{
	my ($sql, $re, $name) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	isnt($ret, 0, "$name: fails");
	like($stderr, $re, "$name: message");
	return $stderr;
}

# No keyring: the server starts, heap tables work, encrypted ones refuse.
keyring();
$node->safe_psql('postgres', 'CREATE EXTENSION heliosdb; CREATE TABLE plain (a int); INSERT INTO plain VALUES (1)');
my $err = fails_like('CREATE TABLE enc (a int, s text) USING heliosdb_encrypted',
	qr/55000: no encryption keyring is configured/, 'no keyring');
like($err, qr/HINT:  Set heliosdb.keyring to file, env or command/, 'no keyring: hint');
is($node->safe_psql('postgres', 'SELECT a FROM plain'), '1', 'heap tables unaffected');

# env provider.
$ENV{HELIOSDB_ENCRYPTION_KEY} = $key;
keyring(keyring => 'env');
$node->safe_psql('postgres', q{
	CREATE TABLE enc (a int, s text) USING heliosdb_encrypted;
	INSERT INTO enc VALUES (1, 'sealed');
});
is($node->safe_psql('postgres', 'SELECT s FROM enc'), 'sealed', 'env: rows read back in a new session');

$ENV{HELIOSDB_ENCRYPTION_KEY} = $other;
keyring(keyring => 'env');
fails_like('SELECT s FROM enc', qr/XX001: the configured master key did not wrap data key/,
	'env with the wrong key');
is($node->safe_psql('postgres', 'SELECT a FROM plain'), '1', 'wrong key: heap tables unaffected');

delete $ENV{HELIOSDB_ENCRYPTION_KEY};
keyring(keyring => 'env');
$err = fails_like('SELECT s FROM enc',
	qr/55000: heliosdb.keyring is "env" but environment variable HELIOSDB_ENCRYPTION_KEY is not set/,
	'env variable missing');
like($err, qr/HINT:/, 'env variable missing: hint');

$ENV{HELIOSDB_ENCRYPTION_KEY} = 'not-a-key';
keyring(keyring => 'env');
fails_like('SELECT s FROM enc', qr/does not yield a valid master key/, 'env malformed');
delete $ENV{HELIOSDB_ENCRYPTION_KEY};

# file provider.
keyring(keyring => 'file', keyring_file => "$dir/good.key");
is($node->safe_psql('postgres', 'SELECT s FROM enc'), 'sealed', 'file: rows read');
$node->safe_psql('postgres', "INSERT INTO enc VALUES (2, 'more')");

keyring(keyring => 'file', keyring_file => "$dir/other.key");
fails_like('SELECT s FROM enc', qr/XX001: the configured master key did not wrap data key/,
	'file with the wrong key');

keyring(keyring => 'file', keyring_file => "$dir/open.key");
$err = fails_like('SELECT s FROM enc', qr/has group or world access/, 'file readable by others');
like($err, qr/HINT:  Run chmod 600 on the file/, 'file readable by others: hint');

keyring(keyring => 'file', keyring_file => "$dir/missing.key");
fails_like('SELECT s FROM enc', qr/58P01: could not access keyring file ".*missing.key"/,
	'file missing');

keyring(keyring => 'file', keyring_file => "$dir/short.key");
fails_like('SELECT s FROM enc', qr/keyring file does not yield a valid master key/, 'file malformed');

my $inside = $node->data_dir . '/inside.key';
write_file($inside, "$key\n", 0600);
keyring(keyring => 'file', keyring_file => $inside);
fails_like('SELECT s FROM enc', qr/is inside the data directory/, 'file inside the data directory');

keyring(keyring => 'file');
fails_like('SELECT s FROM enc', qr/heliosdb.keyring_file is not set/, 'file not set');

# command provider.
keyring(keyring => 'command', keyring_command => "cat $dir/good.key");
is($node->safe_psql('postgres', 'SELECT string_agg(s, \',\' ORDER BY a) FROM enc'),
	'sealed,more', 'command: rows read');

keyring(keyring => 'command', keyring_command => 'exit 3');
$err = fails_like('SELECT s FROM enc', qr/58000: keyring command failed/, 'command failing');
like($err, qr/exit code 3/, 'command failing: exit code reported');

keyring(keyring => 'command', keyring_command => 'echo secret-but-not-a-key');
$err = fails_like('SELECT s FROM enc', qr/keyring command does not yield a valid master key/,
	'command output malformed');
unlike($err, qr/secret-but-not-a-key/, 'command output not echoed');

# Master key rotation: the keyring yields the new key, the previous one is
# configured beside it; reads work throughout, rotate_master_key() re-wraps
# every data key, and then the new key alone suffices.
keyring(keyring => 'file', keyring_file => "$dir/good.key");
$node->safe_psql('postgres', "CREATE TABLE enc2 (s text) USING heliosdb_encrypted; INSERT INTO enc2 VALUES ('second')");
keyring(keyring => 'file', keyring_file => "$dir/other.key");
fails_like('SELECT heliosdb.rotate_master_key()',
	qr/55000: data key \d+ is wrapped by neither the current nor the previous master key/,
	'rotation without the previous key');
keyring(keyring => 'file', keyring_file => "$dir/other.key",
	keyring_previous_file => "$dir/good.key");
is($node->safe_psql('postgres', 'SELECT count(*) FROM enc'), '2',
	'rows read with the previous key during a rotation');
is($node->safe_psql('postgres', 'SELECT heliosdb.rotate_master_key()'), '2',
	'both data keys re-wrapped');
is($node->safe_psql('postgres', 'SELECT heliosdb.rotate_master_key()'), '0',
	'a second rotation has nothing to do');
keyring(keyring => 'file', keyring_file => "$dir/other.key");
is($node->safe_psql('postgres', "SELECT (SELECT string_agg(s, ',' ORDER BY a) FROM enc) || ',' || (SELECT s FROM enc2)"),
	'sealed,more,second', 'rows read with the new master key alone');
keyring(keyring => 'file', keyring_file => "$dir/good.key");
fails_like('SELECT s FROM enc2', qr/XX001: the configured master key did not wrap data key/,
	'the old master key no longer opens the data keys');

# The leader of a parallel scan hands its workers the data key, wrapped as
# it read it.  After a master key rotation that form is stale in a session
# that read the key before: its workers cannot unwrap it with the new key
# alone and must read the key table instead of failing.
keyring(keyring => 'file', keyring_file => "$dir/good.key");
$node->safe_psql('postgres', q{
	CREATE TABLE encp (a int, s text) USING heliosdb_encrypted;
	INSERT INTO encp SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
	ANALYZE encp;
});
my $session = $node->background_psql('postgres');
$session->query_safe(q{
	SET parallel_setup_cost = 0;
	SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0;
	SET max_parallel_workers_per_gather = 2;
});
my $parallel_sum = q{EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	SELECT sum(a), count(DISTINCT s) FROM encp};
like($session->query_safe($parallel_sum), qr/Workers Launched: [12]/,
	'parallel scan with the first master key');
keyring_reload(keyring => 'file', keyring_file => "$dir/other.key",
	keyring_previous_file => "$dir/good.key");
is($node->safe_psql('postgres', 'SELECT heliosdb.rotate_master_key()'), '1',
	'the data key re-wrapped with the new master key');
keyring_reload(keyring => 'file', keyring_file => "$dir/other.key");
like($session->query_safe($parallel_sum), qr/Workers Launched: [12]/,
	'parallel scan after the rotation, in the session that read the old wrapped key');
is($session->query_safe(q{
	SET force_parallel_mode = on;
	SELECT sum(a) || '/' || count(DISTINCT s) FROM encp}),
	'12502500/5000', 'its workers read every row');
$session->quit;

# Nothing key-like reached the server log.
my $log = slurp_file($node->logfile);
unlike($log, qr/$key/, 'master key not in the server log');
unlike($log, qr/$other/, 'new master key not in the server log');
unlike($log, qr/secret-but-not-a-key/, 'keyring output not in the server log');

$node->stop;
done_testing();
