/*-------------------------------------------------------------------------
 *
 * gcm_fast_check.c
 *	  A standalone check of src/crypto/gcm_fast.c against OpenSSL's EVP
 *	  AES-256-GCM, built with AddressSanitizer and UBSan by TAP test
 *	  036_gcm_fast.pl.
 *
 * For random keys, nonces and AAD, and messages of every length from 0 to
 * 300 bytes and some longer ones, it seals with both and compares, seals
 * again in place (the codec encrypts rows in place), opens, and checks
 * that a flipped bit anywhere in AAD, ciphertext or tag is refused.  Every
 * buffer is allocated at its exact size, so that a read or write past an
 * end is caught by the sanitizer.  Exits 0 when everything agrees, 1 on
 * the first disagreement, and prints "skip" on a CPU without AES-NI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/gcm_fast.h"

/* plain stdio: this program is not linked with libpgport */
#undef printf
#undef fprintf
#include <stdio.h>

static void
fail(const char *what, int len, int aadlen)
{
	fprintf(stderr, "gcm_fast disagrees: %s (message %d bytes, AAD %d)\n",
			what, len, aadlen);
	exit(1);
}

/* A copy of len bytes at p in a buffer of exactly that size. */
static uint8 *
exact(const uint8 *p, int len)
{
	uint8	   *b = malloc(len > 0 ? len : 1);

	if (len > 0)
		memcpy(b, p, len);
	return b;
}

static void
evp_seal(const uint8 *key, const uint8 *nonce, const uint8 *aad, int aadlen,
		 const uint8 *in, int len, uint8 *out, uint8 *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			n;

	if (ctx == NULL ||
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
		(aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, aadlen) != 1) ||
		(len > 0 && EVP_EncryptUpdate(ctx, out, &n, in, len) != 1) ||
		EVP_EncryptFinal_ex(ctx, out + len, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
	{
		fprintf(stderr, "EVP AES-256-GCM failed\n");
		exit(1);
	}
	EVP_CIPHER_CTX_free(ctx);
}

/* Seal one random message of len bytes both ways and check everything. */
static void
check(int len)
{
	uint8		key[32];
	uint8		nonce[12];
	uint8		rnd[64];
	int			aadlen;
	uint8	   *msg;
	uint8	   *ref;
	uint8		reftag[16];
	uint8	   *in;
	uint8	   *out;
	uint8	   *aad;
	uint8	   *nc;
	uint8	   *tag;
	HdbFastGcm	g;
	int			flip;

	if (RAND_bytes(key, sizeof(key)) != 1 ||
		RAND_bytes(nonce, sizeof(nonce)) != 1 ||
		RAND_bytes(rnd, sizeof(rnd)) != 1)
		exit(1);
	aadlen = rnd[0] % 41;
	msg = malloc(len + 1);
	ref = malloc(len + 1);
	if (RAND_bytes(msg, len + 1) != 1)
		exit(1);
	evp_seal(key, nonce, rnd + 1, aadlen, msg, len, ref, reftag);
	hdb_fast_gcm_init(&g, key);

	/* separate buffers, each of its exact size */
	in = exact(msg, len);
	out = malloc(len > 0 ? len : 1);
	aad = exact(rnd + 1, aadlen);
	nc = exact(nonce, 12);
	tag = malloc(16);
	hdb_fast_gcm_seal(&g, nc, aad, aadlen, in, len, out, tag);
	if (memcmp(out, ref, len) != 0)
		fail("ciphertext", len, aadlen);
	if (memcmp(tag, reftag, 16) != 0)
		fail("tag", len, aadlen);

	/* in place, as the codec seals rows */
	memcpy(in, msg, len);
	hdb_fast_gcm_seal(&g, nc, aad, aadlen, in, len, in, tag);
	if (memcmp(in, ref, len) != 0 || memcmp(tag, reftag, 16) != 0)
		fail("in-place sealing", len, aadlen);

	/* open: the plaintext back, in place too */
	if (!hdb_fast_gcm_open(&g, nc, aad, aadlen, ref, len, out, reftag) ||
		memcmp(out, msg, len) != 0)
		fail("opening", len, aadlen);
	if (!hdb_fast_gcm_open(&g, nc, aad, aadlen, in, len, in, reftag) ||
		memcmp(in, msg, len) != 0)
		fail("opening in place", len, aadlen);

	/* one flipped bit of AAD, ciphertext or tag must be refused */
	flip = (rnd[50] | rnd[51] << 8) % ((aadlen + len + 16) * 8);
	if (flip < aadlen * 8)
		aad[flip / 8] ^= 1 << (flip % 8);
	else if (flip < (aadlen + len) * 8)
		ref[flip / 8 - aadlen] ^= 1 << (flip % 8);
	else
		reftag[flip / 8 - aadlen - len] ^= 1 << (flip % 8);
	if (hdb_fast_gcm_open(&g, nc, aad, aadlen, ref, len, out, reftag))
		fail("a flipped bit was accepted", len, aadlen);

	free(msg);
	free(ref);
	free(in);
	free(out);
	free(aad);
	free(nc);
	free(tag);
}

int
main(void)
{
	static const int longer[] = {1000, 1024, 4099, 65541};
	int			cases = 0;
	int			round;
	int			len;
	int			i;

	if (!hdb_fast_gcm_available())
	{
		printf("skip: this CPU lacks AES-NI, PCLMULQDQ or SSE4.1\n");
		return 0;
	}
	for (round = 0; round < 4; round++)
	{
		for (len = 0; len <= 300; len++, cases++)
			check(len);
		for (i = 0; i < lengthof(longer); i++, cases++)
			check(longer[i]);
	}
	printf("ok: %d messages agree with EVP AES-256-GCM\n", cases);
	return 0;
}
