# test/lib.sh: shell functions shared by test/run_all.sh and test/demo.sh.
#
# They install what heliosdb needs from Debian, build and install it, and
# run throwaway PostgreSQL 15 clusters as an unprivileged user (PostgreSQL
# refuses root) with a private socket directory and no TCP listener.

HDB_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl libipc-run-perl libssl-dev
	make gcc python3 python3-jwt python3-cryptography libkrb5-dev
	postgresql-15-pgaudit bc libfaketime"

# HDB_PG_BINDIR may name a private (relocated) copy of PostgreSQL 15.
PG_BINDIR=${HDB_PG_BINDIR:-/usr/lib/postgresql/15/bin}
export PG_CONFIG="$PG_BINDIR/pg_config"
export PATH="$PG_BINDIR:$PATH"

# The user that owns test clusters; root itself cannot run postgres.
HDB_PGUSER=${HDB_PGUSER:-postgres}

hdb_log() { printf '==> %s\n' "$*"; }
hdb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as $HDB_PGUSER (or as ourselves when we already are not root).
hdb_as_pguser() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$HDB_PGUSER" -- "$@"
	else
		"$@"
	fi
}

hdb_install_packages() {
	local missing=() p
	for p in $HDB_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || hdb_die "missing packages (${missing[*]}); run as root to install them"
	hdb_log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

hdb_build_install() {
	hdb_log "building and installing heliosdb"
	make -s PG_CONFIG="$PG_CONFIG"
	# The server resolves its own symbols at load time; one of ours left
	# undefined means a source file is missing from the build.
	if nm -D --undefined-only heliosdb.so | grep -w 'hdb_[a-z0-9_]*'; then
		hdb_die "heliosdb.so uses heliosdb functions that no source file defines"
	fi
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# hdb_cluster_start DIR: initdb and start a cluster in DIR with heliosdb
# preloaded; sets PGHOST, PGPORT, PGUSER for clients.
hdb_cluster_start() {
	local dir=$1
	mkdir -p "$dir"
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown "$HDB_PGUSER" "$dir"
	# The master key of encrypted tables: a 0600 file outside the data
	# directory, new for every cluster (heliosdb.keyring = file).
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/master.key")
	[ "$(id -u)" -eq 0 ] && chown "$HDB_PGUSER" "$dir/master.key"
	hdb_as_pguser "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
		--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; hdb_die "initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<EOF
shared_preload_libraries = 'heliosdb'
listen_addresses = ''
unix_socket_directories = '$dir'
port = 5432
fsync = off
max_connections = 40
max_prepared_transactions = 5
log_min_messages = warning
heliosdb.keyring = 'file'
heliosdb.keyring_file = '$dir/master.key'
EOF
	hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null ||
		{ cat "$dir/server.log"; hdb_die "server did not start"; }
	export PGHOST=$dir PGPORT=5432 PGUSER=postgres
}

hdb_cluster_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] &&
		hdb_as_pguser "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	return 0
}

# hdb_throwaway_cluster NAME: install what is needed, build and install
# heliosdb, and start a cluster in $work/cluster, where $work is a new
# temporary directory that is stopped and removed when the script exits.
hdb_throwaway_cluster() {
	hdb_install_packages
	hdb_build_install >/dev/null
	work=$(mktemp -d "/tmp/heliosdb-$1.XXXXXX")
	chmod 755 "$work"
	trap 'hdb_cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
	hdb_cluster_start "$work/cluster" >/dev/null
}
