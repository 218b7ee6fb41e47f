# Rows written by earlier versions of heliosdb_encrypted stay readable:
# payload format 1 (92a23c2) and payload format 2 sealed through OpenSSL's
# EVP AES-GCM (5cfe1fe), kept in fixtures/old_payloads.txt with the data
# keys that sealed them, wrapped by a fixed master key.
#
# Each format gets a database of its own (both fixtures use key id 1).  The
# raw payloads are inserted into a heap table of one bytea column, whose
# file, once the server is stopped, becomes the file of an encrypted table
# of the fixture's columns: the physical rows of an encrypted table are
# exactly such heap rows.  Its key row goes into heliosdb.table_key.  Then
# the rows must read back as they were written, and a payload with one bit
# flipped must fail with XX001.
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

# the fixed master key that wrapped the fixtures' data keys
my ($keyfile) = master_key_file(join('', map { sprintf('%02x', $_) } 0 .. 31));

# the fixture: per format, its key and its rows
my (%key, %rows);
my $fixture = slurp_file(__FILE__ =~ s{[^/]+$}{fixtures/old_payloads.txt}r);
for my $line (split /\n/, $fixture)
{
	next if $line =~ /^#/ || $line eq '';
	my @f = split /\|/, $line;
	if ($f[0] eq 'key')
	{
		$key{ $f[1] } = { id => $f[2], wrapped => $f[3], check => $f[4] };
	}
	else
	{
		push @{ $rows{ $f[1] } }, { id => $f[2], payload => $f[3], md5 => $f[4] };
	}
}
is_deeply([ sort keys %key ], [ 1, 2 ], 'the fixture has keys of formats 1 and 2');

my $node = encrypted_node('oldpayloads', $keyfile);

# Build table $table of database $db from the given payloads, and with
# $with_key, give it the fixture's data key.
sub load_rows
{
	my ($db, $table, $format, $with_key, @payloads) = @_;
	my $k = $key{$format};
	my $values = join(', ', map { "('\\x$_'::bytea)" } @payloads);
	# the fixture's key replaces the one the table was created with
	my $keyrow = $with_key ? qq{
		DELETE FROM heliosdb.table_key WHERE relid = '$table'::regclass;
		INSERT INTO heliosdb.table_key
			(key_id, relid, version, wrapped, master_key_check)
			VALUES ($k->{id}, '$table'::regclass, 1, '\\x$k->{wrapped}',
					'$k->{check}');
		SELECT setval('heliosdb.table_key_id_seq', 100);} : '';

	$node->safe_psql($db, qq{
		CREATE TABLE ${table}_raw (payload bytea) USING heap;
		ALTER TABLE ${table}_raw ALTER payload SET STORAGE EXTERNAL;
		INSERT INTO ${table}_raw VALUES $values;
		CREATE TABLE $table (id int, v text, n numeric, b bool)
			USING heliosdb_encrypted;
		$keyrow
		CHECKPOINT;
	});
	my $from = $node->safe_psql($db, "SELECT pg_relation_filepath('${table}_raw')");
	my $to = $node->safe_psql($db, "SELECT pg_relation_filepath('$table')");
	$node->stop;
	copy($node->data_dir . "/$from", $node->data_dir . "/$to")
		or die "copy: $!";
	$node->start;
}

for my $format (1, 2)
{
	my $db = "format$format";
	my @rows = @{ $rows{$format} };

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION heliosdb');
	load_rows($db, 'fx', $format, 1, map { $_->{payload} } @rows);

	is($node->safe_psql($db, 'SELECT string_agg(md5(fx::text), \',\' ORDER BY id) FROM fx'),
		join(',', map { $_->{md5} } @rows),
		"format $format: every row reads back as written");
	is($node->safe_psql($db, "SELECT count(*) FROM fx WHERE v LIKE 'compressible%'"),
		'1', "format $format: the row compressed before encryption reads back");

	# rewritten rows take the current format and still read
	$node->safe_psql($db, 'UPDATE fx SET n = n + 1 WHERE id = 1');
	is($node->safe_psql($db, 'SELECT n FROM fx WHERE id = 1'), '2.5',
		"format $format: an updated row reads back");
	is($node->safe_psql($db, 'SELECT count(*) FROM fx'), scalar(@rows),
		"format $format: no row lost");

	# one flipped bit in the ciphertext of an old payload is refused
	my $bad = $rows[0]{payload};
	my $pos = length($bad) - 40;
	substr($bad, $pos, 1) = sprintf('%x', hex(substr($bad, $pos, 1)) ^ 1);
	load_rows($db, 'fxbad', $format, 0, $bad);
	my ($ret, $stdout, $stderr) = $node->psql($db,
		"\\set VERBOSITY verbose\nSELECT * FROM fxbad");
	isnt($ret, 0, "format $format: a tampered old payload is not read");
	like($stderr, qr/XX001: could not decrypt row \(0,1\) of table "fxbad"/,
		"format $format: it fails with XX001");
}

$node->stop;
done_testing();
