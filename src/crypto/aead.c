/*-------------------------------------------------------------------------
 *
 * aead.c
 *	  AES-256-GCM through OpenSSL's EVP interface: sealing and opening of
 *	  row payloads, wrapping of data keys by the master key, and the master
 *	  key's check value.
 *
 * A data key keeps two cipher contexts, one per direction, initialized with
 * the key once; each row only sets a new IV.  Every failure of OpenSSL is an
 * error: a payload must never be written half-encrypted.
 *
 * OpenSSL 3 spends more instructions on its parameter plumbing than on the
 * AES-GCM of a small row, so the per-row path keeps its calls to a minimum:
 * the cipher is fetched from the provider once per process, and the tag to
 * check travels with the IV in the single init call of a decryption
 * instead of through a separate EVP_CIPHER_CTX_ctrl.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/hdb_crypto.h"

/* Domain separation of the key-wrapping AAD and of the key check value. */
#define WRAP_AAD_PREFIX		"heliosdb data key v1"
#define CHECK_PREFIX		"heliosdb master key check v1"

/* AES-256-GCM from the default provider, fetched once per process. */
static EVP_CIPHER *aes_gcm = NULL;

static void
openssl_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("AES-256-GCM %s failed", what)));
}

/* Fill buf with len bytes from OpenSSL's CSPRNG. */
void
hdb_random_bytes(uint8 *buf, int len)
{
	if (RAND_bytes(buf, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

/*
 * A fresh random 96-bit nonce.  Nonces are drawn from OpenSSL's CSPRNG in
 * blocks, since one call per row costs more than the encryption of a small
 * row.  Backends are forked from a postmaster that never draws any, so no
 * two processes share a block.
 */
void
hdb_random_nonce(uint8 *nonce)
{
	static uint8 block[HDB_NONCE_LEN * 256];
	static int	used = sizeof(block);

	if (used + HDB_NONCE_LEN > (int) sizeof(block))
	{
		hdb_random_bytes(block, sizeof(block));
		used = 0;
	}
	memcpy(nonce, block + used, HDB_NONCE_LEN);
	used += HDB_NONCE_LEN;
}

/*
 * The fetched AES-256-GCM cipher.  EVP_aes_256_gcm() would make every
 * context set up with it fetch the provider's implementation again.
 */
static EVP_CIPHER *
gcm_cipher(void)
{
	if (aes_gcm == NULL)
	{
		aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
		if (aes_gcm == NULL)
			openssl_failed("cipher lookup");
	}
	return aes_gcm;
}

/*
 * A cipher context for AES-256-GCM keyed with key, for one direction.  The
 * context lives until hdb_cipher_ctx_free; OpenSSL cleanses the key
 * schedule when it is freed.
 */
void *
hdb_cipher_ctx_new(const uint8 *key, bool encrypt)
{
	EVP_CIPHER *cipher = gcm_cipher();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			ok;

	if (ctx == NULL)
		openssl_failed("context allocation");
	if (encrypt)
		ok = EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL);
	else
		ok = EVP_DecryptInit_ex2(ctx, cipher, key, NULL, NULL);
	if (ok != 1)
	{
		EVP_CIPHER_CTX_free(ctx);
		openssl_failed("key setup");
	}
	return ctx;
}

void
hdb_cipher_ctx_free(void *ctx)
{
	if (ctx)
		EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *) ctx);
}

/* Encrypt with a context already keyed for encryption. */
static void
seal_with(EVP_CIPHER_CTX *ctx, const uint8 *nonce,
		  const uint8 *aad, int aadlen, const uint8 *in, int len,
		  uint8 *out, uint8 *tag)
{
	int			n;
	OSSL_PARAM	params[2];

	if (EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL) != 1)
		openssl_failed("IV setup");
	if (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, aadlen) != 1)
		openssl_failed("encryption");
	if (len > 0 && EVP_EncryptUpdate(ctx, out, &n, in, len) != 1)
		openssl_failed("encryption");
	if (EVP_EncryptFinal_ex(ctx, out + len, &n) != 1)
		openssl_failed("encryption");
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  tag, HDB_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
		openssl_failed("tag computation");
}

/*
 * Decrypt with a context already keyed for decryption; false when the tag
 * does not authenticate the input (out then holds garbage to be ignored).
 * The expected tag is handed over with the IV; EVP_DecryptFinal_ex checks
 * it (in constant time) once all of the input has been hashed.
 */
