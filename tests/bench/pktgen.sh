#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The datapath benchmark, run inside the bench VM (scripts/bench.sh):
# pktgen injects 64-byte UDP packets from many source addresses and ports
# for the cluster IP into the receive path of a member's interface (its
# netif_receive mode). The rate at the member (packets its CPU took in
# per second, /proc/net/softnet_stat) is measured for:
#   none           no filtering: the packets reach UDP, which finds no socket
#   ipc-drop       ipcluster, every bucket owned by another member: dropped
#                  at netdev ingress (multicast mode)
#   ipc-drop-pre   the same, dropped at PRE_ROUTING (forward mode, another
#                  member the forwarder: the path fragments take)
#   ipc-own        ipcluster, every bucket owned here (then as for none)
#   xt_cluster     iptables -m cluster (with conntrack), every packet another
#                  node's, so dropped
#   nft-jhash      an nft jhash rule at prerouting dropping every packet
#   nft-drop       an nft rule at prerouting dropping every packet for the
#                  cluster IP, no hash: the least a filter at PRE_ROUTING
#                  (xt_cluster's place, and ipc-drop-pre's) can cost
# Rounds interleave the configurations; each rate is the median over rounds.
#
#   pktgen.sh KO CLUSTERADM [SECONDS] [ROUNDS]
set -u
ko=$1
adm=$2
secs=${3:-4}
rounds=${4:-3}
CONFIGS="none ipc-drop ipc-drop-pre ipc-own xt_cluster nft-jhash nft-drop"
SEED=000102030405060708090a0b0c0d0e0f

# Packets the CPUs have taken off their backlogs (softnet_stat, column 1).
processed() {
	local sum=0 v
	while read -r v _; do sum=$((sum + 16#$v)); done </proc/net/softnet_stat
	echo "$sum"
}

# setup CFG: the member's namespace mbr with veth1, configured as CFG. The
# namespace snd at veth1's other end only gives it a carrier: pktgen runs
# in mbr and injects into veth1's receive path.
mbr_mac() { ip netns exec mbr cat /sys/class/net/veth1/address; }
setup() {
	local cfg=$1
	ip netns del snd 2>/dev/null
	ip netns del mbr 2>/dev/null
	ip netns add snd
	ip netns add mbr
	ip -n snd link add veth0 type veth peer name veth1 netns mbr
	ip -n snd addr add 10.0.0.1/24 dev veth0
	ip -n mbr addr add 10.0.0.2/24 dev veth1
	ip -n mbr addr add 10.0.0.100/32 dev veth1
	ip -n snd link set veth0 up
	ip -n mbr link set veth1 up
	ip -n mbr link set lo up
	case $cfg in
	ipc-drop | ipc-own)
		local owner=2
		[ "$cfg" = ipc-own ] && owner=1
		ip netns exec mbr "$adm" cluster add id 1 dev veth1 addr 10.0.0.100 seed $SEED \
			member 1 >/dev/null
		ip netns exec mbr "$adm" table set 1 spread $owner
		;;
	ipc-drop-pre)
		ip netns exec mbr "$adm" cluster add id 1 dev veth1 addr 10.0.0.100 seed $SEED \
			member 1 mode forward >/dev/null
		ip netns exec mbr "$adm" table set 1 spread 2 forwarder 2 \
			macs "1=$(mbr_mac),2=02:00:00:00:00:02"
		;;
	xt_cluster)
		# The usual two rules would drop another node's packets; one node
		# in all makes every packet match the one DROP rule, after
		# conntrack and the hash, at the same cost.
		ip netns exec mbr iptables -t mangle -A PREROUTING -d 10.0.0.100 -m cluster \
			--cluster-total-nodes 1 --cluster-local-node 1 \
			--cluster-hash-seed 0xdeadbeef -j DROP
		;;
	nft-jhash)
		# Every hash value is dropped: the cost of hashing every packet.
		ip netns exec mbr nft -f - <<-NFT
		table ip bench {
			chain pre {
				type filter hook prerouting priority -300;
				ip daddr 10.0.0.100 jhash ip saddr . udp sport mod 1024 seed 0xdeadbeef <= 1023 drop
			}
		}
		NFT
		;;
	nft-drop)
		ip netns exec mbr nft -f - <<-NFT
		table ip bench {
			chain pre {
				type filter hook prerouting priority -300;
				ip daddr 10.0.0.100 drop
			}
		}
		NFT
		;;
	esac
}

