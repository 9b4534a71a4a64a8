/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of ipcluster.ko: bindgen reads this header to make the Rust
 * bindings (rust/sys/bindings.rs), and the files in rust/c/ implement the
 * functions declared here, one file per kernel subsystem.
 *
 * The 6.12 `kernel` crate has no netfilter, generic netlink, TCP, per-CPU
 * or pernet bindings, and much of that API is static inline functions,
 * macros and structures with bitfields, which Rust cannot call or lay out.
 * What stays in C is exactly that; each file says why it is C. The logic
 * is in Rust (rust/), behind typed wrappers (rust/sys/).
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

/* ---- Pernet life and interfaces (rust/c/pernet.c) ---- */

/* The namespace's netfilter hooks: IPv4 and IPv6 PRE_ROUTING and
 * LOCAL_OUT, then ARP OUT (registered only where netfilter has ARP hooks). */
#define IPCLUSTER_NET_HOOKS 5

/* Per network namespace area, allocated by the pernet core (net_generic). */
struct ipcluster_net {
	struct nf_hook_ops hooks[IPCLUSTER_NET_HOOKS];
	struct notifier_block netdev;	/* the namespace's interfaces going away */
	void *state;			/* the namespace's state, owned by Rust */
	/* The state again, for the TCP close probe: set once the namespace's
	 * init succeeded, NULL from its pre-exit on (rust/c/tcp_close.c). */
	const void __rcu *watch;
	struct ipcluster_batch *batch;	/* async TCP state on its way out */
};

/*
 * Rust's callbacks for the pernet core and for interfaces leaving a
 * namespace (dev_gone runs under RTNL for every interface of `net` that
 * goes, while the namespace's notifier is on).
 */
struct ipcluster_pernet_ops {
	int (*init)(struct net *net);
	void (*pre_exit)(struct net *net);
	void (*exit)(struct net *net);
	void (*dev_gone)(struct net *net, int ifindex);
};

/* Registers the pernet operations, then the netlink family. */
int ipcluster_register(const struct ipcluster_pernet_ops *ops);
void ipcluster_unregister(void);
struct ipcluster_net *ipcluster_pernet(const struct net *net);
int ipcluster_netdev_notifier(struct net *net, bool on);

/* ---- Interfaces and routes (rust/c/net.c) ---- */

/*
 * A netdev ingress hook on interface `ifindex` (caller holds RTNL); the
 * ops stay registered until ipcluster_ingress_unregister, which must come
 * before the interface's NETDEV_UNREGISTER notification returns.
 */
int ipcluster_ingress_register(struct net *net, int ifindex, struct nf_hook_ops *ops);
void ipcluster_ingress_unregister(struct net *net, struct nf_hook_ops *ops);
bool ipcluster_have_arp_hooks(void);

/*
 * The cluster MAC on an interface (multicast or unicast filter); with a
 * NULL mac, only whether the interface exists. Caller holds RTNL.
 */
int ipcluster_dev_addr(struct net *net, int ifindex, const u8 *mac, bool mcast, bool add);

/* Whether a destination is routed onwards: unicast and not local. */
bool ipcluster_forwarded4(struct net *net, __be32 daddr);
bool ipcluster_forwarded6(struct net *net, const struct in6_addr *daddr);

/* ---- Packets (rust/c/skb.c) ---- */

/* Reads never go past the end (skb_header_pointer). */
const void *ipcluster_skb_header(const struct sk_buff *skb, int off, int len, void *buf);
unsigned int ipcluster_skb_len(const struct sk_buff *skb);
u16 ipcluster_skb_protocol(const struct sk_buff *skb);
int ipcluster_skb_network_offset(const struct sk_buff *skb);
void ipcluster_skb_set_host(struct sk_buff *skb);
bool ipcluster_skb_uncharge(struct sk_buff *skb);
int ipcluster_skb_write(struct sk_buff *skb, int off, const void *data, int len);
int ipcluster_hook_ifindex(const struct nf_hook_state *state, bool out);
bool ipcluster_skb_eth_dest(const struct sk_buff *skb, u8 *mac);
bool ipcluster_skb_other_host(const struct sk_buff *skb);
int ipcluster_skb_redirect(struct sk_buff *skb, const u8 *mac);
__be32 ipcluster_skb_dev_addr4(const struct sk_buff *skb, __be32 except);
bool ipcluster_skb_dev_lladdr6(const struct sk_buff *skb, struct in6_addr *out);

/* ---- TCP connections (rust/c/tcp_snap.c) ---- */

/*
 * The flags of a snapshot's state: the failover record's essential flags,
 * bit for bit (tcpstate.rs `Flags`; rust/sys/tcp.rs checks at build time
 * that the two agree).
 */
