/*-------------------------------------------------------------------------
 *
 * keyring.c
 *	  Master key providers: heliosdb.keyring = file | env | command.
 *
 * Each provider yields the 256-bit master key as 64 hexadecimal characters,
 * optionally followed by a newline.  The key is read at each use (when a
 * data key is created, unwrapped or re-wrapped), never at server start, and
 * is wiped from memory by the caller once used.  Nothing read from a
 * keyring appears in any message: errors name the provider and the problem
 * only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port.h"
#include "storage/fd.h"
#include "utils/guc.h"

#include "common/hdb_codec.h"
#include "crypto/hdb_crypto.h"

#define HDB_KEY_ENV		"HELIOSDB_ENCRYPTION_KEY"

/* Largest keyring output we read: 64 hex digits and a line end. */
#define KEYRING_MAX_INPUT	80

typedef enum HdbKeyring
{
	HDB_KEYRING_NONE,
	HDB_KEYRING_FILE,
	HDB_KEYRING_ENV,
	HDB_KEYRING_COMMAND
} HdbKeyring;

static const struct config_enum_entry keyring_options[] = {
	{"none", HDB_KEYRING_NONE, false},
	{"file", HDB_KEYRING_FILE, false},
	{"env", HDB_KEYRING_ENV, false},
	{"command", HDB_KEYRING_COMMAND, false},
	{NULL, 0, false}
};

static int	hdb_keyring = HDB_KEYRING_NONE;
static char *hdb_keyring_file = NULL;
static char *hdb_keyring_command = NULL;
static char *hdb_keyring_previous_file = NULL;
static char *hdb_keyring_previous_command = NULL;

#define HDB_PREVIOUS_KEY_ENV	"HELIOSDB_ENCRYPTION_KEY_PREVIOUS"

void
hdb_keyring_init(void)
{
	DefineCustomEnumVariable("heliosdb.keyring",
							 "Provider of the master key that wraps table data keys.",
							 "One of none, file, env (HELIOSDB_ENCRYPTION_KEY) or command.",
							 &hdb_keyring,
							 HDB_KEYRING_NONE,
							 keyring_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.keyring_file",
							   "File holding the master key when heliosdb.keyring is file.",
							   "It must have mode 0600 or stricter and lie outside the data directory.",
							   &hdb_keyring_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.keyring_command",
							   "Shell command printing the master key when heliosdb.keyring is command.",
							   NULL,
							   &hdb_keyring_command,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.keyring_previous_file",
							   "File holding the previous master key during a master key rotation (keyring file).",
							   NULL,
							   &hdb_keyring_previous_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.keyring_previous_command",
							   "Command printing the previous master key during a master key rotation (keyring command).",
							   NULL,
							   &hdb_keyring_previous_command,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/*
 * Decode 64 hex digits, optionally followed by one newline, into key.
 * Returns false for anything else.
 */
static bool
parse_key(const char *buf, int len, uint8 *key)
{
	int			i;

	if (len == 2 * HDB_KEY_LEN + 1 && buf[len - 1] == '\n')
		len--;
	if (len != 2 * HDB_KEY_LEN)
		return false;
	for (i = 0; i < HDB_KEY_LEN; i++)
	{
		int			hi = hdb_hex_digit(buf[2 * i]);
		int			lo = hdb_hex_digit(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			explicit_bzero(key, HDB_KEY_LEN);
			return false;
		}
		key[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

static void
invalid_key(const char *source)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s does not yield a valid master key", source),
			 errdetail("The master key must be 64 hexadecimal characters, optionally followed by a newline.")));
}

/* Is path (already resolved) the data directory or inside it? */
static bool
inside_data_directory(const char *path)
{
	char	   *datadir = realpath(DataDir, NULL);
	size_t		n;
	bool		inside;

	if (datadir == NULL)
		return false;
	n = strlen(datadir);
	inside = strncmp(path, datadir, n) == 0 &&
		(path[n] == '/' || path[n] == '\0');
	free(datadir);
	return inside;
}

static void
read_key_file(const char *path, uint8 *key)
{
	char		resolved[MAXPGPATH];
	char	   *real;
	char		buf[KEYRING_MAX_INPUT + 1];
	struct stat st;
	int			fd;
	int			len;
	bool		ok;

	if (path == NULL || path[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb.keyring is \"file\" but heliosdb.keyring_file is not set"),
				 errhint("Set heliosdb.keyring_file to a file outside the data directory holding the master key, with mode 0600.")));
	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb.keyring_file must be an absolute path")));
	real = realpath(path, NULL);
	if (real == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not access keyring file \"%s\": %m",
						path),
				 errhint("Set heliosdb.keyring_file to the path of the master key file.")));
	strlcpy(resolved, real, sizeof(resolved));
	free(real);
	if (inside_data_directory(resolved))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("keyring file \"%s\" is inside the data directory",
						path),
				 errdetail("A key stored with the data would be copied with every backup of it."),
				 errhint("Move the master key file outside the data directory.")));

	fd = OpenTransientFile(resolved, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open keyring file \"%s\": %m",
						path),
				 errhint("The file must be readable by the database server's operating system user.")));
	if (fstat(fd, &st) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat keyring file \"%s\": %m",
						path)));
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("keyring file \"%s\" has group or world access or is not a regular file",
						path),
				 errdetail("The master key file must be a regular file with mode 0600 or stricter."),
				 errhint("Run chmod 600 on the file.")));
	}
	len = read(fd, buf, sizeof(buf));
	CloseTransientFile(fd);
	if (len < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read keyring file \"%s\": %m",
						path)));
	ok = parse_key(buf, len, key);
	explicit_bzero(buf, sizeof(buf));
	if (!ok)
		invalid_key("keyring file");
}

