/* Packet-ins: the contract's 42-byte packet_in header (PACKET_IN_FIELDS, big-endian), exactly
 * as the P4 program's CPU port sends it, handed to the sink with the frame. */
#include <string.h>

#include "pipe_internal.h"

static void punt_encode(const struct punt *punt, uint8_t *hdr)
{
	wr16(hdr, punt->ingress_port);
	hdr[2] = punt->reason;
	hdr[3] = punt->direction;
	hdr[4] = punt->flags;
	hdr[5] = punt->agent_id;
	wr24(hdr + 6, punt->slot);
	wr32(hdr + 9, punt->token);
	wr32(hdr + 13, punt->epoch);
	hdr[17] = punt->reg_valid;
	wr32(hdr + 18, punt->sent_hi);
	wr32(hdr + 22, punt->ack_hi);
	wr32(hdr + 26, punt->rcvd_ack_hi);
	wr32(hdr + 30, punt->new_rcvd_lo);
	wr32(hdr + 34, punt->cut);
	wr32(hdr + 38, punt->old_ack_hi);
}

void punt_emit(struct pipe *p, const struct punt *punt, const uint8_t *data, uint32_t len)
{
	uint8_t hdr[PKT_IN_HDR_LEN];
	punt_encode(punt, hdr);
	p->cnt.punt++;
	if (p->sink.pktin)
		p->sink.pktin(p->sink.ctx, hdr, data, len);
}

/* Packet-in register fields after a slot operation: invalid registers read as 0; old_ack_hi
 * is the value before this packet (old_ack_hi_valid_before: its valid bit then). */
void punt_set_regs(struct punt *punt, const struct slot_regs *regs, uint32_t old_ack_hi_before,
		   uint8_t old_ack_hi_valid_before)
{
	uint8_t valid = regs->flags;
	punt->flags |= PI_FLAG_REGS;
	punt->epoch = regs->epoch;
	punt->reg_valid = (uint8_t)((valid & (RV_SENT_HI | RV_ACK_HI | RV_RCVD_ACK_HI |
					      RV_NEW_RCVD_LO | RV_CUT)) |
				    old_ack_hi_valid_before);
	punt->sent_hi = (valid & RV_SENT_HI) ? regs->sent_hi : 0;
	punt->ack_hi = (valid & RV_ACK_HI) ? regs->ack_hi : 0;
	punt->rcvd_ack_hi = (valid & RV_RCVD_ACK_HI) ? regs->rcvd_ack_hi : 0;
	punt->new_rcvd_lo = (valid & RV_NEW_RCVD_LO) ? regs->new_rcvd_lo : 0;
	punt->cut = (valid & RV_CUT) ? regs->cut : 0;
	punt->old_ack_hi = old_ack_hi_valid_before ? old_ack_hi_before : 0;
}
