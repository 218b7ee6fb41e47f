/*-------------------------------------------------------------------------
 *
 * hdb_crypto.h
 *	  Interface of heliosdb's crypto module: AES-256-GCM, key wrapping and keyring providers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_CRYPTO_H
#define HDB_CRYPTO_H

extern void hdb_crypto_init(void);

#endif							/* HDB_CRYPTO_H */
