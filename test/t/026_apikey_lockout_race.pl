# Many sessions send wrong secrets for one API key at the same moment:
# exactly heliosdb.apikey_max_failed_attempts of them are answered "wrong
# secret" (28P01), every other one "locked" (28000), and the count stops
# at the limit.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('apikey_race');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'heliosdb'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION heliosdb;
	CREATE TABLE race_result (round int, sqlstate text);
	CREATE TABLE race_key (round int, key_id text);
});

my $sessions = 6;
my $attempts = 5;

for my $round (1 .. 3)
{
	$node->safe_psql('postgres',
		"INSERT INTO race_key SELECT $round, key_id FROM heliosdb.apikey_create('race $round')");

	# A barrier: every session waits for the advisory lock held here.
	my $gate = $node->background_psql('postgres');
	$gate->query_safe('SELECT pg_advisory_lock(4242)');

	my $sql = qq{
DO \$\$
DECLARE
	wrong text;
BEGIN
	SELECT 'hdb_sk_' || key_id || repeat('q', 32) INTO wrong
		FROM race_key WHERE round = $round;
	PERFORM pg_advisory_lock_shared(4242);
	PERFORM pg_advisory_unlock_shared(4242);
	FOR i IN 1 .. $attempts LOOP
		BEGIN
			PERFORM heliosdb.login_apikey(wrong, true);
			INSERT INTO race_result VALUES ($round, '00000');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO race_result VALUES ($round, SQLSTATE);
		END;
	END LOOP;
END
\$\$;
};
	my @runs;
	for (1 .. $sessions)
	{
		my ($out, $err) = ('', '');
		push @runs,
		  IPC::Run::start(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
				$node->connstr('postgres'), '-c', $sql ],
			'>', \$out, '2>', \$err);
	}
	$node->poll_query_until('postgres',
		"SELECT count(*) = $sessions FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
	  or die 'sessions did not reach the barrier';
	$gate->query_safe('SELECT pg_advisory_unlock(4242)');
	$_->finish for @runs;
	$gate->quit;

	is( $node->safe_psql('postgres',
			"SELECT string_agg(sqlstate || ':' || n, ',' ORDER BY sqlstate) FROM "
			  . "(SELECT sqlstate, count(*) n FROM race_result WHERE round = $round GROUP BY 1) s"),
		'28000:' . ($sessions * $attempts - 5) . ',28P01:5',
		"round $round: exactly five wrong-secret answers, the rest locked");
	is( $node->safe_psql('postgres',
			"SELECT status || '/' || failed_attempts FROM heliosdb.apikeys "
			  . "WHERE key_id = (SELECT key_id FROM race_key WHERE round = $round)"),
		'locked/5', "round $round: key locked with a count of exactly five");
}

$node->stop;
done_testing();
