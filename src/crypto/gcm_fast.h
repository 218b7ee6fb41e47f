/*-------------------------------------------------------------------------
 *
 * gcm_fast.h
 *	  AES-256-GCM for short messages on x86-64 CPUs with AES-NI and
 *	  PCLMULQDQ (gcm_fast.c), used by aead.c's row cipher when the CPU has
 *	  them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_GCM_FAST_H
#define HDB_GCM_FAST_H

/* GHASH takes this many blocks per reduction (gcm_fast.c). */
#define HDB_GHASH_STRIDE 8

/*
 * The expanded key of one data key: AES-256 round keys and powers of the
 * GHASH key H = AES(0^128).
 */
typedef struct HdbFastGcm
{
	uint8		round_keys[15][16];
	/* H^k * x^-1 for k = 1..HDB_GHASH_STRIDE, byte-reversed */
	uint8		hash_powers[HDB_GHASH_STRIDE][16];
	/* the same, with each one's two halves XORed into both halves */
	uint8		hash_halves[HDB_GHASH_STRIDE][16];
} HdbFastGcm;

extern bool hdb_fast_gcm_available(void);
extern void hdb_fast_gcm_init(HdbFastGcm *g, const uint8 *key);
extern void hdb_fast_gcm_seal(const HdbFastGcm *g, const uint8 *nonce,
							  const uint8 *aad, int aadlen,
							  const uint8 *in, int len,
							  uint8 *out, uint8 *tag);
extern bool hdb_fast_gcm_open(const HdbFastGcm *g, const uint8 *nonce,
							  const uint8 *aad, int aadlen,
							  const uint8 *in, int len,
							  uint8 *out, const uint8 *tag);

#endif							/* HDB_GCM_FAST_H */