#define IPCLUSTER_SNAP_NODELAY		(1 << 0)
#define IPCLUSTER_SNAP_NO_OPTIONS	(1 << 1)
#define IPCLUSTER_SNAP_WSCALE_REQ	(1 << 2)
#define IPCLUSTER_SNAP_WSCALE_OK	(1 << 3)
#define IPCLUSTER_SNAP_TS_REQ		(1 << 4)
#define IPCLUSTER_SNAP_TS_OK		(1 << 5)
#define IPCLUSTER_SNAP_SACK_OK		(1 << 6)
#define IPCLUSTER_SNAP_HANDSHAKE	(1 << 7)
/* The FINs a snapshot's sequence numbers count (the record's Fins). */
#define IPCLUSTER_SNAP_FIN_IN		(1 << 0)
#define IPCLUSTER_SNAP_FIN_OUT		(1 << 1)

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
	u8 closing;	/* past the states a restore can rebuild, or a RST */
	u8 flags;	/* IPCLUSTER_SNAP_* */
	u8 fins;	/* IPCLUSTER_SNAP_FIN_* */
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
	u32 gen;	/* the update's generation: later states have later ones */
	u32 seq;	/* the segment's first byte */
	u32 data_off;	/* the segment's bytes, from skb->data */
	u32 data_len;
};
bool ipcluster_tcp_snap(const struct sk_buff *skb, struct ipcluster_tcp_snap *s);

/* A connection to a cluster address, by its addresses (IPv4 mapped) and
 * ports (host order). */
struct ipcluster_tcp_conn {
	u8 peer[16];
	u8 local[16];
	u16 peer_port;
	u16 local_port;
	u8 v6;
};

/*
 * Whether a local TCP socket that is not a listener (established, a
 * request or TIME_WAIT) holds connection `c` of a packet arriving on
 * skb->dev. Caller is in an RCU read-side critical section.
 */
bool ipcluster_tcp_holds(const struct sk_buff *skb, const struct ipcluster_tcp_conn *c);

/* The addresses and ports of a full TCP socket, or a request socket. */
void ipcluster_sk_conn(const struct sock *sk, struct ipcluster_tcp_conn *c);

/* Up to cap bytes the application wrote to that connection and the client
 * has not acknowledged, from sequence number from (or snd_una if later):
 * how many, the first one's sequence number in *seq; -ENOENT if no
 * established connection has those addresses. With snap, the
 * connection's state as now goes there too, and the bytes start at
 * snd_una whatever from says. May sleep. */
int ipcluster_tcp_unsent(struct net *net, int ifindex, const struct ipcluster_tcp_conn *c,
			 u32 from, u8 *buf, u32 cap, u32 *seq, struct ipcluster_tcp_snap *snap);

/* ---- Adoption into the application's listener (rust/c/tcp_adopt.c) ---- */

/* What became of an adoption. */
enum ipcluster_adopt {
	IPCLUSTER_ADOPT_OK,
	IPCLUSTER_ADOPT_BAD_FD,		/* not a socket descriptor of the caller */
	IPCLUSTER_ADOPT_NOT_TCP,	/* not a TCP socket of the namespace */
	IPCLUSTER_ADOPT_BUSY,		/* its file is open elsewhere too */
	IPCLUSTER_ADOPT_NOT_ESTABLISHED,
	IPCLUSTER_ADOPT_REPAIR,		/* still in repair mode */
	IPCLUSTER_ADOPT_MEMCG,		/* charged to a memory cgroup */
	IPCLUSTER_ADOPT_NO_LISTENER,
	IPCLUSTER_ADOPT_FAMILY,		/* the listener is of another family */
	IPCLUSTER_ADOPT_FULL,		/* its accept queue is full */
	IPCLUSTER_ADOPT_NOMEM,
	IPCLUSTER_ADOPT_CLOSED,		/* it closed meanwhile: reset, freed */
	IPCLUSTER_ADOPT_UNACKED,	/* sent bytes unacknowledged, memcg on */
	IPCLUSTER_ADOPT_NOT_FRESH,	/* prepare: connected or holds memory */
};

/*
 * Takes descriptor fd out of the calling task's table and moves the
 * established TCP socket behind it onto the accept queue of the listener
 * for its local address and port in `net`; refused, the connection is
 * reset. Its addresses in *c once it was found to be a TCP socket of
 * `net`. Process context, the caller's own task (a generic netlink doit).
 */
enum ipcluster_adopt ipcluster_tcp_adopt(struct net *net, int fd, struct ipcluster_tcp_conn *c);

/*
 * Releases the fresh TCP socket behind the calling task's descriptor fd
 * from the task's memory cgroup, so that accept() may later charge it to
 * the server's. Refused (NOT_FRESH) once it is connected or holds memory.
 * Process context, the caller's own task.
 */
enum ipcluster_adopt ipcluster_tcp_adopt_prepare(struct net *net, int fd);

/* ---- Every end of a TCP connection (rust/c/tcp_close.c) ---- */

