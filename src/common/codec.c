/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  base64url (unpadded, strict) and hex encoders; see hdb_codec.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hdb_codec.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Encode len bytes into dst, which must have room for
 * HDB_BASE64URL_ENC_LEN(len) characters; no padding, no terminator.
 * Returns the number of characters written.
 */
int
hdb_base64url_encode(const uint8 *src, size_t len, char *dst)
{
	char	   *p = dst;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		*p++ = b64url_alphabet[src[i] >> 2];
		*p++ = b64url_alphabet[(src[i] & 3) << 4];
	}
	else if (len - i == 2)
	{
		uint32		v = (src[i] << 8) | src[i + 1];

		*p++ = b64url_alphabet[v >> 10];
		*p++ = b64url_alphabet[(v >> 4) & 63];
		*p++ = b64url_alphabet[(v & 15) << 2];
	}
	return p - dst;
}

static inline int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode len characters of unpadded base64url into dst, which must have
 * room for HDB_BASE64URL_DEC_LEN(len) bytes.  Returns the number of bytes
 * written, or -1 when the input is not canonical base64url (a character
 * outside the alphabet, padding, a length of 1 mod 4, or non-zero bits in
 * the unused part of the last character).
 */
int
hdb_base64url_decode(const char *src, size_t len, uint8 *dst)
{
	uint8	   *p = dst;
	uint32		acc = 0;
	int			bits = 0;

	if (len % 4 == 1)
		return -1;

	for (size_t i = 0; i < len; i++)
	{
		int			v = b64url_value(src[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			*p++ = (uint8) (acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	/* Leftover bits must be zero, or two encodings decode alike. */
	if (acc != 0)
		return -1;
	return p - dst;
}

/*
 * Lower-case hex of len bytes into dst (2 * len characters plus a NUL).
 */
void
hdb_hex_encode(const uint8 *src, size_t len, char *dst)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
	{
		*dst++ = digits[src[i] >> 4];
		*dst++ = digits[src[i] & 15];
	}
	*dst = '\0';
}

/* The value of a hexadecimal digit, either case; -1 for anything else. */
int
hdb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
