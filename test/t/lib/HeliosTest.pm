# test/t/lib/HeliosTest.pm: helpers shared by heliosdb's TAP tests.
# Tests run from the top of the tree and load it with
#   use lib 'test/t/lib';
#   use HeliosTest qw(master_key_file encrypted_node);
package HeliosTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT_OK = qw(random_key master_key_file encrypted_node);

# A fresh random 256-bit key as 64 hexadecimal digits.
sub random_key
{
	open(my $rnd, '<:raw', '/dev/urandom') or die "urandom: $!";
	read($rnd, my $bytes, 32) == 32 or die 'short read';
	close $rnd;
	return unpack('H*', $bytes);
}

# A master key for heliosdb.keyring_file, the given one (64 hex digits) or
# a fresh random one: a 0600 file in a new temporary directory (outside
# any data directory).  Returns the file's path and the key.
sub master_key_file
{
	my ($key) = @_;
	my $path = PostgreSQL::Test::Utils::tempdir . '/master.key';

	$key //= random_key();
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "$key\n";
	close $fh;
	chmod 0600, $path or die "chmod $path: $!";
	return ($path, $key);
}

# A started node named $name with heliosdb preloaded and the file keyring
# $keyfile, the postgresql.conf lines $conf added (if any); %init goes to
# init (allows_streaming, say).
sub encrypted_node
{
	my ($name, $keyfile, $conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%init);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heliosdb'
heliosdb.keyring = 'file'
heliosdb.keyring_file = '$keyfile'
} . ($conf // ''));
	$node->start;
	return $node;
}

1;
