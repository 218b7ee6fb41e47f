# Crash recovery: an immediate shutdown in the middle of a stream of
# committed inserts, updates and deletes on an encrypted table; after the
# restart every committed row reads back (it matches a heap mirror written
# in the same transactions) and amcheck finds every row in every index.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/t/lib';
use HeliosTest qw(master_key_file encrypted_node);

my ($keyfile) = master_key_file();

my $node = encrypted_node('crash', $keyfile);
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE EXTENSION amcheck;
	CREATE TABLE enc (id int PRIMARY KEY, v text, n int) USING heliosdb_encrypted;
	CREATE INDEX enc_n ON enc (n);
	CREATE INDEX enc_v ON enc (substr(v, 1, 8));
	CREATE TABLE mirror (id int PRIMARY KEY, v text, n int);
	CREATE PROCEDURE writer() LANGUAGE plpgsql AS $$
	DECLARE
		i int := 0;
	BEGIN
		LOOP
			i := i + 1;
			INSERT INTO enc VALUES (i, repeat(md5(i::text), 1 + i % 150), i % 97);
			INSERT INTO mirror VALUES (i, repeat(md5(i::text), 1 + i % 150), i % 97);
			IF i % 3 = 0 THEN
				UPDATE enc SET n = n + 1, v = v || 'u' WHERE id = i - 1;
				UPDATE mirror SET n = n + 1, v = v || 'u' WHERE id = i - 1;
			END IF;
			IF i % 5 = 0 THEN
				DELETE FROM enc WHERE id = i - 2;
				DELETE FROM mirror WHERE id = i - 2;
			END IF;
			COMMIT;
		END LOOP;
	END $$;
});

# Start the writer and crash the server once it has committed a while.
my $writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/started/, "\\echo started\nCALL writer();\n");
$node->poll_query_until('postgres', 'SELECT count(*) >= 3000 FROM mirror')
  or die 'writer made no progress';
$node->stop('immediate');
eval { $writer->quit; };
$node->start;

my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM mirror');
ok($committed >= 2000, 'many transactions had committed before the crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM enc'), $committed,
	'encrypted table has every committed row');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM enc e FULL JOIN mirror m USING (id)
	WHERE e.v IS DISTINCT FROM m.v OR e.n IS DISTINCT FROM m.n}),
	'0', 'every committed row reads back as written');
is($node->safe_psql('postgres', q{
	SELECT count(*)
	FROM unnest(ARRAY['enc_pkey', 'enc_n', 'enc_v']::regclass[]) i,
		 LATERAL bt_index_check(i, true)}),
	'3', 'amcheck: every row version is in every index');
is($node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SELECT count(*) FROM enc WHERE n >= 0}), $committed, 'index scan sees them all');

# The table keeps working after recovery.
$node->safe_psql('postgres', "INSERT INTO enc VALUES (-1, 'after', 0)");
$node->safe_psql('postgres', 'VACUUM enc');
is($node->safe_psql('postgres', "SELECT v FROM enc WHERE id = -1"), 'after',
	'writes after recovery');

$node->stop;
done_testing();
