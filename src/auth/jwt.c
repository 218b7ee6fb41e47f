/*-------------------------------------------------------------------------
 *
 * jwt.c
 *	  Verification of JSON Web Tokens (RFC 7519) in JWS compact form
 *	  (RFC 7515) with the algorithms of RFC 7518: HS256/384/512 with the
 *	  secret heliosdb.jwt_secret, RS256/384/512 and ES256/384 with the
 *	  public keys of heliosdb.jwt_key_file (jwt_keys.c); also EdDSA with
 *	  Ed25519 keys (RFC 8037).
 *
 * The order of checks matters.  Only the header is parsed before the
 * signature is verified; the algorithm it names must be in
 * heliosdb.jwt_algorithms, and it alone decides the kind of key: an HMAC
 * algorithm uses the configured secret and nothing else, an RSA or EC
 * algorithm only a public key of that type and curve.  A token can
 * therefore not make the server use an RSA public key as an HMAC secret
 * ("algorithm confusion"), and "alg":"none" is never accepted.  Claims are
 * read only from a payload whose signature verified.
 *
 * Every failure is an ERROR with SQLSTATE 28000 and a message saying what
 * was wrong; no part of the token is ever put into a message.
 *
 * Successful verifications are cached per backend.  An entry is found by
 * a seeded 64-bit hash of the token and holds the whole token, which must
 * equal the one presented; it is valid for the configuration generation
 * it was verified under.  A repeated login with the same token therefore
 * costs a hash, a comparison and the time checks, which are always redone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>

#include "common/hashfn.h"
#include "common/hdb_codec.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "auth/auth_internal.h"

static const struct
{
	const char *name;
	HdbJwtKeyType key_type;
	int			digest_bits;	/* SHA-2 variant */
}			jwt_algs[HDB_JWT_NUM_ALGS] =
{
	[HDB_JWT_HS256] = {"HS256", HDB_KEY_HMAC, 256},
	[HDB_JWT_HS384] = {"HS384", HDB_KEY_HMAC, 384},
	[HDB_JWT_HS512] = {"HS512", HDB_KEY_HMAC, 512},
	[HDB_JWT_RS256] = {"RS256", HDB_KEY_RSA, 256},
	[HDB_JWT_RS384] = {"RS384", HDB_KEY_RSA, 384},
	[HDB_JWT_RS512] = {"RS512", HDB_KEY_RSA, 512},
	[HDB_JWT_ES256] = {"ES256", HDB_KEY_EC_P256, 256},
	[HDB_JWT_ES384] = {"ES384", HDB_KEY_EC_P384, 384},
	[HDB_JWT_EDDSA] = {"EdDSA", HDB_KEY_ED25519, 0},
};

