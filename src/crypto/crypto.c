/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Set-up of heliosdb's crypto module: AES-256-GCM, key wrapping and keyring providers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "crypto/hdb_crypto.h"

/*
 * Called from _PG_init while the library is preloaded: defines the module's
 * GUCs, registers its shared memory and installs its hooks.
 */
void
hdb_crypto_init(void)
{
}
