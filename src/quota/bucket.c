/*-------------------------------------------------------------------------
 *
 * bucket.c
 *	  Token buckets in shared memory: the global bucket and a fixed-size
 *	  hash table with one entry per tenant, API key or client address.
 *
 * A bucket holds at most heliosdb.rate_limit_burst tokens and gains "rate"
 * tokens per second; a statement (or connection) takes one token or is
 * refused.  Refill is computed lazily from the time of the previous check,
 * so nothing runs between checks.
 *
 * The table is open addressing with linear probing.  It is sized once, at
 * server start, for heliosdb.rate_limit_max_entries entries.  When it is
 * full, entries that carry no information (bucket full again, no recent
 * violation, no ban) are removed; if none is, the check fails closed: the
 * caller is refused with an error saying that the table is full.  The
 * locking protocol is described in quota_internal.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "common/hdb_common.h"
#include "quota/quota_internal.h"

QuotaShared *hdb_quota_shared = NULL;

/* Violations older than this no longer count towards a ban. */
#define VIOLATION_WINDOW_USECS	(60 * USECS_PER_SEC)

static int
table_slots(void)
{
	int			nslots = 16;

	/* At most half full, so that probe sequences stay short. */
	while (nslots < 2 * hdb_rate_limit_max_entries)
		nslots <<= 1;
	return nslots;
}

Size
hdb_quota_shmem_size(void)
{
	return add_size(offsetof(QuotaShared, slots),
					mul_size(table_slots(), sizeof(QuotaEntry)));
}

void
hdb_quota_shmem_attach(void *ptr, bool found)
{
	QuotaShared *shared = (QuotaShared *) ptr;

	if (!found)
	{
		memset(shared, 0, hdb_quota_shmem_size());
		SpinLockInit(&shared->global_mutex);
		shared->max_entries = hdb_rate_limit_max_entries;
		shared->nslots = table_slots();
		for (int i = 0; i < shared->nslots; i++)
			SpinLockInit(&shared->slots[i].mutex);
	}
	shared->lock = &(hdb_shmem_lwlocks("heliosdb quota")[0].lock);
	hdb_quota_shared = shared;
}

/*
 * Build the key of a tenant or an API key from its name.
 */
void
hdb_quota_key_text(QuotaKey *key, QuotaKeyKind kind, const char *text)
{
	size_t		len = strnlen(text, QUOTA_KEY_MAX);

	memset(key, 0, sizeof(QuotaKey));
	key->kind = kind;
	key->len = len;
	memcpy(key->data, text, len);
}

/*
 * Build the key of a client address.  Returns false for connections that
 * have no IP address (Unix-domain sockets).  An IPv4 address mapped into
 * IPv6 counts as the IPv4 address.
 */
bool
hdb_quota_key_from_addr(QuotaKey *key, const SockAddr *addr)
{
	const struct sockaddr *sa = (const struct sockaddr *) &addr->addr;

	memset(key, 0, sizeof(QuotaKey));
	key->kind = QUOTA_KEY_IP;
	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		key->data[0] = 4;
		memcpy(key->data + 1, &in->sin_addr, 4);
		key->len = 5;
		return true;
	}
	if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
		const unsigned char *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		{
			key->data[0] = 4;
			memcpy(key->data + 1, b + 12, 4);
			key->len = 5;
		}
		else
		{
			key->data[0] = 6;
			memcpy(key->data + 1, b, 16);
			key->len = 17;
		}
		return true;
	}
	return false;
}

static uint32
key_hash(const QuotaKey *key)
{
	return hash_combine(hash_bytes((const unsigned char *) key->data,
								   key->len),
						(uint32) key->kind);
}

static bool
key_equal(const QuotaKey *a, const QuotaKey *b)
{
	return a->kind == b->kind && a->len == b->len &&
		memcmp(a->data, b->data, a->len) == 0;
}

/*
 * Slot of the entry for "key", or -1.  Caller holds the LWLock.
 */
static int
table_find(const QuotaKey *key, uint32 hash)
{
	QuotaShared *s = hdb_quota_shared;
	int			mask = s->nslots - 1;

	for (int i = hash & mask;; i = (i + 1) & mask)
	{
		QuotaEntry *e = &s->slots[i];

		if (!e->used)
			return -1;
		if (e->hash == hash && key_equal(&e->key, key))
			return i;
	}
}

/* Refill a bucket up to "burst" tokens for the time elapsed until "now". */
static void
bucket_refill(QuotaBucket *b, double rate, int burst, TimestampTz now)
{
	if (b->last == 0)
	{
		b->tokens = burst;
		b->last = now;
	}
	else if (now > b->last)
	{
		b->tokens += (double) (now - b->last) / USECS_PER_SEC * rate;
		b->last = now;
	}
	if (b->tokens > burst)
		b->tokens = burst;
	b->rate = rate;
}

/* Take one token from a bucket, refilled first. */
static QuotaVerdict
bucket_take(QuotaBucket *b, double rate, int burst, TimestampTz now)
{
	QuotaVerdict v;

	bucket_refill(b, rate, burst, now);
	if (b->tokens >= 1.0)
	{
		b->tokens -= 1.0;
		v.allowed = true;
		v.retry_after = 0;
	}
	else
	{
		v.allowed = false;
		v.retry_after = (1.0 - b->tokens) / rate;
	}
	return v;
}