/* Seconds between the Unix epoch and the PostgreSQL epoch. */
#define UNIX_TO_PG_EPOCH_SECS \
	((double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
/* NumericDates must be before the year 10000. */
#define JWT_MAX_NUMERIC_DATE 253402300799.0

/* Cache of verified tokens. */
#define JWT_CACHE_MAX_ENTRIES 256

typedef struct JwtCacheEntry
{
	uint64		key;			/* seeded hash of the token: the hash key */
	char	   *token;			/* the whole token, in cache_cxt */
	size_t		token_len;
	uint64		generation;		/* hdb_jwt_config_generation when verified */
	bool		asymmetric;		/* verified with a key of the key file */
	double		exp;
	double		nbf;			/* NaN when absent */
	double		iat;			/* NaN when absent */
	HdbJwtResult result;		/* strings and claims in cache_cxt */
} JwtCacheEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static uint64 cache_seed;

uint64		hdb_jwt_config_generation = 1;

int
hdb_jwt_alg_lookup(const char *name)
{
	for (int i = 0; i < HDB_JWT_NUM_ALGS; i++)
		if (strcmp(name, jwt_algs[i].name) == 0)
			return i;
	return -1;
}

const char *
hdb_jwt_alg_name(int alg)
{
	return jwt_algs[alg].name;
}

HdbJwtKeyType
hdb_jwt_alg_key_type(int alg)
{
	return jwt_algs[alg].key_type;
}

static const EVP_MD *
alg_md(int alg)
{
	switch (jwt_algs[alg].digest_bits)
	{
		case 256:
			return EVP_sha256();
		case 384:
			return EVP_sha384();
		default:
			return EVP_sha512();
	}
}

/*
 * Parse a comma-separated list of algorithm names into a bit set; false
 * for an unknown name.  Spaces around names are ignored.
 */
bool
hdb_jwt_parse_alg_list(const char *value, uint32 *algs)
{
	const char *p = value;

	*algs = 0;
	while (*p != '\0')
	{
		const char *start;
		char		name[16];
		size_t		n;
		int			alg;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ')
			p++;
		n = p - start;
		if (n >= sizeof(name))
			return false;
		memcpy(name, start, n);
		name[n] = '\0';
		alg = hdb_jwt_alg_lookup(name);
		if (alg < 0)
			return false;
		*algs |= 1U << alg;
	}
	return true;
}

static void jwt_fail(const char *msg, const char *detail) pg_attribute_noreturn();

static void
jwt_fail(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg_internal("%s", msg),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/* Decode one base64url part of the token; what names it in messages. */
static uint8 *
decode_part(const char *src, size_t len, int *outlen, const char *msg)
{
	uint8	   *buf = palloc(HDB_BASE64URL_DEC_LEN(len) + 1);

	*outlen = hdb_base64url_decode(src, len, buf);
	if (*outlen < 0)
		jwt_fail(msg, "Token parts are unpadded base64url (RFC 7515).");
	return buf;
}

/* A member of a JSON object, or NULL. */
static JsonbValue *
get_member(Jsonb *obj, const char *name, JsonbValue *v)
{
	return getKeyJsonValueFromContainer(&obj->root, name, strlen(name), v);
}

static char *
get_string_claim(Jsonb *obj, const char *name, const char *what)
{
	JsonbValue	v;

	if (get_member(obj, name, &v) == NULL)
		return NULL;
	if (v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("%s \"%s\" must be a string", what, name)));
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* A NumericDate claim in seconds since the Unix epoch, or NaN if absent. */
static double
get_date_claim(Jsonb *obj, const char *name)
{
	JsonbValue	v;
	double		d;

	if (get_member(obj, name, &v) == NULL)
		return get_float8_nan();
	if (v.type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("claim \"%s\" must be a number", name)));
	/* Via text: strtod saturates where numeric_float8 would raise 22003. */
	d = strtod(DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v.val.numeric))),
			   NULL);
	if (isnan(d) || d < 0 || d > JWT_MAX_NUMERIC_DATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("claim \"%s\" is out of range", name)));
	return d;
}

/*
 * Time checks, done on every login, cached or not: exp is strict, nbf and
 * iat allow heliosdb.jwt_leeway seconds of clock difference.
 */
static void
check_times(double exp, double nbf, double iat)
{
	double		now = (double) GetCurrentTimestamp() / USECS_PER_SEC +
		UNIX_TO_PG_EPOCH_SECS;

	if (now >= exp)
		jwt_fail("token has expired", NULL);
	if (!isnan(nbf) && now + hdb_jwt_leeway < nbf)
		jwt_fail("token is not valid yet",
				 "Its \"nbf\" claim lies in the future.");
	if (!isnan(iat) && iat > now + hdb_jwt_leeway)
		jwt_fail("token was issued in the future",
				 "Its \"iat\" claim lies in the future.");
}

/* Does "aud" (a string or an array of strings) name our audience? */
static bool
audience_matches(JsonbValue *aud, const char *want)
{
	size_t		wlen = strlen(want);

	if (aud->type == jbvString)
		return aud->val.string.len == wlen &&
			memcmp(aud->val.string.val, want, wlen) == 0;
	if (aud->type == jbvBinary && JsonContainerIsArray(aud->val.binary.data))
	{
		JsonbContainer *arr = aud->val.binary.data;
		int			n = JsonContainerSize(arr);
		bool		found = false;

		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

			if (e->type != jbvString)
				jwt_fail("claim \"aud\" must be a string or an array of strings", NULL);
			if (e->val.string.len == wlen &&
				memcmp(e->val.string.val, want, wlen) == 0)
				found = true;
		}
		return found;
	}
	jwt_fail("claim \"aud\" must be a string or an array of strings", NULL);
	return false;				/* keep compiler quiet */
}

