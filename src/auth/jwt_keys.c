/*-------------------------------------------------------------------------
 *
 * jwt_keys.c
 *	  The public keys JWT signatures are checked with (RSA, EC P-256/P-384,
 *	  Ed25519): one PEM public key, or a JWKS document (RFC 7517) whose
 *	  keys tokens choose by "kid".
 *
 * heliosdb.jwt_key_file names the file.  Each backend reads it when it
 * first needs a key, and again whenever the setting or the file's identity
 * (inode, size, modification time) changes, so that a key rotation takes
 * effect after a configuration reload or an atomic rename of the file,
 * without a restart.  Keys live in backend-local memory: verification
 * needs no catalog access and no shared state.
 *
 * A failed load leaves no keys at all, so that a broken file refuses every
 * asymmetric token rather than accepting some with stale keys.  HMAC
 * secrets never come from this file (see jwt.c): a JWKS "oct" key is
 * ignored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "common/hdb_codec.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#include "auth/auth_internal.h"

/* Largest key file read. */
#define KEY_FILE_MAX_SIZE	(1024 * 1024)
/* Smallest RSA modulus accepted, in bits. */
#define RSA_MIN_BITS		2048

typedef struct JwtKey
{
	HdbJwtKeyType type;			/* HDB_KEY_RSA or HDB_KEY_EC_* */
	int			alg;			/* the JWK's "alg", or -1 for any */
	char	   *kid;			/* NULL: a PEM key, matches any kid */
	EVP_PKEY   *pkey;
} JwtKey;

static MemoryContext keys_cxt = NULL;
static JwtKey *keys = NULL;
static int	nkeys = 0;

/* Identity of the file the keys came from. */
static char *loaded_path = NULL;
static struct stat loaded_stat;
static bool loaded = false;
/* The local transaction that last found the file unchanged. */
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;

static void
keys_unload(void)
{
	for (int i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i].pkey);
	keys = NULL;
	nkeys = 0;
	loaded = false;
	if (keys_cxt != NULL)
		MemoryContextReset(keys_cxt);
	loaded_path = NULL;
	hdb_jwt_config_generation++;
}

static void
key_file_error(const char *path, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("JWT key file \"%s\" is invalid", path),
			 errdetail_internal("%s", detail),
			 errhint("Check the file named by heliosdb.jwt_key_file.")));
}

/*
 * Classify a public key: RSA of at least RSA_MIN_BITS, or EC on P-256 or
 * P-384.  Returns false for any other key.
 */
static bool
classify_pkey(EVP_PKEY *pkey, HdbJwtKeyType *type)
{
	if (EVP_PKEY_is_a(pkey, "RSA"))
	{
		if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)
			return false;
		*type = HDB_KEY_RSA;
		return true;
	}
	if (EVP_PKEY_is_a(pkey, "EC"))
	{
		char		group[64];

		if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL))
			return false;
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			*type = HDB_KEY_EC_P256;
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			*type = HDB_KEY_EC_P384;
		else
			return false;
		return true;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519"))
	{
		*type = HDB_KEY_ED25519;
		return true;
	}
	return false;
}

/* Decode a base64url member of a JWK; NULL when missing or invalid. */
static uint8 *
jwk_bytes(JsonbContainer *jwk, const char *name, int *len)
{
	JsonbValue	v;
	uint8	   *buf;

	if (getKeyJsonValueFromContainer(jwk, name, strlen(name), &v) == NULL ||
		v.type != jbvString || v.val.string.len == 0)
		return NULL;
	buf = palloc(HDB_BASE64URL_DEC_LEN(v.val.string.len) + 1);
	*len = hdb_base64url_decode(v.val.string.val, v.val.string.len, buf);
	return *len > 0 ? buf : NULL;
}

static char *
jwk_string(JsonbContainer *jwk, const char *name)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(jwk, name, strlen(name), &v) == NULL ||
		v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* Build a public key from parameters; NULL on failure. */