pg() { echo "$2" >"/proc/net/pktgen/$1"; }

# blast CFG: the member's rate (packets per second) under a pktgen flood.
blast() {
	local cfg=$1 mac
	setup "$cfg" || return 1
	mac=$(mbr_mac)
	# pktgen in the member's namespace hands its packets straight to
	# veth1's receive path (netif_receive): no sender stack, no veth
	# transmit, no backlog, so the rate is the receive path's own.
	ip netns exec mbr bash -c "
		$(declare -f pg)
		pg kpktgend_0 rem_device_all
		pg kpktgend_0 'add_device veth1'
		pg veth1 'xmit_mode netif_receive'
		pg veth1 'count 0'
		pg veth1 'pkt_size 60'
		pg veth1 'dst 10.0.0.100'
		pg veth1 'dst_mac $mac'
		pg veth1 'src_min 10.1.0.1'
		pg veth1 'src_max 10.1.255.254'
		pg veth1 'udp_src_min 1024'
		pg veth1 'udp_src_max 65535'
		pg veth1 'udp_dst_min 9'
		pg veth1 'udp_dst_max 9'
		pg veth1 'flag IPSRC_RND'
		pg veth1 'flag UDPSRC_RND'
		pg pgctrl start" &
	local run=$!
	sleep 1 # let it reach its pace
	local p0 t0 p1 t1
	p0=$(processed)
	t0=$(date +%s%N)
	sleep "$secs"
	p1=$(processed)
	t1=$(date +%s%N)
	ip netns exec mbr bash -c "echo stop >/proc/net/pktgen/pgctrl"
	wait $run 2>/dev/null
	ip netns del snd
	ip netns del mbr
	echo $(((p1 - p0) * 1000000000 / (t1 - t0)))
}

grep -q '^ipcluster ' /proc/modules || insmod "$ko" || exit 1
declare -A rates
for r in $(seq "$rounds"); do
	for cfg in $CONFIGS; do
		if [ "$cfg" = none ]; then rmmod ipcluster; fi
		rate=$(blast "$cfg") || { echo "bench: $cfg failed" >&2; exit 1; }
		if [ "$cfg" = none ]; then insmod "$ko" || exit 1; fi
		rates[$cfg]+="$rate "
		echo "# round $r: $cfg $rate pps" >&2
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }
base=$(median <<<"${rates[none]}")
printf '%-12s %12s %10s\n' config "pps" "vs none"
for cfg in $CONFIGS; do
	m=$(median <<<"${rates[$cfg]}")
	printf '%-12s %12d %9sx\n' "$cfg" "$m" "$(ratio "$m" "$base")"
done
drop=$(median <<<"${rates[ipc-drop]}")
xt=$(median <<<"${rates[xt_cluster]}")
echo "ipc-drop vs xt_cluster: $(ratio "$drop" "$xt")x (goal >= 2x);" \
	"vs none: $(ratio "$drop" "$base")x (goal >= 0.9x);" \
	"vs dropping at PRE_ROUTING: $(ratio "$drop" "$(median <<<"${rates[ipc-drop-pre]}")")x;" \
	"vs the bare PRE_ROUTING drop (nft-drop): $(ratio "$drop" "$(median <<<"${rates[nft-drop]}")")x;" \
	"nft-drop vs xt_cluster: $(ratio "$(median <<<"${rates[nft-drop]}")" "$xt")x"