static uint32
permission_claim(Jsonb *claims)
{
	JsonbValue	v;
	JsonbContainer *arr;
	uint32		perms = 0;
	int			n;

	if (get_member(claims, "permissions", &v) == NULL)
		return HDB_PERMISSIONS_ALL;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		jwt_fail("claim \"permissions\" must be an array of strings", NULL);
	arr = v.val.binary.data;
	n = JsonContainerSize(arr);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(arr, i);
		char	   *word;
		uint32		bit;

		if (e->type != jbvString)
			jwt_fail("claim \"permissions\" must be an array of strings", NULL);
		word = pnstrdup(e->val.string.val, e->val.string.len);
		bit = hdb_permission_bit(word);
		if (bit == 0)
			jwt_fail("token grants an unknown permission",
					 "Permissions are read, write, delete, create_table, create_view, batch_write, run_analytics and \"*\".");
		perms |= bit;
	}
	return perms;
}

/* Verify an HMAC signature with heliosdb.jwt_secret. */
static bool
verify_hmac(int alg, const char *data, size_t len, const uint8 *sig,
			int siglen)
{
	uint8		mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool		ok;

	if (hdb_jwt_secret == NULL || hdb_jwt_secret[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token cannot be verified: no HMAC secret is configured"),
				 errhint("Set heliosdb.jwt_secret, or use tokens signed with a public-key algorithm.")));
	if (strlen(hdb_jwt_secret) < HDB_JWT_MIN_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token cannot be verified: the HMAC secret is too short"),
				 errhint("heliosdb.jwt_secret must be at least %d bytes long.",
						 HDB_JWT_MIN_SECRET)));
	if (HMAC(alg_md(alg), hdb_jwt_secret, strlen(hdb_jwt_secret),
			 (const unsigned char *) data, len, mac, &maclen) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC")));
	ok = (siglen == (int) maclen && CRYPTO_memcmp(mac, sig, maclen) == 0);
	explicit_bzero(mac, sizeof(mac));
	return ok;
}

/*
 * Convert a JOSE ECDSA signature (r || s, each size bytes) to the DER
 * form OpenSSL verifies; NULL when it has the wrong length.
 */
static uint8 *
ecdsa_jose_to_der(const uint8 *sig, int siglen, int size, int *derlen)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r,
			   *s;
	uint8	   *der = NULL,
			   *result;
	int			n;

	if (siglen != 2 * size)
		return NULL;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, size, NULL);
	s = BN_bin2bn(sig + size, size, NULL);
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	result = palloc(n);
	memcpy(result, der, n);
	OPENSSL_free(der);
	*derlen = n;
	return result;
}

/* Verify an RSA or ECDSA signature with a key of the key file. */
static bool
verify_pkey(int alg, const char *kid, const char *data, size_t len,
			const uint8 *sig, int siglen)
{
	EVP_PKEY   *pkey = hdb_jwt_find_key(alg, kid);
	EVP_MD_CTX *mdctx;
	HdbJwtKeyType type = hdb_jwt_alg_key_type(alg);
	int			rc;

	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no configured key can verify the token"),
				 errdetail(kid ? "No %s key with the token's \"kid\" is in heliosdb.jwt_key_file." :
						   "The token names no \"kid\" and heliosdb.jwt_key_file does not hold exactly one %s key.",
						   type == HDB_KEY_RSA ? "RSA" :
						   type == HDB_KEY_EC_P256 ? "P-256" :
						   type == HDB_KEY_EC_P384 ? "P-384" : "Ed25519")));

	if (type == HDB_KEY_EC_P256 || type == HDB_KEY_EC_P384)
	{
		int			derlen;
		uint8	   *der = ecdsa_jose_to_der(sig, siglen,
											type == HDB_KEY_EC_P256 ? 32 : 48,
											&derlen);

		if (der == NULL)
			return false;
		sig = der;
		siglen = derlen;
	}

	mdctx = EVP_MD_CTX_new();
	if (mdctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	/* Ed25519 hashes internally: no digest of ours. */
	rc = EVP_DigestVerifyInit(mdctx, NULL,
							  type == HDB_KEY_ED25519 ? NULL : alg_md(alg),
							  NULL, pkey);
	if (rc == 1)
		rc = EVP_DigestVerify(mdctx, sig, siglen, (const unsigned char *) data, len);
	EVP_MD_CTX_free(mdctx);
	return rc == 1;
}

static void
cache_reset(void)
{
	if (cache_cxt != NULL)
		MemoryContextDelete(cache_cxt);
	cache_cxt = NULL;
	cache = NULL;
}

void
hdb_jwt_cache_reset(void)
{
	cache_reset();
}

