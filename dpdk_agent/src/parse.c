/* Parser (p4src/v1model/include/parser.p4) with the ingress sanity checks of
 * p4src/v1model/dysco.p4 and the checksum verification of DyscoVerifyChecksum. */
#include <string.h>

#include "csum.h"
#include "pipe_internal.h"

#define TCP_OPT_NOP_NOP_TS 0x0101080Au   /* NOP NOP TS(10) */
#define TCP_OPT_NOP_NOP_SACK 0x01010500u /* NOP NOP SACK(len), len in the low byte */
#define TCP_OPT_NOP_WS 0x01030300u       /* NOP WS(3), shift in the low byte */
#define TCP_OPT_DYSCO_TAG 0xFD084459u    /* experimental option 253, Dysco tag */
/* MSS(4) <mss> SACKOK(2) TS(10): the SYN layout (the MSS value is masked out) */
#define TCP_OPT_SYN_MASK 0xFFFF0000FFFFFFFFull
#define TCP_OPT_SYN 0x020400000402080Aull

/* NOP NOP SACK with 1..4 blocks at opts + at, within `left` option bytes: the block count, or
 * 0 when it is not one of the recognised layouts. */
static uint32_t sack_blocks_at(const uint8_t *opts, uint32_t at, uint32_t left)
{
	uint32_t blocks;
	switch (rd32(opts + at)) {
	case TCP_OPT_NOP_NOP_SACK | 10: blocks = 1; break;
	case TCP_OPT_NOP_NOP_SACK | 18: blocks = 2; break;
	case TCP_OPT_NOP_NOP_SACK | 26: blocks = 3; break;
	case TCP_OPT_NOP_NOP_SACK | 34: blocks = 4; break;
	default: return 0;
	}
	return left < 4 + 8 * blocks ? 0 : blocks;
}

/* The SYN layout (MSS SACKOK TS [NOP WS [Dysco tag]]): option bytes it covers. */
static uint32_t syn_layout_len(const uint8_t *opts, uint32_t left)
{
	uint32_t used = 16;
	if (left == used || (rd32(opts + used) & 0xFFFFFF00u) != TCP_OPT_NOP_WS)
		return used;
	used += 4;
	if (left == used || left == used + 4 || rd32(opts + used) != TCP_OPT_DYSCO_TAG)
		return used;
	return used + 8;
}

/* The recognised TCP option layouts (parse_opts_first and what follows it): NOP NOP TS
 * [NOP NOP SACK], NOP NOP SACK, the SYN layout. Anything else leaves opts_unparsed set. */
static void parse_tcp_options(struct packet *pkt)
{
	const uint8_t *opts = pkt->data + pkt->l4_off + 20;
	uint32_t left = pkt->tcp_hdr_len - 20, at = 0, blocks;

	pkt->ts_off = pkt->sack_off = pkt->sack_blocks = pkt->syn_ts_off = 0;
	if (pkt->tcp_hdr_len < 32) { /* 0-11 option bytes: no recognised layout */
		pkt->opts_unparsed = left != 0;
		return;
	}
	if (rd32(opts) == TCP_OPT_NOP_NOP_TS) {
		pkt->ts_off = 20 + 4;
		at = 12;
		left -= 12;
		if (left == 0 || left == 4 || left == 8 ||
		    (rd32(opts + at) & 0xFFFFFF00u) != TCP_OPT_NOP_NOP_SACK) {
			pkt->opts_unparsed = left != 0;
			return;
		}
	} else if ((rd32(opts) & 0xFFFFFF00u) != TCP_OPT_NOP_NOP_SACK) {
		if (left != 12 &&
		    (((uint64_t)rd32(opts) << 32 | rd32(opts + 4)) & TCP_OPT_SYN_MASK) == TCP_OPT_SYN) {
			pkt->syn_ts_off = 20 + 8;
			left -= syn_layout_len(opts, left);
		}
		pkt->opts_unparsed = left != 0;
		return;
	}
	blocks = sack_blocks_at(opts, at, left);
	if (blocks) {
		pkt->sack_off = (uint8_t)(20 + at + 4);
		pkt->sack_blocks = (uint8_t)blocks;
		left -= 4 + 8 * blocks;
	}
	pkt->opts_unparsed = left != 0;
}