/* Would this bucket be full by now, i.e. as good as a new one? */
static bool
bucket_is_full(const QuotaBucket *b, int burst, TimestampTz now)
{
	double		tokens = b->tokens;

	if (b->last == 0)
		return true;
	if (now > b->last)
		tokens += (double) (now - b->last) / USECS_PER_SEC * b->rate;
	return tokens >= burst;
}

/*
 * Can this entry be forgotten without changing any future decision?
 */
static bool
entry_is_idle(const QuotaEntry *e, TimestampTz now)
{
	if (e->banned_until > now)
		return false;
	if (e->violations > 0 && now - e->violation_start < VIOLATION_WINDOW_USECS)
		return false;
	return bucket_is_full(&e->stmt, hdb_rate_limit_burst, now) &&
		bucket_is_full(&e->conn, hdb_rate_limit_burst, now);
}

/*
 * Remove the entry in slot "hole", moving later entries of its probe
 * sequence back so that lookups still find them.  LWLock held exclusively.
 */
static void
table_delete(int hole)
{
	QuotaShared *s = hdb_quota_shared;
	int			mask = s->nslots - 1;
	int			i = hole;

	for (;;)
	{
		QuotaEntry *e;
		int			home;

		i = (i + 1) & mask;
		e = &s->slots[i];
		if (!e->used)
			break;
		home = e->hash & mask;

		/* Move e into the hole unless its home lies in (hole, i]. */
		if (hole <= i ? (home <= hole || home > i) : (home <= hole && home > i))
		{
			s->slots[hole] = *e;
			SpinLockInit(&s->slots[hole].mutex);
			hole = i;
		}
	}
	memset(&s->slots[hole], 0, sizeof(QuotaEntry));
	SpinLockInit(&s->slots[hole].mutex);
	s->nused--;
}

/*
 * Remove every idle entry.  LWLock held exclusively.  After a removal the
 * same slot is looked at again, as another entry may have moved into it.
 */
static int
table_evict_idle(TimestampTz now)
{
	QuotaShared *s = hdb_quota_shared;
	int			removed = 0;
	int			i = 0;

	while (i < s->nslots)
	{
		QuotaEntry *e = &s->slots[i];

		if (e->used && entry_is_idle(e, now))
		{
			table_delete(i);
			removed++;
		}
		else
			i++;
	}
	return removed;
}

/*
 * Find the entry of "key", adding it if missing, and return it with the
 * LWLock held (shared when it existed, exclusive when it was added).  Fails
 * closed: when the table is full of entries in use, the statement is
 * refused.
 */
static QuotaEntry *
table_enter(const QuotaKey *key, TimestampTz now)
{
	QuotaShared *s = hdb_quota_shared;
	uint32		hash = key_hash(key);
	int			mask = s->nslots - 1;
	int			slot;
	QuotaEntry *e;

	LWLockAcquire(s->lock, LW_SHARED);
	slot = table_find(key, hash);
	if (slot >= 0)
		return &s->slots[slot];
	LWLockRelease(s->lock);

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	slot = table_find(key, hash);
	if (slot >= 0)
		return &s->slots[slot];
	if (s->nused >= s->max_entries && table_evict_idle(now) == 0)
	{
		LWLockRelease(s->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("heliosdb rate-limit table is full"),
				 errdetail("All %d entries are in use by active tenants, API keys and client addresses.",
						   s->max_entries),
				 errhint("Increase heliosdb.rate_limit_max_entries and restart the server.")));
	}
	for (slot = hash & mask; s->slots[slot].used; slot = (slot + 1) & mask)
		;
	e = &s->slots[slot];
	e->used = true;
	e->hash = hash;
	e->key = *key;
	s->nused++;
	return e;
}

/*
 * Take a statement token from the bucket of "key" at "rate" per second.
 */
QuotaVerdict
hdb_quota_take(const QuotaKey *key, double rate, TimestampTz now)
{
	QuotaEntry *e = table_enter(key, now);
	QuotaVerdict v;

	SpinLockAcquire(&e->mutex);
	v = bucket_take(&e->stmt, rate, hdb_rate_limit_burst, now);
	if (v.allowed)
		e->allowed++;
	else
		e->rejected++;
	e->last_seen = now;
	SpinLockRelease(&e->mutex);
	LWLockRelease(hdb_quota_shared->lock);
	return v;
}

QuotaVerdict
hdb_quota_take_global(double rate, TimestampTz now)
{
	QuotaShared *s = hdb_quota_shared;
	QuotaVerdict v;

	SpinLockAcquire(&s->global_mutex);
	v = bucket_take(&s->global, rate, hdb_rate_limit_burst, now);
	if (v.allowed)
		s->global_allowed++;
	else
		s->global_rejected++;
	SpinLockRelease(&s->global_mutex);
	return v;
}

/*
 * Count a rejection against a client address; enough of them within a
 * minute ban the address for heliosdb.ban_duration.
 */