static bool
open_with(EVP_CIPHER_CTX *ctx, const uint8 *nonce,
		  const uint8 *aad, int aadlen, const uint8 *in, int len,
		  uint8 *out, const uint8 *tag)
{
	int			n;
	OSSL_PARAM	params[2];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
												  (void *) tag, HDB_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, params) != 1)
		openssl_failed("IV setup");
	if (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, aadlen) != 1)
		openssl_failed("decryption");
	if (len > 0 && EVP_DecryptUpdate(ctx, out, &n, in, len) != 1)
		openssl_failed("decryption");
	return EVP_DecryptFinal_ex(ctx, out + len, &n) == 1;
}

/* Seal len bytes of in into out (same length) and tag under a data key. */
void
hdb_aead_seal(HdbDataKey *key, const uint8 *nonce,
			  const uint8 *aad, int aadlen, const uint8 *in, int len,
			  uint8 *out, uint8 *tag)
{
	seal_with((EVP_CIPHER_CTX *) key->enc, nonce, aad, aadlen, in, len,
			  out, tag);
}

/* Open a payload sealed by hdb_aead_seal; false if it is not authentic. */
bool
hdb_aead_open(HdbDataKey *key, const uint8 *nonce,
			  const uint8 *aad, int aadlen, const uint8 *in, int len,
			  uint8 *out, const uint8 *tag)
{
	return open_with((EVP_CIPHER_CTX *) key->dec, nonce, aad, aadlen, in, len,
					 out, tag);
}

/* The AAD of a wrapped key: a fixed prefix and the key id, little-endian. */
static int
wrap_aad(int32 key_id, uint8 *aad)
{
	int			n = strlen(WRAP_AAD_PREFIX);
	uint32		id = (uint32) key_id;

	memcpy(aad, WRAP_AAD_PREFIX, n);
	aad[n++] = id & 0xff;
	aad[n++] = (id >> 8) & 0xff;
	aad[n++] = (id >> 16) & 0xff;
	aad[n++] = (id >> 24) & 0xff;
	return n;
}

/*
 * Wrap a data key with the master key: nonce || ciphertext || tag, with the
 * key id in the AAD so that a wrapped key cannot be moved to another id.
 */
void
hdb_wrap_key(const uint8 *master, int32 key_id, const uint8 *datakey,
			 uint8 *wrapped)
{
	EVP_CIPHER_CTX *ctx = hdb_cipher_ctx_new(master, true);
	uint8		aad[64];
	int			aadlen = wrap_aad(key_id, aad);

	hdb_random_bytes(wrapped, HDB_NONCE_LEN);
	PG_TRY();
	{
		seal_with(ctx, wrapped, aad, aadlen, datakey, HDB_KEY_LEN,
				  wrapped + HDB_NONCE_LEN,
				  wrapped + HDB_NONCE_LEN + HDB_KEY_LEN);
	}
	PG_FINALLY();
	{
		EVP_CIPHER_CTX_free(ctx);
	}
	PG_END_TRY();
}

/* Unwrap a data key; false when the master key does not authenticate it. */
bool
hdb_unwrap_key(const uint8 *master, int32 key_id, const uint8 *wrapped,
			   uint8 *datakey)
{
	EVP_CIPHER_CTX *ctx = hdb_cipher_ctx_new(master, false);
	uint8		aad[64];
	int			aadlen = wrap_aad(key_id, aad);
	bool		ok;

	PG_TRY();
	{
		ok = open_with(ctx, wrapped, aad, aadlen, wrapped + HDB_NONCE_LEN,
					   HDB_KEY_LEN, datakey,
					   wrapped + HDB_NONCE_LEN + HDB_KEY_LEN);
	}
	PG_FINALLY();
	{
		EVP_CIPHER_CTX_free(ctx);
	}
	PG_END_TRY();
	if (!ok)
		explicit_bzero(datakey, HDB_KEY_LEN);
	return ok;
}

/*
 * The master key's check value: the first 8 bytes of SHA-256 over a fixed
 * prefix and the key, in hex (HDB_KEY_CHECK_HEX digits plus a NUL).  It
 * tells which master key wrapped a data key without revealing the key.
 */
void
hdb_master_key_check(const uint8 *master, char *hex)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8		digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	int			i;

	if (md == NULL ||
		EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		EVP_DigestUpdate(md, CHECK_PREFIX, strlen(CHECK_PREFIX)) != 1 ||
		EVP_DigestUpdate(md, master, HDB_KEY_LEN) != 1 ||
		EVP_DigestFinal_ex(md, digest, &dlen) != 1)
	{
		EVP_MD_CTX_free(md);
		openssl_failed("key check");
	}
	EVP_MD_CTX_free(md);
	for (i = 0; i < HDB_KEY_CHECK_HEX / 2; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	hex[HDB_KEY_CHECK_HEX] = '\0';
	explicit_bzero(digest, sizeof(digest));
}
