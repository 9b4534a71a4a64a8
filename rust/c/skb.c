// SPDX-License-Identifier: GPL-2.0
/*
 * Socket buffers. C because sk_buff's fields (pkt_type is a bitfield) and
 * its accessors (skb_header_pointer, skb_network_offset, eth_hdr,
 * skb_push, skb_cow_head, skb_dst_drop, ...) are static inlines and
 * macros; the interface addresses are walked with an RCU list macro.
 */
#include <linux/etherdevice.h>
#include <linux/inetdevice.h>
#include <linux/skbuff.h>
#include <net/addrconf.h>
#include <net/sock.h>
#include "ipcluster_glue.h"

const void *ipcluster_skb_header(const struct sk_buff *skb, int off, int len, void *buf)
{
	return skb_header_pointer(skb, off, len, buf);
}

unsigned int ipcluster_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

u16 ipcluster_skb_protocol(const struct sk_buff *skb)
{
	return ntohs(skb->protocol);
}

int ipcluster_skb_network_offset(const struct sk_buff *skb)
{
	return skb_network_offset(skb);
}

void ipcluster_skb_set_host(struct sk_buff *skb)
{
	/*
	 * A frame that came in on the cluster's multicast MAC is still a
	 * unicast IP packet, and TCP drops anything not PACKET_HOST.
	 */
	skb->pkt_type = PACKET_HOST;
}

/*
 * Output commit holds a segment in the netfilter queue for a round trip to
 * another member. The segment is tcp_transmit_skb's clone, charged to its
 * socket: TCP Small Queues would stop the socket at two such segments for
 * the whole round trip. skb_set_owner_sk_safe trades the charge for a
 * plain reference, so TSQ no longer counts the segment, yet it still
 * leaves as its socket's (cgroup egress programs and the owner match see
 * the socket), and TCP, finding its clone busy, does not send it again
 * while it waits. The queue's length bounds what is held.
 */
bool ipcluster_skb_uncharge(struct sk_buff *skb)
{
	return skb->sk && sk_fullsock(skb->sk) && skb_set_owner_sk_safe(skb, skb->sk);
}

int ipcluster_skb_write(struct sk_buff *skb, int off, const void *data, int len)
{
	int err = skb_ensure_writable(skb, off + len);

	if (err)
		return err;
	memcpy(skb->data + off, data, len);
	return 0;
}

int ipcluster_hook_ifindex(const struct nf_hook_state *state, bool out)
{
	const struct net_device *dev = out ? state->out : state->in;

	return dev ? dev->ifindex : 0;
}

bool ipcluster_skb_eth_dest(const struct sk_buff *skb, u8 *mac)
{
	if (!skb_mac_header_was_set(skb) || skb_mac_header_len(skb) < ETH_HLEN ||
	    skb->dev->type != ARPHRD_ETHER)
		return false;
	ether_addr_copy(mac, eth_hdr(skb)->h_dest);
	return true;
}

bool ipcluster_skb_other_host(const struct sk_buff *skb)
{
	return skb->pkt_type == PACKET_OTHERHOST;
}

/*
 * Forward mode: hand a packet we do not own to its owner. PRE_ROUTING sees
 * skb->data at the network header with the Ethernet header still in front
 * of it, so push that back, aim it at the owner and send it out of the
 * interface it came in on: the owner receives it as its own unicast.
 */
int ipcluster_skb_redirect(struct sk_buff *skb, const u8 *mac)
{
	struct net_device *dev = skb->dev;
	struct ethhdr *eth;

	if (dev->type != ARPHRD_ETHER || !skb_mac_header_was_set(skb) ||
	    skb_network_offset(skb) != 0 || skb_mac_header_len(skb) != ETH_HLEN)
		return -EINVAL;
	if (skb->len > dev->mtu && !skb_is_gso(skb))
		return -EMSGSIZE;	/* reassembled from fragments */
	if (skb_cow_head(skb, 0))
		return -ENOMEM;
	skb_push(skb, ETH_HLEN);
	eth = (struct ethhdr *)skb->data;
	ether_addr_copy(eth->h_dest, mac);
	ether_addr_copy(eth->h_source, dev->dev_addr);
	skb_dst_drop(skb);
	skb_forward_csum(skb);
	skb->pkt_type = PACKET_OUTGOING;
	dev_queue_xmit(skb);
	return 0;
}

__be32 ipcluster_skb_dev_addr4(const struct sk_buff *skb, __be32 except)
{
	const struct in_device *in_dev;
	const struct in_ifaddr *ifa;
	__be32 addr = 0;

	rcu_read_lock();
	in_dev = __in_dev_get_rcu(skb->dev);
	if (in_dev) {
		in_dev_for_each_ifa_rcu(ifa, in_dev) {
			if (ifa->ifa_local != except && !(ifa->ifa_flags & IFA_F_SECONDARY)) {
				addr = ifa->ifa_local;
				break;
			}
		}
	}
	rcu_read_unlock();
	return addr;
}

bool ipcluster_skb_dev_lladdr6(const struct sk_buff *skb, struct in6_addr *out)
{
	/* The source the stack picks for all-nodes is the link-local one. */
	return skb->dev && !ipv6_dev_get_saddr(dev_net(skb->dev), skb->dev,
					       &in6addr_linklocal_allnodes, 0, out) &&
	       ipv6_addr_type(out) & IPV6_ADDR_LINKLOCAL;
}
