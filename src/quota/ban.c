/*-------------------------------------------------------------------------
 *
 * ban.c
 *	  Connection-time limits per client address: bans and the connection
 *	  rate, checked in ClientAuthentication_hook; heliosdb.unban().
 *
 * An address is banned for heliosdb.ban_duration once
 * heliosdb.ban_after_violations of its statements or connections were
 * refused by rate limits within one minute (bucket.c counts them).  Its new
 * connections are then refused with invalid_authorization_specification
 * (28000); sessions already open keep running under the rate limits.
 * Unix-domain connections have no address and are never banned.
 *
 * The hook runs before a database is selected: it only looks at shared
 * memory (briefly, under the table's LWLock) and never blocks otherwise.
 * A full table refuses the connection (fail closed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include "fmgr.h"
#include "libpq/auth.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "audit/hdb_audit.h"
#include "quota/quota_internal.h"

static ClientAuthentication_hook_type prev_ClientAuthentication = NULL;

static void quota_ClientAuthentication(Port *port, int status);

void
hdb_ban_init(void)
{
	prev_ClientAuthentication = ClientAuthentication_hook;
	ClientAuthentication_hook = quota_ClientAuthentication;
}

/*
 * Refuse connections from banned addresses and beyond the connection rate;
 * then hand over to the previous hook.
 */
static void
quota_ClientAuthentication(Port *port, int status)
{
	QuotaKey	key;

	if (hdb_quota_shared != NULL && port != NULL &&
		hdb_quota_key_from_addr(&key, &port->raddr))
	{
		TimestampTz now = GetCurrentTimestamp();
		QuotaVerdict v;
		TimestampTz banned_until;

		banned_until = hdb_quota_check_connection(&key, now, &v);
		if (banned_until != 0)
		{
			hdb_audit_event(HDB_AUDIT_QUOTA_EXCEEDED, "connection",
							HDB_AUDIT_DENIED,
							psprintf("ip %s", hdb_quota_key_display(&key)),
							"28000", "address banned");
			ereport(FATAL,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("connections from address \"%s\" are banned",
							hdb_quota_key_display(&key)),
					 errdetail("The ban ends at %s.",
							   timestamptz_to_str(banned_until))));
		}
		if (!v.allowed)
		{
			hdb_quota_record_violation(&key, now);
			hdb_audit_event(HDB_AUDIT_QUOTA_EXCEEDED, "connection",
							HDB_AUDIT_DENIED,
							psprintf("ip %s", hdb_quota_key_display(&key)),
							"53400", "connection rate limit");
			ereport(FATAL,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many connections from address \"%s\"",
							hdb_quota_key_display(&key)),
					 errhint("The limit is %g connections per second with bursts of up to %d; retry in %s.",
							 hdb_connection_rate_per_ip, hdb_rate_limit_burst,
							 hdb_quota_retry_text(v.retry_after))));
		}
	}

	if (prev_ClientAuthentication)
		prev_ClientAuthentication(port, status);
}

/*
 * unban(address inet): lift the ban of one address.  Returns whether it was
 * banned.
 */
PG_FUNCTION_INFO_V1(hdb_unban);
Datum
hdb_unban(PG_FUNCTION_ARGS)
{
	inet	   *addr = PG_GETARG_INET_PP(0);
	QuotaKey	key;
	int			family = ip_family(addr);
	int			maxbits = family == PGSQL_AF_INET ? 32 : 128;
	unsigned char *bytes = ip_addr(addr);

	if (hdb_quota_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heliosdb shared memory is not initialized"),
				 errhint("Add heliosdb to shared_preload_libraries and restart the server.")));
	if (ip_bits(addr) != maxbits)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot unban a network"),
				 errdetail("Bans apply to single addresses; \"%s\" has a netmask of %d bits.",
						   DatumGetCString(DirectFunctionCall1(inet_out,
															   PointerGetDatum(addr))),
						   ip_bits(addr))));

	memset(&key, 0, sizeof(key));
	key.kind = QUOTA_KEY_IP;
	if (family == PGSQL_AF_INET)
	{
		key.data[0] = 4;
		memcpy(key.data + 1, bytes, 4);
		key.len = 5;
	}
	else
	{
		static const unsigned char v4mapped[12] =
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		if (memcmp(bytes, v4mapped, 12) == 0)
		{
			key.data[0] = 4;
			memcpy(key.data + 1, bytes + 12, 4);
			key.len = 5;
		}
		else
		{
			key.data[0] = 6;
			memcpy(key.data + 1, bytes, 16);
			key.len = 17;
		}
	}
	PG_RETURN_BOOL(hdb_quota_unban(&key));
}
