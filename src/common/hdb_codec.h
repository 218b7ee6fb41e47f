/*-------------------------------------------------------------------------
 *
 * hdb_codec.h
 *	  Small text codecs shared by heliosdb's modules: base64url without
 *	  padding (RFC 4648 section 5, as JOSE uses it) and lower-case hex.
 *
 * Decoders are strict: they refuse padding, whitespace, characters outside
 * the alphabet and non-canonical trailing bits, so that one byte string
 * has exactly one encoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HDB_CODEC_H
#define HDB_CODEC_H

/* Bytes needed to encode/decode len bytes/characters (no terminator). */
#define HDB_BASE64URL_ENC_LEN(len)	(((len) * 4 + 2) / 3)
#define HDB_BASE64URL_DEC_LEN(len)	(((len) * 3) / 4)

extern int	hdb_base64url_encode(const uint8 *src, size_t len, char *dst);
extern int	hdb_base64url_decode(const char *src, size_t len, uint8 *dst);
extern void hdb_hex_encode(const uint8 *src, size_t len, char *dst);
extern int	hdb_hex_digit(char c);

#endif							/* HDB_CODEC_H */
