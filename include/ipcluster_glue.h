/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of ipcluster.ko: bindgen reads this header to make the Rust
 * bindings, and rust/helpers.c implements the functions declared here.
 *
 * Only what Rust cannot reach by itself lives in C: static inline functions
 * and macros of the kernel API (skb_header_pointer, genlmsg_*, this_cpu_*),
 * and structures whose layout C must own (the genl family with its
 * bitfields, pernet_operations with its static id).
 */
#ifndef _IPCLUSTER_GLUE_H
#define _IPCLUSTER_GLUE_H

#include <linux/types.h>
#include <linux/in6.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/netfilter_arp.h>
#include <linux/rcupdate.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <uapi/linux/ipcluster.h>

/* Per network namespace state, allocated by the pernet core (net_generic). */
struct ipcluster_net {
	struct nf_hook_ops hooks[5];	/* v4, v6 PRE_ROUTING; v4, v6 LOCAL_OUT; ARP OUT */
	struct notifier_block netdev;	/* the namespace's interfaces going away */
	void *state;			/* struct NetState, owned by Rust */
	struct ipcluster_batch *batch;	/* async TCP state on its way out */
};

int ipcluster_glue_register(void);
void ipcluster_glue_unregister(void);
struct ipcluster_net *ipcluster_pernet(const struct net *net);

/* Implemented in Rust, called by the pernet core for each namespace. */
int ipcluster_net_init(struct net *net);
void ipcluster_net_pre_exit(struct net *net);
void ipcluster_net_exit(struct net *net);

/*
 * Interface removal (or a move to another namespace): Rust's
 * ipcluster_dev_gone is called under RTNL for every interface of `net`
 * that goes, while the notifier is on.
 */
int ipcluster_netdev_notifier(struct net *net, bool on);
void ipcluster_dev_gone(struct net *net, int ifindex);

/*
 * A netdev ingress hook on interface `ifindex` (caller holds RTNL); the
 * ops stay registered until ipcluster_ingress_unregister, which must come
 * before the interface's NETDEV_UNREGISTER notification returns.
 */
int ipcluster_ingress_register(struct net *net, int ifindex, struct nf_hook_ops *ops);
void ipcluster_ingress_unregister(struct net *net, struct nf_hook_ops *ops);

/* Packets: reads never go past the end (skb_header_pointer). */
const void *ipcluster_skb_header(const struct sk_buff *skb, int off, int len, void *buf);
unsigned int ipcluster_skb_len(const struct sk_buff *skb);
u16 ipcluster_skb_protocol(const struct sk_buff *skb);
int ipcluster_skb_network_offset(const struct sk_buff *skb);
void ipcluster_skb_set_host(struct sk_buff *skb);
int ipcluster_skb_write(struct sk_buff *skb, int off, const void *data, int len);
int ipcluster_hook_ifindex(const struct nf_hook_state *state, bool out);
bool ipcluster_skb_eth_dest(const struct sk_buff *skb, u8 *mac);
bool ipcluster_skb_other_host(const struct sk_buff *skb);
int ipcluster_skb_redirect(struct sk_buff *skb, const u8 *mac);
__be32 ipcluster_skb_dev_addr4(const struct sk_buff *skb, __be32 except);
bool ipcluster_skb_dev_lladdr6(const struct sk_buff *skb, struct in6_addr *out);
bool ipcluster_have_arp_hooks(void);

/* Whether a local TCP socket (not a listener) holds the packet's connection. */
bool ipcluster_tcp_sk4(const struct sk_buff *skb, __be32 saddr, __be16 sport,
		       __be32 daddr, __be16 dport);
bool ipcluster_tcp_sk6(const struct sk_buff *skb, const struct in6_addr *saddr,
		       __be16 sport, const struct in6_addr *daddr, __be16 dport);

/*
 * The TCP state of the connection whose segment `skb` is, as it will be
 * once the segment is sent (LOCAL_OUT), or for a SYN-ACK once the client
 * acknowledges it; false if it is neither a full TCP socket's nor a
 * request socket's SYN-ACK. Addresses as IPv6 (IPv4 mapped), peer first;
 * ports host order.
 */
struct ipcluster_tcp_snap {
	u8 peer[16];
	u8 local[16];
	u16 peer_port;
	u16 local_port;
	u16 mss;
	u8 opts_len;
	u8 v6;
	u8 closing;	/* not ESTABLISHED, or this segment has FIN or RST */
	u8 flags;	/* tcpstate.rs Flags */
	u8 snd_wscale;
	u8 rcv_wscale;
	u32 snd_nxt;
	u32 snd_wl1;
	u32 snd_una;
	u32 snd_wnd;
	u32 rcv_nxt;
	u32 rcv_wnd;
	u32 ts_recent;
	u32 ts_val;
	u32 copied_seq;
	u32 write_seq;	/* the end of what the application wrote */
	u32 seq;	/* the segment's first byte */
	u32 data_off;	/* the segment's bytes, from skb->data */
	u32 data_len;
};
bool ipcluster_tcp_snap(const struct sk_buff *skb, struct ipcluster_tcp_snap *s);
/* A connection to a cluster address, by its addresses (IPv4 mapped). */
struct ipcluster_tcp_conn {
	u8 peer[16];
	u8 local[16];
	u16 peer_port;
	u16 local_port;
	u8 v6;
};
/* Up to cap bytes the application wrote to that connection and the client
 * has not acknowledged, from sequence number from (or snd_una if later):
 * how many, the first one's sequence number in *seq; -ENOENT if no
 * established connection has those addresses. May sleep. */
