/* P4Runtime WriteRequest decoding in C (see pbwrite.c). */
#ifndef DYSCO_PBWRITE_H
#define DYSCO_PBWRITE_H

#include <stdint.h>

struct ctl_entry;

/* Agent field codes a P4Info match field or action parameter maps to. */
enum pb_field {
	PBF_NONE = 0,
	PBF_PORT, PBF_AGENT_ID, PBF_SIP, PBF_DIP, PBF_PROTO, PBF_SPORT, PBF_DPORT,
	PBF_RW_SIP, PBF_RW_DIP, PBF_RW_SPORT, PBF_RW_DPORT,
	PBF_SEQ, PBF_ACK, PBF_TSVAL, PBF_TSECR, PBF_WIN,
	PBF_SLOT, PBF_ROLE, PBF_EPOCH, PBF_PEER_CUT, PBF_PEER_CUT_VALID,
	PBF_NEW_SIP, PBF_NEW_DIP, PBF_NEW_SPORT, PBF_NEW_DPORT,
	PBF_NEW_SEQ, PBF_NEW_ACK, PBF_NEW_TSVAL, PBF_NEW_TSECR, PBF_NEW_WIN,
	PBF_SMAC, PBF_DMAC,
	PBF_LPM_DIP,
};

int pbw_load_schema(const uint8_t *b, uint32_t len);
/* Returns the number of updates (statuses in res), or -1 for a malformed request. */
int pbw_write(const uint8_t *b, uint32_t len, int32_t *res, uint32_t max,
	      int (*apply)(void *ctx, const struct ctl_entry *e), void *ctx);

#endif
