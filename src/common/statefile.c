/*-------------------------------------------------------------------------
 *
 * statefile.c
 *	  Durable state files in the data directory: an array of fixed-size
 *	  records that shared memory is rebuilt from at server start.
 *
 * Layout: a header (magic, version, record count), the records, and a
 * CRC-32C of both.  A file is written under "<name>.tmp" and moved into
 * place with durable_rename(), so a crash leaves either the old file or
 * the new one, never a torn one; a file whose header or checksum does not
 * match is reported as damaged, never half read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "port/pg_crc32c.h"
#include "storage/fd.h"

#include "common/hdb_common.h"

typedef struct StateFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		count;
} StateFileHeader;

/* No state file of ours is anywhere near this; larger ones are damaged. */
#define STATEFILE_MAX_BYTES (64 * 1024 * 1024)

static pg_crc32c
statefile_crc(const StateFileHeader *hdr, const void *records, Size len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, hdr, sizeof(*hdr));
	COMP_CRC32C(crc, records, len);
	FIN_CRC32C(crc);
	return crc;
}

/*
 * Replace state file "name" by "count" records of "recsize" bytes.  Returns
 * false after a WARNING (with "detail" saying what is at stake) when the
 * file could not be written; the previous file then stays in place.
 */
bool
hdb_statefile_write(const char *name, uint32 magic, uint32 version,
					const void *records, uint32 count, Size recsize,
					const char *detail)
{
	StateFileHeader hdr;
	pg_crc32c	crc;
	char		tmp[MAXPGPATH];
	Size		len = (Size) count * recsize;
	int			fd;
	bool		ok;

	hdr.magic = magic;
	hdr.version = version;
	hdr.count = count;
	crc = statefile_crc(&hdr, records, len);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);

	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	ok = fd >= 0;
	if (ok)
	{
		errno = 0;
		ok = write(fd, &hdr, sizeof(hdr)) == sizeof(hdr) &&
			(len == 0 || write(fd, records, len) == len) &&
			write(fd, &crc, sizeof(crc)) == sizeof(crc);
		if (!ok && errno == 0)
			errno = ENOSPC;
		if (CloseTransientFile(fd) != 0)
			ok = false;
	}
	if (!ok)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp),
				 errdetail_internal("%s", detail)));
		return false;
	}
	return durable_rename(tmp, name, WARNING) == 0;
}

/*
 * Read state file "name".  Returns its records, palloc'd, and their number
 * in *count; NULL with *damaged false when there is no file (or it cannot
 * be read, which is logged), NULL with *damaged true when it is not a
 * valid file of this magic, version and record size.
 */
void *
hdb_statefile_read(const char *name, uint32 magic, uint32 version,
				   Size recsize, uint32 *count, bool *damaged)
{
	FILE	   *f;
	StateFileHeader hdr;
	char	   *buf = NULL;
	pg_crc32c	file_crc;
	Size		len = 0;

	*count = 0;
	*damaged = false;
	f = AllocateFile(name, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", name)));
		return NULL;
	}

	if (fread(&hdr, sizeof(hdr), 1, f) != 1 ||
		hdr.magic != magic || hdr.version != version ||
		hdr.count > STATEFILE_MAX_BYTES / recsize)
		goto bad_file;
	len = (Size) hdr.count * recsize;
	buf = palloc(Max(len, 1));
	if ((len > 0 && fread(buf, 1, len, f) != len) ||
		fread(&file_crc, sizeof(file_crc), 1, f) != 1 ||
		!EQ_CRC32C(statefile_crc(&hdr, buf, len), file_crc))
		goto bad_file;

	FreeFile(f);
	*count = hdr.count;
	return buf;

bad_file:
	if (buf != NULL)
	{
		explicit_bzero(buf, len);
		pfree(buf);
	}
	FreeFile(f);
	*damaged = true;
	return NULL;
}
