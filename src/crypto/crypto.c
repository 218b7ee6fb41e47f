/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Set-up of heliosdb's crypto module: AES-256-GCM, key wrapping,
 *	  keyring providers and data keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "crypto/hdb_crypto.h"

/*
 * Called from _PG_init while the library is preloaded: defines the keyring
 * GUCs, registers the data-key cache's invalidation callbacks and readies
 * OpenSSL for the backends to come.  Nothing here reads a key: a missing
 * keyring only fails at first use.
 */
void
hdb_crypto_init(void)
{
	hdb_keyring_init();
	hdb_seal_budget_init();
	hdb_datakey_init();
	hdb_aead_preload();
}