void
hdb_quota_record_violation(const QuotaKey *ip, TimestampTz now)
{
	QuotaEntry *e = table_enter(ip, now);

	SpinLockAcquire(&e->mutex);
	if (e->violations == 0 ||
		now - e->violation_start >= VIOLATION_WINDOW_USECS)
	{
		e->violations = 0;
		e->violation_start = now;
	}
	e->violations++;
	if (hdb_ban_after_violations > 0 &&
		e->violations >= hdb_ban_after_violations &&
		e->banned_until <= now)
	{
		e->banned_until = now +
			(TimestampTz) hdb_ban_duration * USECS_PER_MINUTE;
		e->violations = 0;
	}
	e->last_seen = now;
	SpinLockRelease(&e->mutex);
	LWLockRelease(hdb_quota_shared->lock);
}

/*
 * A new connection from "ip": returns the end of its ban, or 0 when it is
 * not banned, in which case a connection token is taken (rate
 * heliosdb.connection_rate_per_ip, 0 for no limit) and the verdict set.
 */
TimestampTz
hdb_quota_check_connection(const QuotaKey *ip, TimestampTz now,
						   QuotaVerdict *verdict)
{
	QuotaEntry *e = table_enter(ip, now);
	TimestampTz banned_until = 0;

	verdict->allowed = true;
	verdict->retry_after = 0;
	SpinLockAcquire(&e->mutex);
	if (e->banned_until > now)
		banned_until = e->banned_until;
	else if (hdb_connection_rate_per_ip > 0)
		*verdict = bucket_take(&e->conn, hdb_connection_rate_per_ip,
							   hdb_rate_limit_burst, now);
	e->last_seen = now;
	SpinLockRelease(&e->mutex);
	LWLockRelease(hdb_quota_shared->lock);
	return banned_until;
}

/*
 * Lift the ban of an address and forget its violations.  Returns whether
 * it was banned.
 */
bool
hdb_quota_unban(const QuotaKey *ip)
{
	QuotaShared *s = hdb_quota_shared;
	TimestampTz now = GetCurrentTimestamp();
	bool		was_banned = false;
	int			slot;

	LWLockAcquire(s->lock, LW_SHARED);
	slot = table_find(ip, key_hash(ip));
	if (slot >= 0)
	{
		QuotaEntry *e = &s->slots[slot];

		SpinLockAcquire(&e->mutex);
		was_banned = e->banned_until > now;
		e->banned_until = 0;
		e->violations = 0;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(s->lock);
	return was_banned;
}

/*
 * Copy every entry in use into a palloc'd array, and the global bucket
 * into *server; returns the number of entries.  For display only.
 */
int
hdb_quota_copy_entries(QuotaEntry **entries, QuotaEntry *server)
{
	QuotaShared *s = hdb_quota_shared;
	QuotaEntry *out = palloc(sizeof(QuotaEntry) * s->max_entries);
	int			n = 0;

	memset(server, 0, sizeof(QuotaEntry));
	SpinLockAcquire(&s->global_mutex);
	server->stmt = s->global;
	server->allowed = s->global_allowed;
	server->rejected = s->global_rejected;
	server->last_seen = s->global.last;
	SpinLockRelease(&s->global_mutex);

	LWLockAcquire(s->lock, LW_SHARED);
	for (int i = 0; i < s->nslots && n < s->max_entries; i++)
	{
		QuotaEntry *e = &s->slots[i];

		if (!e->used)
			continue;
		SpinLockAcquire(&e->mutex);
		out[n] = *e;
		SpinLockRelease(&e->mutex);
		n++;
	}
	LWLockRelease(s->lock);
	*entries = out;
	return n;
}

/*
 * Forget the entry of one key, if there is one.
 */
void
hdb_quota_forget(const QuotaKey *key)
{
	QuotaShared *s = hdb_quota_shared;
	int			slot;

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	slot = table_find(key, key_hash(key));
	if (slot >= 0)
		table_delete(slot);
	LWLockRelease(s->lock);
}

/*
 * Forget every bucket, violation and ban.
 */
void
hdb_quota_forget_all(void)
{
	QuotaShared *s = hdb_quota_shared;

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	for (int i = 0; i < s->nslots; i++)
	{
		memset(&s->slots[i], 0, sizeof(QuotaEntry));
		SpinLockInit(&s->slots[i].mutex);
	}
	s->nused = 0;
	SpinLockAcquire(&s->global_mutex);
	memset(&s->global, 0, sizeof(QuotaBucket));
	s->global_allowed = 0;
	s->global_rejected = 0;
	SpinLockRelease(&s->global_mutex);
	LWLockRelease(s->lock);
}

/*
 * The tokens a bucket would hold now, for display.
 */
double
hdb_quota_tokens_now(const QuotaBucket *b, TimestampTz now)
{
	double		tokens = b->tokens;

	if (b->last == 0)
		return hdb_rate_limit_burst;
	if (now > b->last)
		tokens += (double) (now - b->last) / USECS_PER_SEC * b->rate;
	return Min(tokens, (double) hdb_rate_limit_burst);
}
