# pg_dump and restore: a dump holds the rows in plaintext (like any client
# read) and no data keys; restoring it into another database recreates the
# tables with the encrypted access method, under new data keys.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

my ($keyfile) = master_key_file();

my $node = encrypted_node('dump', $keyfile);
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE secret (id int PRIMARY KEY, v text) USING heliosdb_encrypted;
	INSERT INTO secret SELECT g, 'value ' || g FROM generate_series(1, 500) g;
	SELECT heliosdb.rotate_table_key('secret');
});

my $dump = PostgreSQL::Test::Utils::tempdir . '/db.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump of a database with an encrypted table');
my $plain = `pg_restore -f - $dump`;
like($plain, qr/SET default_table_access_method = heliosdb_encrypted/,
	'the dump recreates the table with the encrypted access method');
like($plain, qr/value 250/, 'the dump holds the rows in plaintext');
unlike($plain, qr/COPY heliosdb\.table_key/, 'the dump holds no data keys');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'restore into a new database');
is($node->safe_psql('restored', q{
	SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname = 'secret'}), 'heliosdb_encrypted', 'restored table is encrypted');
is($node->safe_psql('restored', 'SELECT count(*), sum(id) FROM secret'), '500|125250',
	'every row restored');
is($node->safe_psql('restored', 'SELECT v FROM secret WHERE id = 250'), 'value 250',
	'rows read back');
is($node->safe_psql('restored', q{
	SELECT string_agg(key_version || ':' || row_count, ',')
	FROM heliosdb.encryption_status() WHERE table_name = 'secret'::regclass}),
	'1:500', 'restored rows are sealed by a new data key');
isnt($node->safe_psql('restored', 'SELECT wrapped FROM heliosdb.table_key'),
	$node->safe_psql('postgres', 'SELECT wrapped FROM heliosdb.table_key WHERE version = 2'),
	'the restored table does not reuse the original key');

$node->stop;
done_testing();