/*
 * Called with the state the namespace's watch holds (see struct
 * ipcluster_net) for every established (or closing) TCP socket of that
 * namespace that leaves for TCP_CLOSE, whatever made it; under RCU, with
 * preemption off, in process or softirq context, the socket locked.
 */
typedef void (*ipcluster_tcp_closed_fn)(const void *state, const struct ipcluster_tcp_conn *c);
/* The probe on inet_sock_set_state: register once the pernet operations
 * are, unregister (which waits for running probes) before they go. */
int ipcluster_tcp_close_register(ipcluster_tcp_closed_fn closed);
void ipcluster_tcp_close_unregister(void);
/* Publishes (or, with NULL, takes away) the state the probe hands on. */
void ipcluster_pernet_watch(struct net *net, const void *state);

/* ---- TCP state to the daemon (rust/c/genl.c, rust/c/tcp_batch.c) ---- */

/* TCP state records to the tcp group; whether anyone listens there. The
 * records are followed by data_len bytes of skb from data_off (none when
 * skb is NULL): the bytes of the Data record that ends them. */
bool ipcluster_tcp_listeners(struct net *net);
void ipcluster_tcp_notify(struct net *net, u32 cluster, const void *records, int len,
			  const struct sk_buff *skb, u32 data_off, u32 data_len);

/* How long batched records wait at most, and how many bytes a batch holds. */
#define IPCLUSTER_BATCH_MS	20
#define IPCLUSTER_BATCH_MAX	3584

/*
 * Async TCP state, batched: records of many segments leave in one tcp
 * group message, at the latest IPCLUSTER_BATCH_MS after the first of them;
 * a connection's records replace its own just before. Init before the
 * hooks that add to it are registered; exit after they are unregistered
 * (it waits for a running flush and discards the rest).
 */
int ipcluster_batch_init(struct net *net);
void ipcluster_batch_exit(struct net *net);
void ipcluster_tcp_batch(struct net *net, u32 cluster, u64 conn, const void *records,
			 int len);

/* ---- Time (rust/c/time.c) ---- */

u64 ipcluster_jiffies(void);
u64 ipcluster_msecs_to_jiffies(u32 ms);
u32 ipcluster_jiffies_to_msecs(u64 j);

/* ---- Per-bucket counters, per CPU (rust/c/stats.c) ---- */

struct ipcluster_bucket_stats {
	u64 packets;
	u64 bytes;
	u64 flows;
	u64 drops;
	u64 forwarded;
};
/* One array of `buckets` counters per possible CPU; NULL for the others. */
struct ipcluster_stats {
	u32 buckets;
	u32 cpus;	/* nr_cpu_ids: the length of cpu[] */
	struct ipcluster_bucket_stats *cpu[];
};
struct ipcluster_stats *ipcluster_stats_alloc(u32 buckets);
void ipcluster_stats_free(struct ipcluster_stats *stats);
/* The CPU running the caller, which has BH (or preemption) disabled. */
u32 ipcluster_this_cpu(void);

/* ---- Generic netlink (rust/c/genl.c) ---- */

/* Requests. */
struct net *ipcluster_info_net(const struct genl_info *info);
const struct nlattr *ipcluster_info_attr(const struct genl_info *info, int type);
int ipcluster_info_u32s(const struct genl_info *info, int type, u32 *out, int max);
bool ipcluster_info_admin(const struct sk_buff *skb, const struct genl_info *info);
/* The same with a message of the moment, copied into the extended ACK. */
void ipcluster_info_error_copy(struct genl_info *info, const char *msg);
void ipcluster_info_error(struct genl_info *info, const struct nlattr *attr, const char *msg);
struct net *ipcluster_dump_net(const struct netlink_callback *cb);
const struct nlattr *ipcluster_dump_attr(struct netlink_callback *cb, int type);
long *ipcluster_dump_cursor(struct netlink_callback *cb);
u32 ipcluster_nla_u32(const struct nlattr *nla);
const void *ipcluster_nla_data(const struct nlattr *nla);
int ipcluster_nla_len(const struct nlattr *nla);

/* Messages. */
struct sk_buff *ipcluster_msg_new(size_t payload);
void ipcluster_msg_free(struct sk_buff *skb);
void *ipcluster_msg_reply(struct sk_buff *skb, struct genl_info *info, u8 cmd);
void *ipcluster_msg_dump(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd);
void *ipcluster_msg_notify(struct sk_buff *skb, u8 cmd);
void ipcluster_msg_end(struct sk_buff *skb, void *hdr);
void ipcluster_msg_cancel(struct sk_buff *skb, void *hdr);
int ipcluster_msg_send_reply(struct sk_buff *skb, struct genl_info *info);
void ipcluster_msg_send_event(struct net *net, struct sk_buff *skb);

/* Registration of the family, for ipcluster_register (rust/c/pernet.c). */
int ipcluster_genl_register(void);
void ipcluster_genl_unregister(void);

#endif /* _IPCLUSTER_GLUE_H */
