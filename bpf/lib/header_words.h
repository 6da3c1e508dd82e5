/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whether bytes start with a header name, letters in either case, eight
 * bytes at a time: a byte-by-byte loop with a case fold per byte is a
 * branch per byte for the verifier, in a callback it checks for every
 * offset of a request head.
 *
 * For the literal s (lowercase, at most 24 bytes), word k of: its bytes
 * (HDR_BYTE), 0x20 at its letters (HDR_FOLD_BYTE: a byte ORed with 0x20
 * is a lowercase letter exactly when it is that letter in either case)
 * and 0xff at its bytes (HDR_VALID_BYTE). Anything but a letter is
 * compared as it is: "content\rlength:" is no Content-Length.
 *
 * No kernel type: tests/stream_header_test.ts compiles it natively.
 */
#ifndef RINGFENCE_HEADER_WORDS_H
#define RINGFENCE_HEADER_WORDS_H

#define HDR_BYTE(s, i)							\
	((__u64)((i) < sizeof(s) - 1 ?					\
		 (__u8)(s)[(i) < sizeof(s) - 1 ? (i) : 0] : 0))
#define HDR_IS_LETTER(s, i) (HDR_BYTE(s, i) >= 'a' && HDR_BYTE(s, i) <= 'z')
#define HDR_FOLD_BYTE(s, i) ((__u64)(HDR_IS_LETTER(s, i) ? 0x20 : 0))
#define HDR_VALID_BYTE(s, i) ((__u64)((i) < sizeof(s) - 1 ? 0xff : 0))
#define HDR_WORD(b, s, k)						\
	(b(s, 8 * (k)) | b(s, 8 * (k) + 1) << 8 | b(s, 8 * (k) + 2) << 16 |	\
	 b(s, 8 * (k) + 3) << 24 | b(s, 8 * (k) + 4) << 32 |		\
	 b(s, 8 * (k) + 5) << 40 | b(s, 8 * (k) + 6) << 48 |		\
	 b(s, 8 * (k) + 7) << 56)

/* Word k of s matches the eight bytes word_at(t, pos + 8k) reads. */
#define HDR_WORD_OK(word_at, t, pos, s, k)				\
	(sizeof(s) - 1 <= 8 * (k) ||					\
	 ((word_at(t, (pos) + 8 * (k)) | HDR_WORD(HDR_FOLD_BYTE, s, k)) &	\
	  HDR_WORD(HDR_VALID_BYTE, s, k)) == HDR_WORD(HDR_BYTE, s, k))

/* Whether the bytes at pos start with s (lowercase, at most 24 bytes). */
#define HDR_IS(word_at, t, pos, s)					\
	(HDR_WORD_OK(word_at, t, pos, s, 0) &&				\
	 HDR_WORD_OK(word_at, t, pos, s, 1) &&				\
	 HDR_WORD_OK(word_at, t, pos, s, 2))

#endif /* RINGFENCE_HEADER_WORDS_H */
