/*-------------------------------------------------------------------------
 *
 * hdb_crypto.h
 *	  Interface of heliosdb's crypto module: AES-256-GCM, key wrapping,
 *	  keyring providers and the per-table data keys.
 *
 * A table encrypted by the heliosdb_encrypted access method writes with its
 * current data key (hdb_datakey_for_write) and reads every payload with the
 * data key that the payload names (hdb_datakey_lookup).  Data keys are
 * 256-bit random keys stored in heliosdb.table_key, wrapped by the master
 * key that a keyring provider yields.  Unwrapped keys live only in this
 * backend's cache, expanded into row ciphers (aead.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_CRYPTO_H
#define HDB_CRYPTO_H

#include "utils/relcache.h"

#define HDB_KEY_LEN		32		/* AES-256 */
#define HDB_NONCE_LEN	12		/* GCM's 96-bit IV */
#define HDB_TAG_LEN		16		/* full-length GCM tag */

/* An unwrapped data key, ready to seal and open payloads. */
typedef struct HdbDataKey
{
	int32		key_id;			/* heliosdb.table_key.key_id */
	Oid			relid;			/* table it was created for */
	int32		version;		/* version among that table's keys */
	void	   *cipher;			/* row cipher (aead.c) keyed with it */
	int64		seal_mark;		/* heliosdb.seal_block_seq when it was made */
	int64		checked_block;	/* seal block its budget was last checked at */
} HdbDataKey;

extern void hdb_crypto_init(void);
extern Oid	hdb_crypto_relid(const char *name, bool missing_ok);

/* keyring.c: the master key */
extern void hdb_keyring_init(void);
extern void hdb_keyring_check(void);
extern void hdb_keyring_read(uint8 *key);
extern bool hdb_keyring_read_previous(uint8 *key);

/* aead.c: AES-256-GCM */
extern void hdb_random_bytes(uint8 *buf, int len);
extern void hdb_random_nonce(uint8 *nonce);
extern void hdb_aead_seal(HdbDataKey *key, const uint8 *nonce,
						  const uint8 *aad, int aadlen,
						  const uint8 *in, int len,
						  uint8 *out, uint8 *tag);
extern bool hdb_aead_open(HdbDataKey *key, const uint8 *nonce,
						  const uint8 *aad, int aadlen,
						  const uint8 *in, int len,
						  uint8 *out, const uint8 *tag);
extern void hdb_aead_preload(void);
extern void *hdb_row_cipher_new(const uint8 *key);
extern void hdb_row_cipher_free(void *cipher);
extern void hdb_wrap_key(const uint8 *master, int32 key_id,
						 const uint8 *datakey, uint8 *wrapped);
extern bool hdb_unwrap_key(const uint8 *master, int32 key_id,
						   const uint8 *wrapped, uint8 *datakey);
extern void hdb_master_key_check(const uint8 *master, char *hex);

#define HDB_WRAPPED_LEN		(HDB_NONCE_LEN + HDB_KEY_LEN + HDB_TAG_LEN)
#define HDB_KEY_CHECK_HEX	16	/* hex digits of the master key check */

/*
 * A data key as the leader of a parallel scan hands it to its workers:
 * wrapped, so that no key in the clear goes into shared memory, and sparing
 * each worker a read of the key table (datakey.c).
 */
typedef struct HdbSharedKey
{
	int32		key_id;			/* 0: none */
	Oid			relid;
	int32		version;
	uint8		wrapped[HDB_WRAPPED_LEN];
	char		check[HDB_KEY_CHECK_HEX + 1];
} HdbSharedKey;

/* seal_budget.c: how many rows a data key may have sealed */
extern void hdb_seal_budget_init(void);
extern bool hdb_seal_budget_count(int64 mark, int64 *checked);
extern int	hdb_seal_budget_max_rows(void);

/* datakey.c: per-table data keys */
extern HdbDataKey *hdb_datakey_for_write(Relation rel);
extern HdbDataKey *hdb_datakey_for_seal(Relation rel);
extern HdbDataKey *hdb_datakey_lookup(int32 key_id);
extern void hdb_datakey_init(void);
extern int32 hdb_datakey_create(Oid relid);
extern Oid	hdb_datakey_owner(Relation rel);
extern void hdb_datakey_share(Relation rel, HdbSharedKey *shared);
extern void hdb_datakey_adopt(const HdbSharedKey *shared);

#endif							/* HDB_CRYPTO_H */
