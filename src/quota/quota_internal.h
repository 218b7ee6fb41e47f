/*-------------------------------------------------------------------------
 *
 * quota_internal.h
 *	  Declarations shared by the files of the quota module only: its
 *	  settings, the shared table of token buckets and the helpers around it.
 *
 * Shared memory of the module ("heliosdb quota"):
 *	- one global token bucket, protected by its own spinlock;
 *	- a fixed-size open-addressing hash table of rate-limit entries, one per
 *	  tenant, API key or client address in use.  Its size comes from
 *	  heliosdb.rate_limit_max_entries; it never grows.
 *
 * Locking protocol of the table (tranche "heliosdb quota", one LWLock):
 *	- finding an entry takes the LWLock in shared mode; the entry's
 *	  counters are then read and changed under the entry's spinlock only;
 *	- adding or removing entries takes the LWLock exclusively, which also
 *	  excludes every spinlock holder (they all hold the LWLock shared);
 *	- no lock is held beyond one check: never across statements, never
 *	  while raising an error.
 * Entries move when others are removed (backward-shift deletion), so a
 * pointer to an entry is valid only while the LWLock is held.
 *
 *-------------------------------------------------------------------------
 */
#ifndef QUOTA_INTERNAL_H
#define QUOTA_INTERNAL_H

#include "datatype/timestamp.h"
#include "libpq/libpq-be.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "tenant/hdb_tenant.h"

/* Settings (quota.c); rates are per second, 0 means "no limit". */
extern double hdb_default_qps_limit;
extern double hdb_rate_limit_per_apikey;
extern double hdb_rate_limit_per_ip;
extern double hdb_rate_limit_global;
extern int	hdb_rate_limit_burst;
extern char *hdb_rate_limit_exempt_roles;
extern int	hdb_rate_limit_max_entries;
extern int	hdb_ban_after_violations;
extern int	hdb_ban_duration;	/* minutes */
extern double hdb_connection_rate_per_ip;
extern int	hdb_default_storage_quota;	/* MB */
extern int	hdb_quota_max_tenants;
extern int	hdb_quota_refresh_interval;	/* ms */
extern char *hdb_quota_database;

/* What a rate-limit entry is kept for. */
typedef enum QuotaKeyKind
{
	QUOTA_KEY_TENANT = 1,		/* tenant name */
	QUOTA_KEY_APIKEY,			/* API key id (context user id) */
	QUOTA_KEY_IP,				/* client address: family byte + address */
	QUOTA_KEY_BENCH				/* _rate_limit_bench()'s own entry */
} QuotaKeyKind;

#define QUOTA_KEY_MAX HDB_USER_ID_MAX

typedef struct QuotaKey
{
	uint8		kind;			/* QuotaKeyKind */
	uint16		len;			/* bytes used in data */
	char		data[QUOTA_KEY_MAX];
} QuotaKey;

/* A token bucket: "tokens" as of "last", refilled at "rate" per second. */
typedef struct QuotaBucket
{
	double		tokens;
	TimestampTz last;
	double		rate;			/* rate of the last check, for display */
} QuotaBucket;

typedef struct QuotaEntry
{
	bool		used;
	uint32		hash;
	QuotaKey	key;
	slock_t		mutex;			/* protects everything below */
	QuotaBucket stmt;			/* statements */
	uint64		allowed;
	uint64		rejected;
	TimestampTz last_seen;
	/* Client addresses only. */
	QuotaBucket conn;			/* connections */
	int			violations;		/* rejections since violation_start */
	TimestampTz violation_start;
	TimestampTz banned_until;	/* 0 when not banned */
} QuotaEntry;

typedef struct QuotaShared
{
	LWLock	   *lock;			/* protects the table's layout */
	slock_t		global_mutex;
	QuotaBucket global;
	uint64		global_allowed;
	uint64		global_rejected;
	int			max_entries;	/* entries allowed in use */
	int			nslots;			/* power of two, > max_entries */
	int			nused;
	QuotaEntry	slots[FLEXIBLE_ARRAY_MEMBER];
} QuotaShared;

/* NULL until shared memory is attached (or when not preloaded). */
extern QuotaShared *hdb_quota_shared;

/* Result of taking a token. */
typedef struct QuotaVerdict
{
	bool		allowed;
	double		retry_after;	/* seconds until one token is available */
} QuotaVerdict;

/* bucket.c */
extern Size hdb_quota_shmem_size(void);
extern void hdb_quota_shmem_attach(void *ptr, bool found);
extern void hdb_quota_key_text(QuotaKey *key, QuotaKeyKind kind,
							   const char *text);
extern bool hdb_quota_key_from_addr(QuotaKey *key, const SockAddr *addr);
extern QuotaVerdict hdb_quota_take(const QuotaKey *key, double rate,
								   TimestampTz now);
extern QuotaVerdict hdb_quota_take_global(double rate, TimestampTz now);
extern void hdb_quota_record_violation(const QuotaKey *ip, TimestampTz now);
extern TimestampTz hdb_quota_check_connection(const QuotaKey *ip,
											  TimestampTz now,
											  QuotaVerdict *verdict);
extern bool hdb_quota_unban(const QuotaKey *ip);
extern int	hdb_quota_copy_entries(QuotaEntry **entries, QuotaEntry *server);
extern void hdb_quota_forget_all(void);
extern void hdb_quota_forget(const QuotaKey *key);
extern double hdb_quota_tokens_now(const QuotaBucket *b, TimestampTz now);

/* A tenant's own limits from the registry (tenant_limits.c). */
typedef struct HdbTenantLimits
{
	int64		storage_quota;	/* bytes; -1 when unset */
	int32		qps_limit;		/* statements per second; 0 when unset */
} HdbTenantLimits;

extern const HdbTenantLimits *hdb_tenant_limits(const char *name);

/* ratelimit.c */
extern void hdb_ratelimit_init(void);
extern char *hdb_quota_key_display(const QuotaKey *key);
extern char *hdb_quota_retry_text(double seconds);
extern bool hdb_check_exempt_roles(char **newval, void **extra,
								   GucSource source);
extern void hdb_assign_exempt_roles(const char *newval, void *extra);

/* ban.c */
extern void hdb_ban_init(void);

/* usage.c */
extern void hdb_usage_init(void);
extern uint64 hdb_schema_generation(void);
extern bool hdb_schemas_changed_in_xact(void);
extern bool hdb_usage_lookup(const char *tenant, int64 *bytes, bool *overflow);
extern int	hdb_usage_refresh(void);

/* storage.c */
struct QueryDesc;
extern void hdb_storage_init(void);
extern void hdb_storage_check_query(struct QueryDesc *queryDesc, int eflags);
extern void hdb_storage_check_utility(Node *stmt);

/* worker.c */
extern void hdb_quota_worker_register(void);

#endif							/* QUOTA_INTERNAL_H */