static EVP_PKEY *
pkey_from_params(const char *keytype, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
	EVP_PKEY   *pkey = NULL;

	if (params == NULL || ctx == NULL ||
		EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/*
 * Turn one JWK into a public key, or NULL for a key that is not for
 * signatures of an algorithm heliosdb verifies with public keys.
 */
static EVP_PKEY *
jwk_to_pkey(JsonbContainer *jwk)
{
	char	   *kty = jwk_string(jwk, "kty");
	OSSL_PARAM_BLD *bld;
	EVP_PKEY   *pkey = NULL;

	if (kty == NULL)
		return NULL;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		return NULL;

	if (strcmp(kty, "RSA") == 0)
	{
		int			nlen,
					elen;
		uint8	   *n = jwk_bytes(jwk, "n", &nlen);
		uint8	   *e = jwk_bytes(jwk, "e", &elen);
		BIGNUM	   *bn_n = n ? BN_bin2bn(n, nlen, NULL) : NULL;
		BIGNUM	   *bn_e = e ? BN_bin2bn(e, elen, NULL) : NULL;

		if (bn_n && bn_e &&
			OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
			OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
			pkey = pkey_from_params("RSA", bld);
		BN_free(bn_n);
		BN_free(bn_e);
	}
	else if (strcmp(kty, "EC") == 0)
	{
		char	   *crv = jwk_string(jwk, "crv");
		int			size = 0,
					xlen,
					ylen;
		uint8	   *x = jwk_bytes(jwk, "x", &xlen);
		uint8	   *y = jwk_bytes(jwk, "y", &ylen);

		if (crv != NULL && strcmp(crv, "P-256") == 0)
			size = 32;
		else if (crv != NULL && strcmp(crv, "P-384") == 0)
			size = 48;
		if (size > 0 && x && y && xlen == size && ylen == size)
		{
			/* Uncompressed point: 0x04 || x || y */
			uint8		point[1 + 2 * 48];

			point[0] = 0x04;
			memcpy(point + 1, x, size);
			memcpy(point + 1 + size, y, size);
			if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
												crv, 0) &&
				OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
												 point, 1 + 2 * size))
				pkey = pkey_from_params("EC", bld);
		}
	}
	else if (strcmp(kty, "OKP") == 0)
	{
		char	   *crv = jwk_string(jwk, "crv");
		int			xlen;
		uint8	   *x = jwk_bytes(jwk, "x", &xlen);

		if (crv != NULL && strcmp(crv, "Ed25519") == 0 && x && xlen == 32)
			pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	}
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

static void
add_key(JwtKey *list, int *count, EVP_PKEY *pkey, HdbJwtKeyType type,
		int alg, const char *kid)
{
	JwtKey	   *k = &list[(*count)++];

	k->pkey = pkey;
	k->type = type;
	k->alg = alg;
	k->kid = kid ? MemoryContextStrdup(keys_cxt, kid) : NULL;
}

/*
 * Load the keys of a JWKS document into list (room for "room" keys).
 * Keys meant for other uses or algorithms are skipped; a key that claims
 * to be for signatures but cannot be used is an error.
 */
static void
load_jwks(const char *path, const char *buf, int len, JwtKey *list,
		  int *count, int room)
{
	Jsonb	   *doc = hdb_json_parse_strict(buf, len, "JWT key file",
											ERRCODE_CONFIG_FILE_ERROR);
	JsonbValue	v;
	JsonbContainer *arr;
	int			n;

	if (!JB_ROOT_IS_OBJECT(doc) ||
		getKeyJsonValueFromContainer(&doc->root, "keys", 4, &v) == NULL ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		key_file_error(path, "A JWKS document is an object with a \"keys\" array.");
	arr = v.val.binary.data;
	n = JsonContainerSize(arr);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *jwk;
		char	   *use,
				   *algname,
				   *kid;
		int			alg = -1;
		EVP_PKEY   *pkey;
		HdbJwtKeyType type;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			key_file_error(path, "Every member of \"keys\" must be an object.");
		jwk = elem->val.binary.data;

		use = jwk_string(jwk, "use");
		if (use != NULL && strcmp(use, "sig") != 0)
			continue;
		algname = jwk_string(jwk, "alg");
		if (algname != NULL)
		{
			alg = hdb_jwt_alg_lookup(algname);
			if (alg < 0 || hdb_jwt_alg_key_type(alg) == HDB_KEY_HMAC)
				continue;
		}
		kid = jwk_string(jwk, "kid");
		{
			char	   *kty = jwk_string(jwk, "kty");

			/* Symmetric and unknown key types are not ours to use. */
			if (kty == NULL || (strcmp(kty, "RSA") != 0 &&
								strcmp(kty, "EC") != 0 &&
								strcmp(kty, "OKP") != 0))
				continue;
		}
		if (*count >= room)
			key_file_error(path, "It holds too many keys.");
		pkey = jwk_to_pkey(jwk);
		if (pkey == NULL || !classify_pkey(pkey, &type) ||
			(alg >= 0 && hdb_jwt_alg_key_type(alg) != type))
		{
			EVP_PKEY_free(pkey);
			key_file_error(path, "A key of the set is malformed, too weak or does not fit its \"alg\".");
		}
		add_key(list, count, pkey, type, alg, kid);
	}
	if (*count == 0)
		key_file_error(path, "It holds no RSA, EC or Ed25519 signature key.");
}

static void
load_pem(const char *path, const char *buf, int len, JwtKey *list, int *count)
{
	BIO		   *bio = BIO_new_mem_buf(buf, len);
	EVP_PKEY   *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	HdbJwtKeyType type;

	BIO_free(bio);
	if (pkey == NULL)
		key_file_error(path, "It is neither a JWKS document nor a PEM public key.");
	if (!classify_pkey(pkey, &type))
	{
		EVP_PKEY_free(pkey);
		key_file_error(path, "Its key is not RSA (2048 bits or more), EC P-256, EC P-384 or Ed25519.");
	}
	add_key(list, count, pkey, type, -1, NULL);
}

/* Read the whole file; errors are reported. */
static char *
read_key_file(const char *path, int *len)
{
	FILE	   *f;
	struct stat st;
	char	   *buf;

	f = AllocateFile(path, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open JWT key file \"%s\": %m", path)));
	if (fstat(fileno(f), &st) < 0 || st.st_size > KEY_FILE_MAX_SIZE)
	{
		FreeFile(f);
		key_file_error(path, "It is larger than 1 MB.");
	}
	buf = palloc(st.st_size + 1);
	*len = fread(buf, 1, st.st_size, f);
	if (ferror(f))
	{
		FreeFile(f);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read JWT key file \"%s\": %m", path)));
	}
	FreeFile(f);
	buf[*len] = '\0';
	return buf;
}

