# What reaches the disk: markers written into an encrypted table (a small
# row, a 100 kB compressible row and a 100 kB random row) appear in none of
# its data files, TOAST files or WAL, while a heap control table's markers
# appear in its files and in WAL.  Then one flipped byte in a data file is
# reported as XX001 naming the table and TID, without a crash, and only by
# the queries that read that row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

# The master key: 64 hex digits in a 0600 file outside the data directory.
my ($keyfile, $key) = master_key_file();

my $node = encrypted_node('ondisk', $keyfile, "wal_keep_size = '256MB'\n");
$node->safe_psql('postgres', 'CREATE EXTENSION heliosdb');

# A tag unique to this run, so that nothing else can contain the markers.
my $tag = join('', map { ('a' .. 'z')[ int(rand(26)) ] } 1 .. 16);
my %markers;
# The encrypted table's values are compressed before encryption; the heap
# control table stores them uncompressed so that its markers stay
# contiguous (pglz interleaves control bytes with literals).
for my $kind (qw(enc heap))
{
	my $am = $kind eq 'enc' ? 'heliosdb_encrypted' : 'heap';
	my $storage = $kind eq 'enc' ? 'EXTENDED' : 'EXTERNAL';
	my ($small, $comp, $rand) = map { "HDB${kind}${_}$tag" } qw(SMALL COMP RAND);
	$markers{$kind} = [ $small, $comp, $rand ];
	$node->safe_psql('postgres', qq{
		CREATE TABLE ${kind}_t (id int, body text) USING $am;
		ALTER TABLE ${kind}_t ALTER body SET STORAGE $storage;
		INSERT INTO ${kind}_t VALUES (1, 'row with $small inside');
		INSERT INTO ${kind}_t VALUES (2, repeat('$comp ', 4000));
		INSERT INTO ${kind}_t VALUES (3, '$rand' || (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 3200)));
	});
}
is($node->safe_psql('postgres',
		"SELECT string_agg(id || ':' || (strpos(body, 'HDBenc') > 0), ',' ORDER BY id) FROM enc_t"),
	'1:true,2:true,3:true', 'the encrypted table reads its markers back');
ok($node->safe_psql('postgres', 'SELECT length(body) > 100000 FROM enc_t WHERE id = 3') eq 't',
	'the random row is over 100 kB');
is($node->safe_psql('postgres', 'SELECT pg_column_size(body) < 10000 FROM enc_t WHERE id = 2'),
	't', 'the compressible row was compressed before encryption');
$node->safe_psql('postgres', 'CHECKPOINT');

my $datadir = $node->data_dir;
sub relation_files
{
	my ($table) = @_;
	my @files;
	for my $rel ("'$table'", "(SELECT reltoastrelid FROM pg_class WHERE oid = '$table'::regclass)")
	{
		my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath($rel)");
		push @files, grep { -f $_ } ("$datadir/$path", glob("$datadir/$path.*"));
	}
	return @files;
}

sub files_containing
{
	my ($needle, @files) = @_;
	return grep { index(slurp_file($_), $needle) >= 0 } @files;
}

my @enc_files = relation_files('enc_t');
my @heap_files = relation_files('heap_t');
my @wal = grep { -f $_ && m{/[0-9A-F]{24}$} } glob("$datadir/pg_wal/*");
ok(@enc_files >= 2, 'encrypted table has data and TOAST files');
ok(@wal >= 1, 'WAL files found');

for my $i (0 .. 2)
{
	my $what = (qw(small compressible random))[$i];
	my $enc = $markers{enc}[$i];
	my $plain = $markers{heap}[$i];
	is(scalar(files_containing($enc, @enc_files)), 0,
		"$what marker absent from encrypted data and TOAST files");
	is(scalar(files_containing($enc, @wal)), 0,
		"$what marker absent from WAL");
	ok(scalar(files_containing($plain, @heap_files)) > 0,
		"$what marker present in the heap control table's files");
	ok(scalar(files_containing($plain, @wal)) > 0,
		"$what marker of the heap control table present in WAL");
}
is(scalar(files_containing($key, @enc_files, @wal, "$datadir/postgresql.conf")), 0,
	'master key appears in no data file');

# A table of many rows a page, to damage a row in the middle of page 0.
$node->safe_psql('postgres', q{
	CREATE TABLE rows_t (id int, v text) USING heliosdb_encrypted;
	INSERT INTO rows_t SELECT g, md5(g::text) FROM generate_series(1, 100) g;
	CHECKPOINT;
});
my ($rows_file) = relation_files('rows_t');

# Flip one byte inside the payload of line pointer $n of page 0 of $file.
sub flip_payload_byte
{
	my ($file, $n) = @_;
	open(my $fh, '+<:raw', $file) or die "$file: $!";
	read($fh, my $page, 8192) == 8192 or die 'short page';
	my $lp = unpack('V', substr($page, 24 + 4 * ($n - 1), 4));
	my ($lp_off, $lp_len) = ($lp & 0x7fff, $lp >> 17);
	ok($lp_len > 40, "line pointer $n holds a tuple");
	my $pos = $lp_off + $lp_len - 20;
	seek($fh, $pos, 0);
	print $fh chr(ord(substr($page, $pos, 1)) ^ 0x01);
	close $fh;
}

# The first row of enc_t, and the fifth of rows_t.
$node->stop;
flip_payload_byte($enc_files[0], 1);
flip_payload_byte($rows_file, 5);
$node->start;

my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT body FROM enc_t WHERE id = 1");
isnt($ret, 0, 'reading the tampered row fails');
like($stderr, qr/XX001: could not decrypt row \(0,1\) of table "enc_t"/,
	'XX001 names the table and the TID');
like($stderr, qr/failed authentication/, 'the detail says why');
unlike($stderr, qr/row with/, 'no plaintext in the error');
is($node->safe_psql('postgres', "SELECT id FROM enc_t WHERE ctid = '(0,2)'"),
	'2', 'untouched rows still read');
is($node->safe_psql('postgres', 'SELECT count(*) FROM heap_t'), '3',
	'server is up and other tables read');

# A sequential scan decrypts the rows of a page together once it reads a
# second one; a damaged row among them fails only the queries that read it.
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\') FROM (SELECT id FROM rows_t LIMIT 4) s'),
	'1,2,3,4', 'the rows before the damaged one read');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT count(*) FROM rows_t");
isnt($ret, 0, 'a scan over the damaged row fails');
like($stderr, qr/XX001: could not decrypt row \(0,5\) of table "rows_t"/,
	'XX001 names the damaged row, not another of its page');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SELECT count(*) FROM rows_t WHERE ctid > '(0,5)'"),
	'95', 'the rows after it read');

$node->stop;
done_testing();
