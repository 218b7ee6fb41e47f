/*-------------------------------------------------------------------------
 *
 * aead.c
 *	  AES-256-GCM through OpenSSL: sealing and opening of row payloads,
 *	  wrapping of data keys by the master key, and the master key's check
 *	  value.
 *
 * Rows and wrapped keys take two routes through OpenSSL to the same
 * AES-256-GCM.  Key wrapping, which is rare, uses the EVP AEAD interface.
 * Rows do not: under OpenSSL 3 each new IV given to an EVP GCM context goes
 * through the provider's parameter plumbing (OSSL_PARAM lookups by name,
 * IV length queries), about 2,000 instructions a row against a few hundred
 * for the cryptography of a short row.  A data key's "row cipher" instead
 * composes GCM from two OpenSSL parts set up once per key:
 *	- an EVP AES-256-ECB context, which runs the provider's AES (AES-NI
 *	  where the CPU has it) on whole blocks with no per-call parameters;
 *	- OpenSSL's GCM mode (CRYPTO_gcm128_*, the code its provider builds
 *	  on) for the counters, GHASH (PCLMULQDQ where available), the tag and
 *	  its constant-time check, with that AES as its block cipher.
 * This file adds only GCM's CTR keystream: counter blocks (GCM's 32-bit
 * increment) encrypted in batches and XORed in.  On CPUs with AES-NI and
 * PCLMULQDQ, row ciphers use gcm_fast.c instead, which needs no calls
 * through OpenSSL at all.  Before the first row cipher of a process is
 * made, a known-answer test of both against EVP's AES-256-GCM runs, so
 * that any disagreement fails closed.
 *
 * Every failure of OpenSSL is an error: a payload must never be written
 * half-encrypted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/gcm_fast.h"
#include "crypto/hdb_crypto.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"

/* Domain separation of the key-wrapping AAD and of the key check value. */
#define WRAP_AAD_PREFIX		"heliosdb data key v1"
#define CHECK_PREFIX		"heliosdb master key check v1"

/* Ciphers from the default provider, fetched once per process. */
static EVP_CIPHER *aes_gcm = NULL;
static EVP_CIPHER *aes_ecb = NULL;

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
 * The fetched AES-256-GCM and AES-256-ECB ciphers.  EVP_aes_256_gcm()
 * would make every context set up with it fetch the provider's
 * implementation again.
 */
static EVP_CIPHER *
fetch_cipher(EVP_CIPHER **cache, const char *name)
{
	if (*cache == NULL)
	{
		*cache = EVP_CIPHER_fetch(NULL, name, NULL);
		if (*cache == NULL)
			openssl_failed("cipher lookup");
	}
	return *cache;
}

/*
 * An EVP context for AES-256-GCM keyed with key, for one direction, used
 * to wrap keys.  OpenSSL cleanses the key schedule when it is freed.
 */
