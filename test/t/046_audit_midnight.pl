# Midnight (UTC) in the middle of a batch.  audit_log has a partition per
# day, and the writer inserts a batch's rows page by page, partition by
# partition: a batch whose records straddle midnight must put each row in
# the partition of its own day, in one transaction, with one chain across
# both.  The server's clock is moved (libfaketime, a constant offset for
# every process) to a few seconds before midnight.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my ($faketime) = glob('/usr/lib/*/faketime/libfaketime.so.1');
die "libfaketime is missing (test/lib.sh installs the libfaketime package)"
  unless defined $faketime;

my $node = PostgreSQL::Test::Cluster->new('audit_midnight');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'heliosdb'
});
# The server's clock starts 25 seconds before the next midnight: time to
# set up first.
my $now = time();
my $midnight_epoch = (int($now / 86400) + 1) * 86400;
{
	local $ENV{LD_PRELOAD} = $faketime;
	local $ENV{FAKETIME} = '+' . ($midnight_epoch - 25 - $now) . 's';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$node->start;
}
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE items (id int);
});
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'writer is running');
my $midnight = $node->safe_psql('postgres',
	"SELECT to_timestamp($midnight_epoch)");
my ($day1, $day2) = split(/\|/, $node->safe_psql('postgres', qq{
	SELECT to_char(timestamptz '$midnight' AT TIME ZONE 'UTC' - interval '1 day', 'YYYYMMDD'),
		   to_char(timestamptz '$midnight' AT TIME ZONE 'UTC', 'YYYYMMDD')}));

# Records on both sides of midnight, queued while the writer is stopped
# (SIGSTOP), so that it takes them all in one batch when it goes on.
my $writer = $node->safe_psql('postgres',
	'SELECT worker_pid FROM heliosdb.audit_stats()');
kill 'STOP', $writer or die "could not stop the writer: $!";
# whatever happens, before the node is stopped
END { kill 'CONT', $writer if $writer; }
$node->safe_psql('postgres', 'INSERT INTO items VALUES (1)') for 1 .. 3;
is($node->safe_psql('postgres', "SELECT clock_timestamp() < '$midnight'"),
	't', 'three statements before midnight');
for (my $i = 0;
	$node->safe_psql('postgres', "SELECT clock_timestamp() < '$midnight'") eq 't';
	$i++)
{
	die 'the server\'s clock does not reach midnight' if $i > 300;
	usleep(200_000);
}
$node->safe_psql('postgres', 'INSERT INTO items VALUES (2)') for 1 .. 3;
kill 'CONT', $writer or die "could not continue the writer: $!";
is($node->safe_psql('postgres', 'SELECT heliosdb.audit_flush()'), 't',
	'the writer stored them');

is($node->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE "timestamp" < '$midnight'),
		   count(*) FILTER (WHERE "timestamp" >= '$midnight'),
		   count(DISTINCT stored_at)
	FROM heliosdb.audit_log WHERE query = 'INSERT INTO items VALUES (\$1)'}),
	'3|3|1', 'three records of each day, stored in one transaction');
is($node->safe_psql('postgres', qq{
	SELECT string_agg(DISTINCT CASE WHEN "timestamp" < '$midnight'
									THEN 'before' ELSE 'after' END ||
					  ' in ' || tableoid::regclass, ', ')
	FROM heliosdb.audit_log WHERE query = 'INSERT INTO items VALUES (\$1)'}),
	"after in heliosdb.audit_log_p$day2, before in heliosdb.audit_log_p$day1",
	'each row is in the partition of its day');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM heliosdb.audit_log
	WHERE tableoid <> ('heliosdb.audit_log_p' ||
					   to_char("timestamp" AT TIME ZONE 'UTC', 'YYYYMMDD'))::regclass}),
	'0', 'no record of the run is outside its day\'s partition');
is($node->safe_psql('postgres', 'SELECT ok FROM heliosdb.audit_verify()'),
	't', 'the chain holds across the two partitions');

$node->stop;
done_testing();
