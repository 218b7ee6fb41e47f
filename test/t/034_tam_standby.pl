# A streaming standby reads encrypted tables with the same master key: the
# wrapped data keys and the ciphertext arrive through WAL, including keys
# created and rotated after the standby started.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

my ($keyfile) = master_key_file();

my $primary = encrypted_node('primary', $keyfile, undef, allows_streaming => 1);
$primary->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE early (id int PRIMARY KEY, v text) USING heliosdb_encrypted;
	INSERT INTO early SELECT g, 'early ' || g FROM generate_series(1, 100) g;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
	CREATE TABLE late (id int, v text) USING heliosdb_encrypted;
	INSERT INTO late VALUES (1, 'made after the standby started');
	INSERT INTO early VALUES (101, 'early 101');
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*), max(v) FROM early WHERE id > 50'),
	'51|early 99', 'standby reads a table from its base backup');
is($standby->safe_psql('postgres', 'SELECT v FROM late'),
	'made after the standby started', 'standby reads a table created later');

$primary->safe_psql('postgres', "SELECT heliosdb.rotate_table_key('early')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SELECT v FROM early WHERE id = 101}), 'early 101',
	'standby reads the rows re-encrypted by a rotation');
my ($ret, $stdout, $stderr) = $standby->psql('postgres', "INSERT INTO late VALUES (2, 'x')");
like($stderr, qr/read-only transaction/, 'standby stays read-only');

$standby->stop;
$primary->stop;
done_testing();
