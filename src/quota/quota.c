/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Set-up of heliosdb's quota module: its settings, its shared memory
 *	  and the init functions of its parts.
 *
 * Parts: bucket.c (token buckets in shared memory), ratelimit.c (statement
 * rate limits and the executor/utility hooks), ban.c (connection-time bans
 * and connection rate), tenant_limits.c (a tenant's own limits from the
 * registry), usage.c (measured storage usage in shared memory), storage.c
 * (storage quota enforcement) and worker.c (the refresh worker).
 *
 * Limits are PGC_SIGHUP: every backend applies a new value once it has
 * reloaded its configuration.  The size of the shared table is fixed at
 * server start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "common/hdb_common.h"
#include "quota/hdb_quota.h"
#include "quota/quota_internal.h"

double		hdb_default_qps_limit = 100;
double		hdb_rate_limit_per_apikey = 1000;
double		hdb_rate_limit_per_ip = 100;
double		hdb_rate_limit_global = 10000;
int			hdb_rate_limit_burst = 200;
char	   *hdb_rate_limit_exempt_roles = NULL;
int			hdb_rate_limit_max_entries = 4096;
int			hdb_ban_after_violations = 10;
int			hdb_ban_duration = 60;
double		hdb_connection_rate_per_ip = 20;
int			hdb_default_storage_quota = 10240;
int			hdb_quota_max_tenants = 1024;
int			hdb_quota_refresh_interval = 5000;
char	   *hdb_quota_database = NULL;

static void
define_rate(const char *name, const char *desc, double *var, double dflt)
{
	DefineCustomRealVariable(name, desc,
							 "Zero means no limit.",
							 var, dflt, 0, 1e9,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void
define_gucs(void)
{
	define_rate("heliosdb.default_qps_limit",
				"Statements per second of a tenant whose registry entry sets no qps_limit.",
				&hdb_default_qps_limit, 100);
	define_rate("heliosdb.rate_limit_per_apikey",
				"Statements per second of the sessions logged in with one API key.",
				&hdb_rate_limit_per_apikey, 1000);
	define_rate("heliosdb.rate_limit_per_ip",
				"Statements per second of the sessions from one client address.",
				&hdb_rate_limit_per_ip, 100);
	define_rate("heliosdb.rate_limit_global",
				"Statements per second of all limited sessions together.",
				&hdb_rate_limit_global, 10000);
	define_rate("heliosdb.connection_rate_per_ip",
				"New connections per second from one client address.",
				&hdb_connection_rate_per_ip, 20);

	DefineCustomIntVariable("heliosdb.rate_limit_burst",
							"Tokens a rate-limit bucket holds at most.",
							"Statements (or connections) allowed at once after a quiet period.",
							&hdb_rate_limit_burst, 200, 1, 1000000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.rate_limit_exempt_roles",
							   "Roles whose members are exempt from rate limits.",
							   "Superusers are always exempt.",
							   &hdb_rate_limit_exempt_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   hdb_check_exempt_roles, hdb_assign_exempt_roles,
							   NULL);
	DefineCustomIntVariable("heliosdb.rate_limit_max_entries",
							"Tenants, API keys and client addresses tracked at once.",
							"When all are in use, new ones are refused.",
							&hdb_rate_limit_max_entries, 4096, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.ban_after_violations",
							"Rate-limit refusals within a minute that ban a client address.",
							"Zero disables bans.",
							&hdb_ban_after_violations, 10, 0, 1000000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.ban_duration",
							"How long a banned client address stays banned.",
							NULL,
							&hdb_ban_duration, 60, 1, 1000000,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);

	DefineCustomIntVariable("heliosdb.default_storage_quota",
							"Storage quota of a tenant whose registry entry sets none.",
							NULL,
							&hdb_default_storage_quota, 10240, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.quota_refresh_interval",
							"Time between two refreshes of tenant storage usage by the quota worker.",
							NULL,
							&hdb_quota_refresh_interval, 5000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("heliosdb.quota_max_tenants",
							"Tenants whose storage usage is kept in shared memory, over all databases.",
							"Tenants that do not fit are refused writes.",
							&hdb_quota_max_tenants, 1024, 1, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("heliosdb.quota_database",
							   "Database whose tenants' storage usage the quota worker refreshes.",
							   "An empty string starts no worker.",
							   &hdb_quota_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_quota_init(void)
{
	define_gucs();
	hdb_shmem_register("heliosdb quota", hdb_quota_shmem_size,
					   hdb_quota_shmem_attach, 1);
	hdb_ratelimit_init();
	hdb_ban_init();
	hdb_usage_init();
	hdb_storage_init();
	if (hdb_quota_database[0] != '\0')
		hdb_quota_worker_register();
}