/* TCP checksum over the pseudo-header and the segment up to the IPv4 total length (trailing
 * bytes, Ethernet padding zero or not, are not covered), checksum field included: valid iff
 * the sum is negative zero, so 0xFFFF and 0x0000 are both right where 0x0000 is computed
 * (docs/pipeline.md section 7). */
static int tcp_csum_ok(const uint8_t *frame, uint32_t l4_off, uint32_t ip_total)
{
	const uint8_t *ip = frame + ETH_HLEN;
	uint64_t sum = csum_add_bytes(ip + 12, 8, 0) + PROTO_TCP + (ip_total - 20);
	sum = csum_add_bytes(frame + l4_off, ip_total - 20, sum);
	return csum_fold(sum) == 0xFFFF;
}

/* ICMP destination unreachable / time exceeded quoting an IPv4 (IHL 5, offset 0) TCP header
 * with at least 8 bytes: its checksum (the message up to the IPv4 total length) is verified
 * and it may be rewritten (pipe.c process_icmp). Any other ICMP is routed. */
static enum parse_result parse_icmp(const uint8_t *data, const struct packet *pkt,
				    uint32_t ip_total)
{
	const uint8_t *icmp = data + pkt->l4_off, *inner = icmp + 8;
	if (ip_total < 20 + 8 + 20 + 8 || (icmp[0] != 3 && icmp[0] != 11) || inner[0] != 0x45 ||
	    (rd16(inner + 6) & 0x1FFF) || inner[9] != PROTO_TCP)
		return PARSE_ROUTE;
	if (csum_fold(csum_add_bytes(icmp, ip_total - 20, 0)) != 0xFFFF)
		return PARSE_DROP;
	return PARSE_ICMP_QUOTE;
}

enum parse_result packet_parse(uint8_t *data, uint32_t len, struct packet *pkt)
{
	uint32_t ip_total;
	const uint8_t *ip;

	pkt->data = data;
	pkt->len = len;
	if (len < ETH_HLEN + 20 || rd16(data + 12) != ETHERTYPE_IPV4)
		return PARSE_DROP;
	pkt->l3_off = ETH_HLEN;
	ip = data + ETH_HLEN;
	ip_total = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || (ip[0] & 0xF) != 5 || ip_total < 20 || ip_total + ETH_HLEN > len)
		return PARSE_DROP;
	if (!csum_ipv4_ok(ip))
		return PARSE_DROP;
	pkt->l4_off = ETH_HLEN + 20;
	/* parse_ipv4: MF clear and offset 0, else the rest is payload */
	if ((ip[6] & 0x20) || (rd16(ip + 6) & 0x1FFF))
		return PARSE_ROUTE;
	if (ip[9] == PROTO_TCP) {
		if (len < pkt->l4_off + 20)
			return PARSE_DROP;
		pkt->tcp_hdr_len = (uint32_t)(data[pkt->l4_off + 12] >> 4) * 4u;
		if (pkt->tcp_hdr_len < 20 || ip_total < 20 + pkt->tcp_hdr_len)
			return PARSE_DROP;
		pkt->payload_len = ip_total - 20 - pkt->tcp_hdr_len;
		pkt->tcp_flags = data[pkt->l4_off + 13];
		if (!tcp_csum_ok(data, pkt->l4_off, ip_total))
			return PARSE_DROP;
		parse_tcp_options(pkt);
		return PARSE_TCP;
	}
	if (ip[9] == PROTO_ICMP)
		return parse_icmp(data, pkt, ip_total);
	if (ip[9] == PROTO_UDP)
		return len < pkt->l4_off + 8 || ip_total < 28 ? PARSE_DROP : PARSE_UDP;
	return PARSE_ROUTE;
}