static void
cache_init(void)
{
	HASHCTL		ctl;

	cache_cxt = AllocSetContextCreate(TopMemoryContext, "heliosdb JWT cache",
									  ALLOCSET_DEFAULT_SIZES);
	/* A secret seed: nobody can craft tokens that share an entry. */
	if (!pg_strong_random(&cache_seed, sizeof(cache_seed)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random numbers")));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(JwtCacheEntry);
	ctl.hcxt = cache_cxt;
	cache = hash_create("heliosdb JWT cache", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static char *
cache_strdup(const char *s)
{
	return s ? MemoryContextStrdup(cache_cxt, s) : NULL;
}

static uint64
cache_key(const char *token, size_t len)
{
	return hash_bytes_extended((const unsigned char *) token, (int) len,
							   cache_seed);
}

/* Free what an entry holds besides itself. */
static void
cache_entry_clear(JwtCacheEntry *e)
{
	pfree(e->token);
	if (e->result.user_id)
		pfree(e->result.user_id);
	if (e->result.tenant)
		pfree(e->result.tenant);
	if (e->result.role)
		pfree(e->result.role);
	pfree(e->result.claims);
}

static void
cache_store(const char *token, size_t len, bool asymmetric, double exp,
			double nbf, double iat, const HdbJwtResult *result,
			uint64 generation)
{
	JwtCacheEntry *e;
	uint64		key;
	bool		found;

	if (cache == NULL)
		cache_init();
	else if (hash_get_num_entries(cache) >= JWT_CACHE_MAX_ENTRIES)
	{
		cache_reset();
		cache_init();
	}
	key = cache_key(token, len);
	e = hash_search(cache, &key, HASH_ENTER, &found);
	/* Another token with the same hash: this one takes the entry. */
	if (found)
		cache_entry_clear(e);
	e->token = MemoryContextAlloc(cache_cxt, len);
	memcpy(e->token, token, len);
	e->token_len = len;
	e->generation = generation;
	e->asymmetric = asymmetric;
	e->exp = exp;
	e->nbf = nbf;
	e->iat = iat;
	e->result = *result;
	e->result.user_id = cache_strdup(result->user_id);
	e->result.tenant = cache_strdup(result->tenant);
	e->result.role = cache_strdup(result->role);
	e->result.claims = MemoryContextAlloc(cache_cxt, VARSIZE(result->claims));
	memcpy(e->result.claims, result->claims, VARSIZE(result->claims));
}

/*
 * A still valid cached verification of this very token, or NULL.
 */
static JwtCacheEntry *
cache_lookup(const char *token, size_t len)
{
	JwtCacheEntry *e;
	uint64		key;

	if (cache == NULL)
		return NULL;
	key = cache_key(token, len);
	e = hash_search(cache, &key, HASH_FIND, NULL);
	if (e == NULL || e->token_len != len ||
		CRYPTO_memcmp(e->token, token, len) != 0)
		return NULL;
	/* A reloaded key file bumps the generation. */
	if (e->asymmetric)
		hdb_jwt_keys_refresh();
	if (e->generation != hdb_jwt_config_generation)
	{
		cache_entry_clear(e);
		hash_search(cache, &key, HASH_REMOVE, NULL);
		return NULL;
	}
	return e;
}

/*
 * Verify a token and return what it proves; any failure is an ERROR with
 * SQLSTATE 28000.  Result strings are palloc'd in the caller's context.
 */
void
hdb_jwt_verify(const char *token, size_t len, HdbJwtResult *result)
{
	const char *dot1,
			   *dot2;
	JwtCacheEntry *cached;
	uint8	   *buf,
			   *sig;
	int			buflen,
				siglen,
				alg;
	Jsonb	   *header,
			   *claims;
	char	   *algname,
			   *kid,
			   *want;
	JsonbValue	v;
	double		exp,
				nbf,
				iat;
	bool		ok;
	uint64		generation;

	if (len == 0)
		jwt_fail("token is empty", NULL);
	if (len > HDB_JWT_MAX_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token is too long"),
				 errdetail("Tokens are at most %d bytes.", HDB_JWT_MAX_LENGTH)));
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
		jwt_fail("token is not a JWS in compact serialization",
				 "A token has exactly three base64url parts separated by dots.");

	cached = cache_lookup(token, len);
	if (cached != NULL)
	{
		check_times(cached->exp, cached->nbf, cached->iat);
		*result = cached->result;
		result->user_id = result->user_id ? pstrdup(result->user_id) : NULL;
		result->tenant = result->tenant ? pstrdup(result->tenant) : NULL;
		result->role = result->role ? pstrdup(result->role) : NULL;
		result->claims = palloc(VARSIZE(cached->result.claims));
		memcpy(result->claims, cached->result.claims,
			   VARSIZE(cached->result.claims));
		result->cached = true;
		return;
	}
	/* Loading keys below may bump the generation: remember it first. */
	generation = hdb_jwt_config_generation;

	/* Header */
	buf = decode_part(token, dot1 - token, &buflen,
					  "token header is not valid base64url");
	header = hdb_json_parse_strict((char *) buf, buflen, "token header",
								   ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
	if (!JB_ROOT_IS_OBJECT(header))
		jwt_fail("token header is not a JSON object", NULL);
	algname = get_string_claim(header, "alg", "header parameter");
	if (algname == NULL)
		jwt_fail("token header has no \"alg\"", NULL);
	if (pg_strcasecmp(algname, "none") == 0)
		jwt_fail("unsigned tokens are not accepted",
				 "The token's algorithm is \"none\".");
	alg = hdb_jwt_alg_lookup(algname);
	if (alg < 0)
		jwt_fail("token algorithm is not supported",
				 "Supported algorithms are HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 and EdDSA.");
	if ((hdb_jwt_allowed_algs() & (1U << alg)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token algorithm %s is not allowed", jwt_algs[alg].name),
				 errhint("heliosdb.jwt_algorithms lists the algorithms accepted.")));
	if (get_member(header, "crit", &v) != NULL)
		jwt_fail("token header has critical extensions",
				 "No \"crit\" extension is supported.");
	kid = get_string_claim(header, "kid", "header parameter");

	/* Signature, over the ASCII of "header.payload" */
	sig = decode_part(dot2 + 1, len - (dot2 + 1 - token), &siglen,
					  "token signature is not valid base64url");
	if (jwt_algs[alg].key_type == HDB_KEY_HMAC)
		ok = verify_hmac(alg, token, dot2 - token, sig, siglen);
	else
		ok = verify_pkey(alg, kid, token, dot2 - token, sig, siglen);
	if (!ok)
		jwt_fail("token signature is invalid", NULL);

	/* Claims */
	buf = decode_part(dot1 + 1, dot2 - (dot1 + 1), &buflen,
					  "token payload is not valid base64url");
	claims = hdb_json_parse_strict((char *) buf, buflen, "token payload",
								   ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
	if (!JB_ROOT_IS_OBJECT(claims))
		jwt_fail("token payload is not a JSON object", NULL);

	exp = get_date_claim(claims, "exp");
	if (isnan(exp))
		jwt_fail("token has no \"exp\" claim",
				 "Tokens without an expiry time are not accepted.");
	nbf = get_date_claim(claims, "nbf");
	iat = get_date_claim(claims, "iat");
	check_times(exp, nbf, iat);

	want = hdb_jwt_issuer;
	if (want != NULL && want[0] != '\0')
	{
		char	   *iss = get_string_claim(claims, "iss", "claim");

		if (iss == NULL || strcmp(iss, want) != 0)
			jwt_fail("token issuer is not accepted",
					 "The \"iss\" claim must equal heliosdb.jwt_issuer.");
	}
	want = hdb_jwt_audience;
	if (get_member(claims, "aud", &v) != NULL)
	{
		if (want == NULL || want[0] == '\0')
			jwt_fail("token audience is not accepted",
					 "The token names an audience but heliosdb.jwt_audience is not set.");
		if (!audience_matches(&v, want))
			jwt_fail("token audience is not accepted",
					 "The \"aud\" claim must name heliosdb.jwt_audience.");
	}
	else if (want != NULL && want[0] != '\0')
		jwt_fail("token audience is not accepted",
				 "The token has no \"aud\" claim.");

	memset(result, 0, sizeof(*result));
	result->user_id = get_string_claim(claims, "sub", "claim");
	result->tenant = get_string_claim(claims, "tenant_id", "claim");
	result->role = get_string_claim(claims, "role", "claim");
	if (result->role != NULL &&
		(result->role[0] == '\0' || strlen(result->role) >= NAMEDATALEN))
		jwt_fail("claim \"role\" is not a valid role name", NULL);
	result->permissions = permission_claim(claims);
	result->expires_at = (TimestampTz) ((exp - UNIX_TO_PG_EPOCH_SECS) *
										USECS_PER_SEC);
	result->claims = claims;
	result->cached = false;

	cache_store(token, len, jwt_algs[alg].key_type != HDB_KEY_HMAC, exp, nbf,
				iat, result, generation);
}
