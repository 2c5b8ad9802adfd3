/* Internet checksum (RFC 1071) and its incremental update (RFC 1624 eq. 3).
 *
 * Header-only: these run on every packet inside parse.c, rewrite.c and route.c and must
 * inline there. */
#ifndef DYSCO_CSUM_H
#define DYSCO_CSUM_H

#include <stdint.h>

#include "wire.h"

/* Unfolded one's-complement sum of n bytes (big-endian 16-bit words), added to sum. */
static inline uint64_t csum_add_bytes(const uint8_t *b, uint32_t n, uint64_t sum)
{
	uint32_t i = 0;
	for (; i + 8 <= n; i += 8)
		sum += rd16(b + i) + rd16(b + i + 2) + rd16(b + i + 4) + rd16(b + i + 6);
	for (; i + 1 < n; i += 2)
		sum += rd16(b + i);
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

/* RFC 1624 eq. 3 over several words: HC' = ~(~HC + ~m + m'), m and m' the (unfolded) sums of
 * the old and the new words. */
static inline uint16_t csum_replace(uint16_t checksum, uint64_t old_sum, uint64_t new_sum)
{
	uint64_t sum = (uint64_t)(uint16_t)~checksum + (uint16_t)~csum_fold(old_sum) +
		       csum_fold(new_sum);
	return (uint16_t)~csum_fold(sum);
}

/* Valid iff the ones'-complement sum over the header with its checksum field is negative zero
 * (0xFFFF): a stored 0xFFFF where a computation gives 0x0000 is the same value and valid
 * (RFC 1624 section 3; docs/pipeline.md section 7). */
static inline int csum_ipv4_ok(const uint8_t *ip)
{
	return csum_fold(csum_add_bytes(ip, 20, 0)) == 0xFFFF;
}

#endif
