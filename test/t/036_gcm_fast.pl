# The row cipher's own AES-256-GCM (src/crypto/gcm_fast.c), outside the
# server: test/t/gcm_fast_check.c, built with AddressSanitizer and UBSan,
# compares it with OpenSSL's EVP AES-256-GCM on 1,220 random messages of
# every length from 0 to 300 bytes and some longer, sealed apart and in
# place, and checks that a flipped bit of AAD, ciphertext or tag is
# refused.  Every buffer has its exact size, so a read or write past its end
# fails the run.  The server's own known-answer test covers fewer lengths.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('gcm_fast');
my ($includes) = $node->config_data('--includedir-server');
my $src = __FILE__ =~ s{[^/]+$}{}r;
my $exe = PostgreSQL::Test::Utils::tempdir() . '/gcm_fast_check';
my $cc = $ENV{CC} // 'cc';

my ($stdout, $stderr);
my $built = IPC::Run::run(
	[
		$cc, '-O1', '-g', '-Wall', '-Werror',
		'-fsanitize=address,undefined', '-fno-sanitize-recover=all',
		"-I${src}../../src", "-I$includes",
		"${src}gcm_fast_check.c", "${src}../../src/crypto/gcm_fast.c",
		'-lcrypto', '-o', $exe
	],
	'>', \$stdout, '2>', \$stderr);
ok($built, 'the check builds with AddressSanitizer and UBSan') or diag($stderr);

$ENV{ASAN_OPTIONS} = 'detect_leaks=0';
my $ran = IPC::Run::run([$exe], '>', \$stdout, '2>', \$stderr);
ok($ran, 'it runs to the end') or diag($stderr);
SKIP:
{
	skip 'the CPU lacks AES-NI, PCLMULQDQ or SSE4.1', 1 if $stdout =~ /^skip/;
	like($stdout, qr/^ok: 1220 messages agree with EVP AES-256-GCM$/m,
		'every message agrees with EVP AES-256-GCM');
}

done_testing();