#define MAX_KEYS 64

/*
 * Make sure the loaded keys are those of the file heliosdb.jwt_key_file
 * names now; reload them when the setting or the file changed.  The file
 * itself is looked at once per transaction, so a key file replaced (by an
 * atomic rename, say) takes effect with the next transaction of every
 * session, and a login whose token is cached costs no system call.
 */
void
hdb_jwt_keys_refresh(void)
{
	const char *path = hdb_jwt_key_file;
	struct stat st;
	JwtKey	   *list;
	int			count = 0;
	char	   *buf;
	int			len;
	const char *p;

	if (path == NULL || path[0] == '\0')
	{
		if (loaded)
			keys_unload();
		return;
	}

	if (loaded && MyProc->lxid != InvalidLocalTransactionId &&
		MyProc->lxid == checked_lxid && strcmp(path, loaded_path) == 0)
		return;

	if (stat(path, &st) < 0)
	{
		if (loaded)
			keys_unload();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open JWT key file \"%s\": %m", path)));
	}
	if (loaded && strcmp(path, loaded_path) == 0 &&
		st.st_ino == loaded_stat.st_ino && st.st_dev == loaded_stat.st_dev &&
		st.st_size == loaded_stat.st_size &&
		st.st_mtim.tv_sec == loaded_stat.st_mtim.tv_sec &&
		st.st_mtim.tv_nsec == loaded_stat.st_mtim.tv_nsec)
	{
		checked_lxid = MyProc->lxid;
		return;
	}

	if (keys_cxt == NULL)
		keys_cxt = AllocSetContextCreate(TopMemoryContext, "heliosdb JWT keys",
										 ALLOCSET_SMALL_SIZES);
	keys_unload();

	list = MemoryContextAllocZero(keys_cxt, sizeof(JwtKey) * MAX_KEYS);
	PG_TRY();
	{
		buf = read_key_file(path, &len);
		for (p = buf; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
			;
		if (*p == '{')
			load_jwks(path, buf, len, list, &count, MAX_KEYS);
		else
			load_pem(path, buf, len, list, &count);
		pfree(buf);
	}
	PG_CATCH();
	{
		/* Unused entries are zero: free whatever was built. */
		for (int i = 0; i < MAX_KEYS; i++)
			EVP_PKEY_free(list[i].pkey);
		MemoryContextReset(keys_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	keys = list;
	nkeys = count;
	loaded_path = MemoryContextStrdup(keys_cxt, path);
	loaded_stat = st;
	loaded = true;
	checked_lxid = MyProc->lxid;
	hdb_jwt_config_generation++;
}

/*
 * The key to verify a token of algorithm alg with, chosen by kid when the
 * token names one; NULL when no key fits.  A token without kid is checked
 * only when exactly one key fits, so that a key set never turns into
 * "try every key".  Only keys of the algorithm's own type are considered:
 * an HMAC algorithm finds no key here at all.
 */
EVP_PKEY *
hdb_jwt_find_key(int alg, const char *kid)
{
	HdbJwtKeyType type = hdb_jwt_alg_key_type(alg);
	EVP_PKEY   *found = NULL;
	int			matches = 0;

	if (type == HDB_KEY_HMAC)
		return NULL;
	hdb_jwt_keys_refresh();

	for (int i = 0; i < nkeys; i++)
	{
		JwtKey	   *k = &keys[i];

		if (k->type != type || (k->alg >= 0 && k->alg != alg))
			continue;
		if (kid != NULL && k->kid != NULL)
		{
			if (strcmp(kid, k->kid) == 0)
				return k->pkey;
			continue;
		}
		found = k->pkey;
		matches++;
	}
	return matches == 1 ? found : NULL;
}