static EVP_CIPHER_CTX *
gcm_ctx_new(const uint8 *key, bool encrypt)
{
	EVP_CIPHER *cipher = fetch_cipher(&aes_gcm, "AES-256-GCM");
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

/* Encrypt with an EVP context already keyed for encryption. */
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
 * Decrypt with an EVP context already keyed for decryption; false when the
 * tag does not authenticate the input (out then holds garbage to be
 * ignored).  The expected tag is handed over with the IV;
 * EVP_DecryptFinal_ex checks it (in constant time) once all of the input
 * has been hashed.
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

/*
 * A data key's row cipher: AES-256 (ECB, whole blocks) keyed once, and
 * OpenSSL's GCM state (the hash key H and its tables) built on it.
 *
 * All of a row's AES blocks are computed in one call before GCM runs: the
 * encrypted counter blocks J0 (for the tag) and inc32(J0) onwards (the
 * keystream), for up to KS_BLOCKS blocks.  GCM's callbacks then serve the
 * blocks it asks for from there, and compute any other block (longer rows,
 * the hash key) with AES directly.  The callbacks cannot report errors to
 * OpenSSL's GCM code, so they set failed, which every operation checks
 * when GCM returns.
 */
#define KS_BLOCKS	64

typedef struct RowCipher
{
	bool		fast;			/* use fastgcm, not ecb and gcm */
	HdbFastGcm	fastgcm;
	EVP_CIPHER_CTX *ecb;
	GCM128_CONTEXT *gcm;
	bool		failed;
	uint8		nonce[HDB_NONCE_LEN];	/* of the blocks in ks */
	uint32		first;			/* counter of ks's first block */
	int			nblocks;		/* blocks in ks; 0: none */
	uint8		ks[KS_BLOCKS * 16]; /* AES of the counter blocks */
} RowCipher;

/* Counter blocks encrypted per EVP call outside ks. */
#define CTR_BATCH	32

/* Write the counter block nonce || ctr (big-endian) at out. */
static inline void
counter_block(uint8 *out, const uint8 *nonce, uint32 ctr)
{
	uint32		be = pg_hton32(ctr);

	memcpy(out, nonce, HDB_NONCE_LEN);
	memcpy(out + HDB_NONCE_LEN, &be, 4);
}

/*
 * Where ks holds the AES of the blocks counter blocks from ivec on, or
 * NULL when it does not hold them all.
 */
static inline const uint8 *
ks_lookup(const RowCipher *rc, const unsigned char *ivec, size_t blocks)
{
	uint32		ctr;

	if (rc->nblocks == 0 ||
		memcmp(ivec, rc->nonce, HDB_NONCE_LEN) != 0)
		return NULL;
	memcpy(&ctr, ivec + HDB_NONCE_LEN, 4);
	ctr = pg_ntoh32(ctr) - rc->first;	/* modulo 2^32, as inc32 */
	if ((size_t) ctr + blocks > (size_t) rc->nblocks)
		return NULL;
	return rc->ks + 16 * ctr;
}

/*
 * Compute into ks the AES of the counter blocks of a row of len bytes
 * under nonce: J0 = nonce || 1 for the tag, then nonce || 2 on for the
 * keystream, as far as ks goes.
 */
static void
ks_prepare(RowCipher *rc, const uint8 *nonce, int len)
{
	int			nb = Min(1 + (len + 15) / 16, KS_BLOCKS);
	int			i;

	memcpy(rc->nonce, nonce, HDB_NONCE_LEN);
	rc->first = 1;
	for (i = 0; i < nb; i++)
		counter_block(rc->ks + 16 * i, nonce, rc->first + i);
	if (EVP_Cipher(rc->ecb, rc->ks, rc->ks, nb * 16) != nb * 16)
	{
		rc->failed = true;
		nb = 0;
	}
	rc->nblocks = nb;
}

/* Forget (and wipe) the keystream of the last row. */
static void
ks_clear(RowCipher *rc)
{
	if (rc->nblocks > 0)
		explicit_bzero(rc->ks, rc->nblocks * 16);
	rc->nblocks = 0;
}

/* AES-256 of one block: GCM's block128_f over the row cipher. */
static void
row_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
	RowCipher  *rc = (RowCipher *) key;
	const uint8 *ks = ks_lookup(rc, in, 1);

	if (ks != NULL)
		memcpy(out, ks, 16);
	else if (EVP_Cipher(rc->ecb, out, in, 16) != 16)
		rc->failed = true;
}

/* XOR n bytes (a multiple of 8) of in and ks into out. */
static inline void
xor_blocks(uint8 *out, const uint8 *in, const uint8 *ks, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i += 8)
	{
		uint64		a;
		uint64		b;

		memcpy(&a, in + i, 8);
		memcpy(&b, ks + i, 8);
		a ^= b;
		memcpy(out + i, &a, 8);
	}
}

/*
 * GCM's ctr128_f: XOR blocks 16-byte blocks of in with the keystream that
 * starts at the counter block ivec, whose last 32 bits are a big-endian
 * counter incremented modulo 2^32 from block to block (inc32 of NIST SP
 * 800-38D); the other 96 bits stay as they are.
 */
static void
row_ctr32(const unsigned char *in, unsigned char *out, size_t blocks,
		  const void *key, const unsigned char ivec[16])
{
	RowCipher  *rc = (RowCipher *) key;
	const uint8 *cached = ks_lookup(rc, ivec, blocks);
	uint8		ks[CTR_BATCH * 16];
	uint32		ctr;

	if (cached != NULL)
	{
		xor_blocks(out, in, cached, blocks * 16);
		return;
	}
	memcpy(&ctr, ivec + HDB_NONCE_LEN, 4);
	ctr = pg_ntoh32(ctr);
	while (blocks > 0)
	{
		int			nb = Min(blocks, CTR_BATCH);
		int			i;

		for (i = 0; i < nb; i++)
			counter_block(ks + 16 * i, ivec, ctr++);
		if (EVP_Cipher(rc->ecb, ks, ks, nb * 16) != nb * 16)
		{
			rc->failed = true;
			memset(out, 0, blocks * 16);
			break;
		}
		xor_blocks(out, in, ks, nb * 16);
		in += nb * 16;
		out += nb * 16;
		blocks -= nb;
	}
	explicit_bzero(ks, sizeof(ks));
}

static void row_cipher_self_test(void);

/*
 * A row cipher keyed with key in mcxt: gcm_fast.c's if fast, else one
 * composed of OpenSSL's parts.
 */