static void
read_key_env(const char *var, uint8 *key)
{
	const char *value = getenv(var);

	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb.keyring is \"env\" but environment variable %s is not set",
						var),
				 errhint("Set %s in the environment of the server before it starts.",
						 var)));
	if (!parse_key(value, strlen(value), key))
		invalid_key(psprintf("environment variable %s", var));
}

static void
read_key_command(const char *command, uint8 *key)
{
	char		buf[KEYRING_MAX_INPUT + 1];
	FILE	   *fh;
	size_t		len;
	int			rc;
	bool		ok;

	if (command == NULL || command[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb.keyring is \"command\" but heliosdb.keyring_command is not set"),
				 errhint("Set heliosdb.keyring_command to a command that prints the master key.")));

	fflush(NULL);
	fh = OpenPipeStream(command, "r");
	if (fh == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not execute keyring command: %m")));
	len = fread(buf, 1, sizeof(buf), fh);
	/* drain anything longer so that the command does not block on a pipe */
	if (len == sizeof(buf))
	{
		char		sink[256];

		while (fread(sink, 1, sizeof(sink), fh) > 0)
			;
		explicit_bzero(sink, sizeof(sink));
	}
	rc = ClosePipeStream(fh);
	if (rc != 0)
	{
		explicit_bzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("keyring command failed"),
				 errdetail("The command %s.", wait_result_to_str(rc)),
				 errhint("Check heliosdb.keyring_command.")));
	}
	ok = parse_key(buf, (int) len, key);
	explicit_bzero(buf, sizeof(buf));
	if (!ok)
		invalid_key("keyring command");
}

/*
 * Read the master key into key (HDB_KEY_LEN bytes).  The caller wipes it
 * with explicit_bzero as soon as it has used it.
 */
void
hdb_keyring_read(uint8 *key)
{
	switch (hdb_keyring)
	{
		case HDB_KEYRING_FILE:
			read_key_file(hdb_keyring_file, key);
			break;
		case HDB_KEYRING_ENV:
			read_key_env(HDB_KEY_ENV, key);
			break;
		case HDB_KEYRING_COMMAND:
			read_key_command(hdb_keyring_command, key);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no encryption keyring is configured"),
					 errhint("Set heliosdb.keyring to file, env or command in postgresql.conf and reload the configuration.")));
	}
}

/* Fail unless the configured keyring yields a valid master key now. */
void
hdb_keyring_check(void)
{
	uint8		key[HDB_KEY_LEN];

	hdb_keyring_read(key);
	explicit_bzero(key, sizeof(key));
}

/*
 * Read the previous master key, configured only while a master key
 * rotation is under way: heliosdb.keyring_previous_file or
 * heliosdb.keyring_previous_command, or HELIOSDB_ENCRYPTION_KEY_PREVIOUS,
 * for the provider kind of heliosdb.keyring.  Returns false when none is
 * configured; errors like hdb_keyring_read when one is but fails.
 */
bool
hdb_keyring_read_previous(uint8 *key)
{
	const char *env;

	switch (hdb_keyring)
	{
		case HDB_KEYRING_FILE:
			if (hdb_keyring_previous_file == NULL ||
				hdb_keyring_previous_file[0] == '\0')
				return false;
			read_key_file(hdb_keyring_previous_file, key);
			return true;
		case HDB_KEYRING_ENV:
			env = getenv(HDB_PREVIOUS_KEY_ENV);
			if (env == NULL || env[0] == '\0')
				return false;
			read_key_env(HDB_PREVIOUS_KEY_ENV, key);
			return true;
		case HDB_KEYRING_COMMAND:
			if (hdb_keyring_previous_command == NULL ||
				hdb_keyring_previous_command[0] == '\0')
				return false;
			read_key_command(hdb_keyring_previous_command, key);
			return true;
		default:
			return false;
	}
}