int ipcluster_tcp_unsent(struct net *net, int ifindex, const struct ipcluster_tcp_conn *c,
			 u32 from, u8 *buf, u32 cap, u32 *seq);
/* A TCP segment received for a cluster address, with bytes and a good
 * checksum: where its bytes are (output-commit mode). */
struct ipcluster_tcp_in {
	u8 peer[16];
	u8 local[16];
	u16 peer_port;
	u16 local_port;
	u32 seq;
	u32 data_off;
	u32 data_len;
};
bool ipcluster_tcp_in(struct sk_buff *skb, bool v6, struct ipcluster_tcp_in *in);
/* TCP state records to the tcp group; whether anyone listens there. The
 * records are followed by data_len bytes of skb from data_off (none when
 * skb is NULL): the bytes of the Data record that ends them. */
bool ipcluster_tcp_listeners(struct net *net);
void ipcluster_tcp_notify(struct net *net, u32 cluster, const void *records, int len,
			  const struct sk_buff *skb, u32 data_off, u32 data_len);

/*
 * Async TCP state, batched: records of many segments leave in one tcp
 * group message, at the latest 20 ms after the first of them; a
 * connection's records replace its own just before. Init
 * before the hooks that add to it are registered; exit after they are
 * unregistered (it waits for a running flush and discards the rest).
 */
int ipcluster_batch_init(struct net *net);
void ipcluster_batch_exit(struct net *net);
void ipcluster_tcp_batch(struct net *net, u32 cluster, u64 conn, const void *records,
			 int len);

/* Time, for bucket drains. */
u64 ipcluster_jiffies(void);
u64 ipcluster_msecs_to_jiffies(u32 ms);
u32 ipcluster_jiffies_to_msecs(u64 j);

/* Whether a destination is routed onwards: unicast and not local. */
bool ipcluster_forwarded4(struct net *net, __be32 daddr);
bool ipcluster_forwarded6(struct net *net, const struct in6_addr *daddr);

/* Per-bucket counters, per CPU. */
struct ipcluster_bucket_stats {
	u64 packets;
	u64 bytes;
	u64 flows;
	u64 drops;
	u64 forwarded;
};
struct ipcluster_stats;
struct ipcluster_stats *ipcluster_stats_alloc(u32 buckets);
void ipcluster_stats_free(struct ipcluster_stats *stats);
/* Packet path only (softirq, or BH disabled): this CPU's array is ours. */
void ipcluster_stats_count(struct ipcluster_stats *stats, u32 bucket,
			   u32 len, bool syn, bool drop, bool forwarded);
void ipcluster_stats_sum(struct ipcluster_stats *stats, u32 bucket,
			 struct ipcluster_bucket_stats *sum);

/*
 * The cluster MAC on an interface (multicast or unicast filter); with a
 * NULL mac, only whether the interface exists. Caller holds RTNL.
 */
int ipcluster_dev_addr(struct net *net, int ifindex, const u8 *mac, bool mcast, bool add);

/* Generic netlink: requests. */
struct net *ipcluster_info_net(const struct genl_info *info);
const struct nlattr *ipcluster_info_attr(const struct genl_info *info, int type);
int ipcluster_info_u32s(const struct genl_info *info, int type, u32 *out, int max);
bool ipcluster_info_admin(const struct sk_buff *skb, const struct genl_info *info);
void ipcluster_info_error(struct genl_info *info, const struct nlattr *attr, const char *msg);
struct net *ipcluster_dump_net(const struct netlink_callback *cb);
const struct nlattr *ipcluster_dump_attr(struct netlink_callback *cb, int type);
long *ipcluster_dump_cursor(struct netlink_callback *cb);
u32 ipcluster_nla_u32(const struct nlattr *nla);
const void *ipcluster_nla_data(const struct nlattr *nla);
int ipcluster_nla_len(const struct nlattr *nla);

/* Generic netlink: messages. */
struct sk_buff *ipcluster_msg_new(size_t payload);
void ipcluster_msg_free(struct sk_buff *skb);
void *ipcluster_msg_reply(struct sk_buff *skb, struct genl_info *info, u8 cmd);
void *ipcluster_msg_dump(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd);
void *ipcluster_msg_notify(struct sk_buff *skb, u8 cmd);
void ipcluster_msg_end(struct sk_buff *skb, void *hdr);
void ipcluster_msg_cancel(struct sk_buff *skb, void *hdr);
int ipcluster_msg_send_reply(struct sk_buff *skb, struct genl_info *info);
void ipcluster_msg_send_event(struct net *net, struct sk_buff *skb);

#endif /* _IPCLUSTER_GLUE_H */