static RowCipher *
row_cipher_make(const uint8 *key, bool fast, MemoryContext mcxt)
{
	RowCipher  *rc = MemoryContextAllocZero(mcxt, sizeof(RowCipher));

	if (fast)
	{
		rc->fast = true;
		hdb_fast_gcm_init(&rc->fastgcm, key);
		return rc;
	}
	rc->ecb = EVP_CIPHER_CTX_new();
	if (rc->ecb == NULL ||
		EVP_EncryptInit_ex2(rc->ecb, fetch_cipher(&aes_ecb, "AES-256-ECB"),
							key, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_set_padding(rc->ecb, 0) != 1)
	{
		hdb_row_cipher_free(rc);
		openssl_failed("key setup");
	}
	/* computes the hash key H = AES(key, 0^128) through row_block */
	rc->gcm = CRYPTO_gcm128_new(rc, row_block);
	if (rc->gcm == NULL || rc->failed)
	{
		hdb_row_cipher_free(rc);
		openssl_failed("key setup");
	}
	return rc;
}

/* Has this process (or the postmaster it was forked from) run the test? */
static bool self_tested = false;

/*
 * The row cipher of a data key.  Freed by hdb_row_cipher_free, which wipes
 * the key schedule and has OpenSSL cleanse its own.
 */
void *
hdb_row_cipher_new(const uint8 *key)
{
	if (!self_tested)
	{
		row_cipher_self_test();
		self_tested = true;
	}
	return row_cipher_make(key, hdb_fast_gcm_available(), TopMemoryContext);
}

/*
 * Called from _PG_init: when the library is preloaded, fetch OpenSSL's
 * ciphers and run the self-test once in the postmaster, so that every
 * backend and parallel worker inherits them instead of spending about a
 * millisecond on them at its first encrypted row.  A failure here is not
 * fatal to the server: it is forgotten, and each process then tries again
 * at first use and reports it there.
 */
void
hdb_aead_preload(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!process_shared_preload_libraries_in_progress)
		return;
	PG_TRY();
	{
		/* it fetches both ciphers, through EVP and the OpenSSL row cipher */
		row_cipher_self_test();
		self_tested = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
}

void
hdb_row_cipher_free(void *cipher)
{
	RowCipher  *rc = (RowCipher *) cipher;

	if (rc == NULL)
		return;
	if (rc->gcm != NULL)
		CRYPTO_gcm128_release(rc->gcm);
	if (rc->ecb != NULL)
		EVP_CIPHER_CTX_free(rc->ecb);
	explicit_bzero(rc, sizeof(RowCipher));
	pfree(rc);
}

/* Seal len bytes of in into out (same length) and tag with a row cipher. */
static void
row_seal(RowCipher *rc, const uint8 *nonce,
		 const uint8 *aad, int aadlen, const uint8 *in, int len,
		 uint8 *out, uint8 *tag)
{
	if (rc->fast)
	{
		hdb_fast_gcm_seal(&rc->fastgcm, nonce, aad, aadlen, in, len,
						  out, tag);
		return;
	}
	ks_prepare(rc, nonce, len);
	CRYPTO_gcm128_setiv(rc->gcm, nonce, HDB_NONCE_LEN);
	if ((aadlen > 0 && CRYPTO_gcm128_aad(rc->gcm, aad, aadlen) != 0) ||
		(len > 0 && CRYPTO_gcm128_encrypt_ctr32(rc->gcm, in, out, len,
												row_ctr32) != 0))
		rc->failed = true;
	CRYPTO_gcm128_tag(rc->gcm, tag, HDB_TAG_LEN);
	ks_clear(rc);
	if (rc->failed)
	{
		rc->failed = false;
		openssl_failed("encryption");
	}
}

/*
 * Open with a row cipher; false when the tag does not authenticate the
 * input (out then holds garbage to be ignored).  CRYPTO_gcm128_finish
 * compares the tags in constant time.
 */
static bool
row_open(RowCipher *rc, const uint8 *nonce,
		 const uint8 *aad, int aadlen, const uint8 *in, int len,
		 uint8 *out, const uint8 *tag)
{
	bool		ok;

	if (rc->fast)
		return hdb_fast_gcm_open(&rc->fastgcm, nonce, aad, aadlen, in, len,
								 out, tag);
	ks_prepare(rc, nonce, len);
	CRYPTO_gcm128_setiv(rc->gcm, nonce, HDB_NONCE_LEN);
	if ((aadlen > 0 && CRYPTO_gcm128_aad(rc->gcm, aad, aadlen) != 0) ||
		(len > 0 && CRYPTO_gcm128_decrypt_ctr32(rc->gcm, in, out, len,
												row_ctr32) != 0))
		rc->failed = true;
	ok = CRYPTO_gcm128_finish(rc->gcm, tag, HDB_TAG_LEN) == 0;
	ks_clear(rc);
	if (rc->failed)
	{
		rc->failed = false;
		openssl_failed("decryption");
	}
	return ok;
}

/*
 * Known-answer test of the row ciphers against EVP's AES-256-GCM, on a
 * fixed key and nonce, AAD of several lengths and messages of lengths that
 * take each path: empty, within one block, around whole blocks and
 * batches, within the precomputed keystream with a partial last block,
 * and beyond it.  Both kinds of row cipher are tested where the CPU runs
 * both.  Fails closed.
 */
static void
row_cipher_self_test(void)
{
	static const int lengths[] = {0, 1, 16, 47, 48, 57, 64, 65, 112, 113,
	160, KS_BLOCKS * 16 + 7};
	static const int aadlengths[] = {0, 2, 19};
	uint8		key[HDB_KEY_LEN];
	uint8		nonce[HDB_NONCE_LEN];
	uint8		aad[19];
	uint8	   *msg;
	uint8	   *ref;
	uint8	   *got;
	uint8		reftag[HDB_TAG_LEN];
	uint8		gottag[HDB_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	RowCipher  *rcs[2];
	int			nrc = 0;
	int			maxlen = lengths[lengthof(lengths) - 1];
	int			i;
	bool		ok = true;

	for (i = 0; i < (int) sizeof(key); i++)
		key[i] = i * 7 + 1;
	for (i = 0; i < (int) sizeof(nonce); i++)
		nonce[i] = 0xa0 + i;
	for (i = 0; i < (int) sizeof(aad); i++)
		aad[i] = i * 3;
	msg = palloc(maxlen);
	ref = palloc(maxlen);
	got = palloc(maxlen);
	for (i = 0; i < maxlen; i++)
		msg[i] = i * 13 + 5;

	rcs[nrc++] = row_cipher_make(key, false, CurrentMemoryContext);
	if (hdb_fast_gcm_available())
		rcs[nrc++] = row_cipher_make(key, true, CurrentMemoryContext);
	ctx = gcm_ctx_new(key, true);
	for (i = 0; ok && i < lengthof(lengths) * lengthof(aadlengths); i++)
	{
		int			len = lengths[i / lengthof(aadlengths)];
		int			aadlen = aadlengths[i % lengthof(aadlengths)];
		int			c;

		seal_with(ctx, nonce, aad, aadlen, msg, len, ref, reftag);
		for (c = 0; ok && c < nrc; c++)
		{
			row_seal(rcs[c], nonce, aad, aadlen, msg, len, got, gottag);
			ok = memcmp(got, ref, len) == 0 &&
				memcmp(gottag, reftag, sizeof(reftag)) == 0;
			/* and back, with the tag checked */
			ok = ok && row_open(rcs[c], nonce, aad, aadlen, ref, len, got,
								reftag) &&
				memcmp(got, msg, len) == 0;
			reftag[i % HDB_TAG_LEN] ^= 1;
			ok = ok && !row_open(rcs[c], nonce, aad, aadlen, ref, len, got,
								 reftag);
			reftag[i % HDB_TAG_LEN] ^= 1;
			if (ok && len > 0)
			{
				/* a flipped ciphertext bit must fail too */
				ref[len - 1] ^= 0x80;
				ok = !row_open(rcs[c], nonce, aad, aadlen, ref, len, got,
							   reftag);
				ref[len - 1] ^= 0x80;
			}
		}
	}
	EVP_CIPHER_CTX_free(ctx);
	for (i = 0; i < nrc; i++)
		hdb_row_cipher_free(rcs[i]);
	pfree(msg);
	pfree(ref);
	pfree(got);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("AES-256-GCM self-test failed"),
				 errdetail("The row cipher does not agree with OpenSSL's AES-256-GCM.")));
}

/* Seal len bytes of in into out (same length) and tag under a data key. */
void
hdb_aead_seal(HdbDataKey *key, const uint8 *nonce,
			  const uint8 *aad, int aadlen, const uint8 *in, int len,
			  uint8 *out, uint8 *tag)
{
	row_seal((RowCipher *) key->cipher, nonce, aad, aadlen, in, len,
			 out, tag);
}

/* Open a payload sealed by hdb_aead_seal; false if it is not authentic. */
bool
hdb_aead_open(HdbDataKey *key, const uint8 *nonce,
			  const uint8 *aad, int aadlen, const uint8 *in, int len,
			  uint8 *out, const uint8 *tag)
{
	return row_open((RowCipher *) key->cipher, nonce, aad, aadlen, in, len,
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
	EVP_CIPHER_CTX *ctx = gcm_ctx_new(master, true);
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
	EVP_CIPHER_CTX *ctx = gcm_ctx_new(master, false);
	uint8		aad[64];
	int			aadlen = wrap_aad(key_id, aad);
	bool		ok = false;

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
