#!/bin/bash
# Setup/teardown of the hx test topology: hxs (sender) -- hxr (router) -- hxd (receiver).
# Usage: netns.sh up [bridge] | down
# "bridge": sender->receiver frames are not forwarded by the kernel (bridge.py relays them with
# a delay); the sender computes full TCP checksums (tx csum offload off) so relayed frames are valid.
set -u
cmd=${1:-}
mode=${2:-}
down() {
    for ns in hxs hxr hxd; do ip netns del "$ns" 2>/dev/null; done
    return 0
}
up() {
    down
    set -e
    for ns in hxs hxr hxd; do ip netns add "$ns"; done
    ip link add hxs-0 netns hxs type veth peer name hxr-s netns hxr
    ip link add hxd-0 netns hxd type veth peer name hxr-d netns hxr
    ip -n hxs addr add 198.18.200.1/30 dev hxs-0
    ip -n hxr addr add 198.18.200.2/30 dev hxr-s
    ip -n hxr addr add 198.18.200.5/30 dev hxr-d
    ip -n hxd addr add 198.18.200.6/30 dev hxd-0
    for pair in hxs:hxs-0 hxr:hxr-s hxr:hxr-d hxd:hxd-0; do
        ns=${pair%%:*}; dev=${pair#*:}
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$dev" up
        # Wire-like segments (<= MTU) so the captured head is one real segment, as a switch sees it.
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
    done
    ip -n hxs route add 198.18.200.4/30 via 198.18.200.2
    ip -n hxd route add 198.18.200.0/30 via 198.18.200.5
    ip netns exec hxr sysctl -qw net.ipv4.ip_forward=1
    ip netns exec hxr nft -f - <<'NFT'
table ip hxhold {
    chain hxfwd { type filter hook forward priority 0; policy accept; }
}
NFT
    if [ "$mode" = "bridge" ]; then
        ip netns exec hxs ethtool -K hxs-0 tx off >/dev/null
        ip netns exec hxr nft add chain ip hxhold hxbr '{ type filter hook forward priority 10; policy accept; }'
        ip netns exec hxr nft add rule ip hxhold hxbr ip saddr 198.18.200.1 ip daddr 198.18.200.6 drop
    fi
}
case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up [bridge] | down" >&2; exit 2 ;;
esac
