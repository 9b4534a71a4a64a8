// SPDX-License-Identifier: GPL-2.0
/*
 * ipcluster's C glue: registrations whose structures C must own, and thin
 * wrappers for static inline functions and macros Rust cannot call. No
 * logic lives here; rust/ has it all.
 */
#include <linux/etherdevice.h>
#include <linux/inetdevice.h>
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <net/addrconf.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/tcp.h>
#include <linux/netfilter.h>
#include <net/route.h>
#include <net/netns/generic.h>
#include "ipcluster_glue.h"
#include "netlink-gen.h"

static unsigned int ipcluster_net_id __read_mostly;

static struct pernet_operations ipcluster_net_ops = {
	.init = ipcluster_net_init,
	.pre_exit = ipcluster_net_pre_exit,
	.exit = ipcluster_net_exit,
	.id = &ipcluster_net_id,
	.size = sizeof(struct ipcluster_net),
};

static const struct genl_multicast_group ipcluster_mcgrps[] = {
	[IPCLUSTER_NLGRP_EVENTS] = { .name = IPCLUSTER_MCGRP_EVENTS },
	[IPCLUSTER_NLGRP_TCP] = { .name = IPCLUSTER_MCGRP_TCP },
};

static struct genl_family ipcluster_nl_family __ro_after_init = {
	.name = IPCLUSTER_FAMILY_NAME,
	.version = IPCLUSTER_FAMILY_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.split_ops = ipcluster_nl_ops,
	.n_split_ops = ARRAY_SIZE(ipcluster_nl_ops),
	.mcgrps = ipcluster_mcgrps,
	.n_mcgrps = ARRAY_SIZE(ipcluster_mcgrps),
};

int ipcluster_glue_register(void)
{
	int err = register_pernet_subsys(&ipcluster_net_ops);

	if (err)
		return err;
	err = genl_register_family(&ipcluster_nl_family);
	if (err)
		unregister_pernet_subsys(&ipcluster_net_ops);
	return err;
}

void ipcluster_glue_unregister(void)
{
	/* Requests in flight finish first; then every namespace lets go. */
	genl_unregister_family(&ipcluster_nl_family);
	unregister_pernet_subsys(&ipcluster_net_ops);
}

static int ipcluster_netdev_event(struct notifier_block *nb, unsigned long event,
				  void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_UNREGISTER)
		ipcluster_dev_gone(dev_net(dev), dev->ifindex);
	return NOTIFY_DONE;
}

int ipcluster_netdev_notifier(struct net *net, bool on)
{
	struct ipcluster_net *pn = net_generic(net, ipcluster_net_id);

	if (!on)
		return unregister_netdevice_notifier_net(net, &pn->netdev);
	pn->netdev.notifier_call = ipcluster_netdev_event;
	return register_netdevice_notifier_net(net, &pn->netdev);
}

int ipcluster_ingress_register(struct net *net, int ifindex, struct nf_hook_ops *ops)
{
	ASSERT_RTNL();
	ops->dev = __dev_get_by_index(net, ifindex);
	if (!ops->dev)
		return -ENODEV;
	return nf_register_net_hook(net, ops);
}

void ipcluster_ingress_unregister(struct net *net, struct nf_hook_ops *ops)
{
	nf_unregister_net_hook(net, ops);
	/*
	 * Unregistering does not wait: a CPU that loaded the hook before may
	 * still be running it (under RCU), and the caller frees the ops.
	 */
	synchronize_net();
}

struct ipcluster_net *ipcluster_pernet(const struct net *net)
{
	return net_generic(net, ipcluster_net_id);
}

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

bool ipcluster_forwarded4(struct net *net, __be32 daddr)
{
	return inet_addr_type(net, daddr) == RTN_UNICAST;
}

bool ipcluster_forwarded6(struct net *net, const struct in6_addr *daddr)
{
	int type = ipv6_addr_type(daddr);

	if (type & (IPV6_ADDR_MULTICAST | IPV6_ADDR_LINKLOCAL | IPV6_ADDR_LOOPBACK))
		return false;
	return !ipv6_chk_addr(net, daddr, NULL, 0);
}

/*
 * During a bucket's drain the table no longer says who keeps a TCP
 * segment: the member whose socket holds the connection does. Only the
 * established hash is searched (established, half-open request and
 * TIME_WAIT sockets), never a listener, so a stray segment finds nothing.
 * PRE_ROUTING has no route yet: the incoming interface is skb->dev.
 */
bool ipcluster_tcp_sk4(const struct sk_buff *skb, __be32 saddr, __be16 sport,
		       __be32 daddr, __be16 dport)
{
	const struct net *net = dev_net(skb->dev);
	struct sock *sk;

	sk = __inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo, saddr,
				       sport, daddr, ntohs(dport), skb->dev->ifindex, 0);
	if (sk)
		sock_gen_put(sk);
	return sk;
}

bool ipcluster_tcp_sk6(const struct sk_buff *skb, const struct in6_addr *saddr,
		       __be16 sport, const struct in6_addr *daddr, __be16 dport)
{
#if IS_ENABLED(CONFIG_IPV6)
	const struct net *net = dev_net(skb->dev);
	struct sock *sk;

	sk = __inet6_lookup_established(net, net->ipv4.tcp_death_row.hashinfo, saddr,
					sport, daddr, ntohs(dport), skb->dev->ifindex, 0);
	if (sk)
		sock_gen_put(sk);
	return sk;
#else
	return false;
#endif
}

/* tcpstate.rs Flags. */
#define SNAP_NODELAY	(1 << 0)
#define SNAP_NO_OPTIONS	(1 << 1)
#define SNAP_WSCALE_REQ	(1 << 2)
#define SNAP_WSCALE_OK	(1 << 3)
#define SNAP_TS_REQ	(1 << 4)
#define SNAP_TS_OK	(1 << 5)
#define SNAP_SACK_OK	(1 << 6)
#define SNAP_HANDSHAKE	(1 << 7)

/* The addresses and ports, from the sock_common a request socket shares. */
static void snap_addrs(const struct sock *sk, struct ipcluster_tcp_snap *s)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6 && !ipv6_addr_v4mapped(&sk->sk_v6_daddr)) {
		s->v6 = 1;
		memcpy(s->peer, &sk->sk_v6_daddr, 16);
		memcpy(s->local, &sk->sk_v6_rcv_saddr, 16);
	} else
#endif
	{
		ipv6_addr_set_v4mapped(sk->sk_daddr, (struct in6_addr *)s->peer);
		ipv6_addr_set_v4mapped(sk->sk_rcv_saddr, (struct in6_addr *)s->local);
	}
	s->peer_port = ntohs(sk->sk_dport);
	s->local_port = sk->sk_num;
}

/*
 * A SYN-ACK from a request socket: the connection as it will be once the
 * client acknowledges it (tcp_create_openreq_child), so that a member
 * taking over can answer that ACK. The client's window is not kept (its
 * SYN's is gone): one MSS until its first segment, which updates it
 * (snd_wl1 is before that segment).
 */
static void snap_req(const struct request_sock *req, struct ipcluster_tcp_snap *s)
{
	const struct inet_request_sock *ireq = inet_rsk(req);
	const struct tcp_request_sock *treq = tcp_rsk(req);

	s->mss = req->mss;
	s->opts_len = ireq->tstamp_ok ? TCPOLEN_TSTAMP_ALIGNED : 0;
	s->flags = SNAP_HANDSHAKE;
	if (tcp_sk(req->rsk_listener)->nonagle & TCP_NAGLE_OFF)
		s->flags |= SNAP_NODELAY;
	if (ireq->wscale_ok)
		s->flags |= SNAP_WSCALE_REQ | SNAP_WSCALE_OK;
	if (ireq->tstamp_ok)
		s->flags |= SNAP_TS_REQ | SNAP_TS_OK;
	if (ireq->sack_ok)
		s->flags |= SNAP_SACK_OK;
	if (!ireq->wscale_ok && !ireq->tstamp_ok && !ireq->sack_ok)
		s->flags |= SNAP_NO_OPTIONS;
	s->snd_wscale = ireq->snd_wscale;
	s->rcv_wscale = ireq->rcv_wscale;
	s->snd_nxt = treq->snt_isn + 1;
	s->snd_una = s->snd_nxt;
	s->snd_wl1 = treq->rcv_isn;
	s->snd_wnd = req->mss;
	s->rcv_nxt = treq->rcv_nxt;
	s->rcv_wnd = req->rsk_rcv_wnd;
	s->ts_recent = req->ts_recent;
	s->ts_val = (tcp_clock_ts(treq->req_usec_ts) + treq->ts_off) & ~1u;
	s->ts_val |= treq->req_usec_ts;
	s->copied_seq = treq->rcv_isn + 1;
	s->write_seq = s->snd_nxt;
}

/*
 * LOCAL_OUT runs inside tcp_transmit_skb, with the socket locked (by its
 * owner or by softirq) and before snd_nxt moves past this segment: the
 * segment's own end is the snd_nxt a peer may have seen. A SYN-ACK is
 * sent by its request socket (tcp_make_synack; none under SYN cookies).
 * The caller has checked that the segment is TCP.
 */
bool ipcluster_tcp_snap(const struct sk_buff *skb, struct ipcluster_tcp_snap *s)
{
	const struct sock *sk = skb->sk;
	const struct tcp_sock *tp;
	const struct tcphdr *th;
	u32 end;

	if (!sk || !skb_transport_header_was_set(skb))
		return false;
	th = tcp_hdr(skb);
	memset(s, 0, sizeof(*s));
	s->seq = ntohl(th->seq) + th->syn;
	s->data_off = skb_transport_offset(skb) + th->doff * 4;
	s->data_len = skb->len > s->data_off ? skb->len - s->data_off : 0;
	if (sk->sk_state == TCP_NEW_SYN_RECV) {
		if (!th->syn || !th->ack)
			return false;
		snap_addrs(sk, s);
		snap_req(inet_reqsk(sk), s);
		return true;
	}
	if (!sk_fullsock(sk) || sk->sk_protocol != IPPROTO_TCP)
		return false;
	tp = tcp_sk(sk);
	snap_addrs(sk, s);
	s->mss = tp->rx_opt.mss_clamp;
	s->opts_len = tp->tcp_header_len - sizeof(struct tcphdr);
	s->closing = sk->sk_state != TCP_ESTABLISHED || th->fin || th->rst;
	if (tp->nonagle & TCP_NAGLE_OFF)
		s->flags |= SNAP_NODELAY;
	if (tp->rx_opt.wscale_ok)
		s->flags |= SNAP_WSCALE_REQ | SNAP_WSCALE_OK;
	if (tp->rx_opt.tstamp_ok)
		s->flags |= SNAP_TS_REQ | SNAP_TS_OK;
	if (tp->rx_opt.sack_ok)
		s->flags |= SNAP_SACK_OK;
	if (!tp->rx_opt.wscale_ok && !tp->rx_opt.tstamp_ok && !tp->rx_opt.sack_ok)
		s->flags |= SNAP_NO_OPTIONS;
	s->snd_wscale = tp->rx_opt.snd_wscale;
	s->rcv_wscale = tp->rx_opt.rcv_wscale;
	end = ntohl(th->seq) + th->syn + th->fin + s->data_len;
	s->snd_nxt = after(end, tp->snd_nxt) ? end : tp->snd_nxt;
	s->snd_wl1 = tp->snd_wl1;
	s->snd_una = tp->snd_una;
	s->snd_wnd = tp->snd_wnd;
	s->rcv_nxt = tp->rcv_nxt;
	s->rcv_wnd = tp->rcv_wnd;
	s->ts_recent = tp->rx_opt.ts_recent;
	/* What getsockopt(TCP_TIMESTAMP) reads, for setsockopt on restore. */
	s->ts_val = (tcp_clock_ts(tp->tcp_usec_ts) + tp->tsoffset) & ~1u;
	s->ts_val |= tp->tcp_usec_ts;
	s->copied_seq = tp->copied_seq;
	s->write_seq = after(tp->write_seq, s->snd_nxt) ? tp->write_seq : s->snd_nxt;
	return true;
}

/* Copies what skb holds of the bytes from want on; false once done (cap
 * reached, or a hole). Queued skbs hold their bytes alone (the headers go
 * on the clone tcp_transmit_skb sends), from TCP_SKB_CB(skb)->seq. */
static bool unsent_copy(const struct sk_buff *skb, u32 want, u8 *buf, u32 cap, u32 *n)
{
	u32 start = TCP_SKB_CB(skb)->seq, end = start + skb->len, len;

	if (!after(end, want))
		return true;
	if (after(start, want))
		return false;
	len = min(end - want, cap - *n);
	if (skb_copy_bits(skb, want - start, buf + *n, len))
		return false;
	*n += len;
	return *n < cap;
}

/* Sent and unacknowledged bytes (the retransmit queue) first, then the
 * never sent (the write queue). */
static u32 unsent_walk(struct sock *sk, u32 from, u8 *buf, u32 cap)
{
	struct sk_buff *skb;
	u32 n = 0;

	skb_rbtree_walk(skb, &sk->tcp_rtx_queue)
		if (!unsent_copy(skb, from + n, buf, cap, &n))
			return n;
	skb_queue_walk(&sk->sk_write_queue, skb)
		if (!unsent_copy(skb, from + n, buf, cap, &n))
			break;
	return n;
}

/*
 * The daemon's question under output commit: bytes the application wrote
 * that its socket has not sent yet (a full congestion or receive window,
 * segments held in the queue) show in no segment, yet the client may
 * already have the acknowledgement of the request they answer. The tail
 * of the write queue is read here, once, when the daemon misses it,
 * rather than copied out with every segment.
 */
int ipcluster_tcp_unsent(struct net *net, int ifindex, const struct ipcluster_tcp_conn *c,
			 u32 from, u8 *buf, u32 cap, u32 *seq)
{
	struct inet_hashinfo *hinfo = net->ipv4.tcp_death_row.hashinfo;
	struct sock *sk = NULL;
	int ret = -ENOENT;

	rcu_read_lock();
	if (!c->v6) {
		__be32 peer, local;

		memcpy(&peer, c->peer + 12, 4);
		memcpy(&local, c->local + 12, 4);
		sk = __inet_lookup_established(net, hinfo, peer, htons(c->peer_port), local,
					       c->local_port, ifindex, 0);
	}
#if IS_ENABLED(CONFIG_IPV6)
	else
		sk = __inet6_lookup_established(net, hinfo, (const struct in6_addr *)c->peer,
						htons(c->peer_port),
						(const struct in6_addr *)c->local, c->local_port,
						ifindex, 0);
#endif
	rcu_read_unlock();
	if (!sk)
		return -ENOENT;
	if (sk_fullsock(sk)) {
		lock_sock(sk);
		if (sk->sk_state == TCP_ESTABLISHED || sk->sk_state == TCP_CLOSE_WAIT) {
			u32 una = tcp_sk(sk)->snd_una;

			*seq = before(from, una) ? una : from;
			ret = unsent_walk(sk, *seq, buf, cap);
		}
		release_sock(sk);
	}
	sock_gen_put(sk);
	return ret;
}

bool ipcluster_tcp_in(struct sk_buff *skb, bool v6, struct ipcluster_tcp_in *in)
{
	struct tcphdr _th;
	const struct tcphdr *th;
	unsigned int l4, hook = NF_INET_PRE_ROUTING;
	u8 family;

	memset(in, 0, sizeof(*in));
#if IS_ENABLED(CONFIG_IPV6)
	if (v6) {
		const struct ipv6hdr *h = ipv6_hdr(skb);

		/* As TCP sends them: no extension headers. */
		if (h->nexthdr != IPPROTO_TCP)
			return false;
		memcpy(in->peer, &h->saddr, 16);
		memcpy(in->local, &h->daddr, 16);
		l4 = sizeof(*h);
		family = NFPROTO_IPV6;
	} else
#endif
	{
		const struct iphdr *h = ip_hdr(skb);

		if (v6 || h->protocol != IPPROTO_TCP || ip_is_fragment(h))
			return false;
		ipv6_addr_set_v4mapped(h->saddr, (struct in6_addr *)in->peer);
		ipv6_addr_set_v4mapped(h->daddr, (struct in6_addr *)in->local);
		l4 = ip_hdrlen(skb);
		family = NFPROTO_IPV4;
	}
	th = skb_header_pointer(skb, l4, sizeof(_th), &_th);
	if (!th || th->doff < 5 || th->syn || th->rst || skb->len <= l4 + th->doff * 4)
		return false;
	/* Bytes TCP will refuse must not reach a replica: the same check
	 * conntrack makes. */
	if (nf_checksum(skb, hook, l4, IPPROTO_TCP, family))
		return false;
	in->peer_port = ntohs(th->source);
	in->local_port = ntohs(th->dest);
	in->seq = ntohl(th->seq);
	in->data_off = l4 + th->doff * 4;
	in->data_len = skb->len - in->data_off;
	return true;
}

bool ipcluster_tcp_listeners(struct net *net)
{
	return genl_has_listeners(&ipcluster_nl_family, net, IPCLUSTER_NLGRP_TCP);
}

void ipcluster_tcp_notify(struct net *net, u32 cluster, const void *records, int len,
			  const struct sk_buff *data, u32 data_off, u32 data_len)
{
	struct sk_buff *skb;
	struct nlattr *nla;
	void *hdr;

	if (!data)
		data_len = 0;
	skb = genlmsg_new(nla_total_size(sizeof(u32)) + nla_total_size(len + data_len),
			  GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &ipcluster_nl_family, 0, IPCLUSTER_CMD_TCP_STATE_NTF);
	if (!hdr || nla_put_u32(skb, IPCLUSTER_A_TCP_STATE_CLUSTER_ID, cluster))
		goto fail;
	nla = nla_reserve(skb, IPCLUSTER_A_TCP_STATE_RECORDS, len + data_len);
	if (!nla)
		goto fail;
	memcpy(nla_data(nla), records, len);
	if (data_len && skb_copy_bits(data, data_off, (u8 *)nla_data(nla) + len, data_len))
		goto fail;
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&ipcluster_nl_family, net, skb, 0, IPCLUSTER_NLGRP_TCP,
				GFP_ATOMIC);
	return;
fail:
	nlmsg_free(skb);
}

/*
 * One netlink message per exported segment costs the daemon a wakeup and
 * a recvmsg each, more than the segment itself (measured: a listener on
 * the tcp group halved echo throughput). Records are gathered here and
 * leave together when the buffer is full or, from a timer, 20 ms after
 * the first (the daemon sends async state once a tick, 50 ms by default,
 * anyway; each message wakes it); per namespace, under a BH lock
 * (LOCAL_OUT runs in process and softirq context alike). The trick: a
 * connection's records that follow its own last ones replace them, as
 * the daemon would (it keeps each connection's newest state), so a busy
 * connection costs one record per batch, not one per segment. Output
 * commit does not come here: its records must reach the daemon before
 * the segment they hold back.
 */
#define IPCLUSTER_BATCH_MAX 3584
#define IPCLUSTER_BATCH_MS 20

struct ipcluster_batch {
	spinlock_t lock;
	struct timer_list timer;
	struct net *net;
	u32 cluster;
	u32 len;
	u64 last_conn;	/* the connection of the last records, 0: none */
	u32 last_len;
	u8 buf[IPCLUSTER_BATCH_MAX];
};

static void ipcluster_batch_flush(struct ipcluster_batch *b)
{
	lockdep_assert_held(&b->lock);
	if (b->len)
		ipcluster_tcp_notify(b->net, b->cluster, b->buf, b->len, NULL, 0, 0);
	b->len = 0;
	b->last_conn = 0;
}

static void ipcluster_batch_fire(struct timer_list *t)
{
	struct ipcluster_batch *b = from_timer(b, t, timer);

	spin_lock_bh(&b->lock);
	ipcluster_batch_flush(b);
	spin_unlock_bh(&b->lock);
}

int ipcluster_batch_init(struct net *net)
{
	struct ipcluster_batch *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return -ENOMEM;
	spin_lock_init(&b->lock);
	timer_setup(&b->timer, ipcluster_batch_fire, 0);
	b->net = net;
	ipcluster_pernet(net)->batch = b;
	return 0;
}

void ipcluster_batch_exit(struct net *net)
{
	struct ipcluster_net *pn = ipcluster_pernet(net);

	if (!pn->batch)
		return;
	timer_shutdown_sync(&pn->batch->timer);
	kfree(pn->batch);
	pn->batch = NULL;
}

/*
 * Records of connection @conn of @cluster; 0: never replaced (a
 * handshake's state, a close).
 */
void ipcluster_tcp_batch(struct net *net, u32 cluster, u64 conn, const void *records, int len)
{
	struct ipcluster_batch *b = ipcluster_pernet(net)->batch;

	if (len <= 0 || len > IPCLUSTER_BATCH_MAX) {
		if (len > 0)
			ipcluster_tcp_notify(net, cluster, records, len, NULL, 0, 0);
		return;
	}
	spin_lock_bh(&b->lock);
	if (b->len && conn && b->cluster == cluster && b->last_conn == conn &&
	    b->last_len == len) {
		memcpy(b->buf + b->len - len, records, len);
		spin_unlock_bh(&b->lock);
		return;
	}
	if (b->len && (b->cluster != cluster || b->len + len > IPCLUSTER_BATCH_MAX))
		ipcluster_batch_flush(b);
	if (!b->len)
		mod_timer(&b->timer, jiffies + msecs_to_jiffies(IPCLUSTER_BATCH_MS));
	b->cluster = cluster;
	memcpy(b->buf + b->len, records, len);
	b->len += len;
	b->last_conn = conn;
	b->last_len = len;
	spin_unlock_bh(&b->lock);
}

u64 ipcluster_jiffies(void)
{
	return get_jiffies_64();
}

u64 ipcluster_msecs_to_jiffies(u32 ms)
{
	return msecs_to_jiffies(ms);
}

u32 ipcluster_jiffies_to_msecs(u64 j)
{
	return jiffies_to_msecs(j);
}

bool ipcluster_have_arp_hooks(void)
{
	return IS_ENABLED(CONFIG_NETFILTER_FAMILY_ARP);
}

/*
 * Per-CPU counters as one array per CPU, allocated like any memory: the
 * percpu allocator stops at 32 KiB, less than 4096 buckets of counters.
 * Only the packet path writes, in softirq (or with BH off), so each CPU's
 * array has a single writer and needs no atomics.
 */
struct ipcluster_stats {
	u32 buckets;
	struct ipcluster_bucket_stats *cpu[];
};

void ipcluster_stats_free(struct ipcluster_stats *stats)
{
	int cpu;

	if (!stats)
		return;
	for_each_possible_cpu(cpu)
		kvfree(stats->cpu[cpu]);
	kfree(stats);
}

struct ipcluster_stats *ipcluster_stats_alloc(u32 buckets)
{
	struct ipcluster_stats *stats;
	int cpu;

	stats = kzalloc(struct_size(stats, cpu, nr_cpu_ids), GFP_KERNEL);
	if (!stats)
		return NULL;
	stats->buckets = buckets;
	for_each_possible_cpu(cpu) {
		stats->cpu[cpu] = kvzalloc_node(array_size(buckets, sizeof(*stats->cpu[cpu])),
						GFP_KERNEL, cpu_to_node(cpu));
		if (!stats->cpu[cpu]) {
			ipcluster_stats_free(stats);
			return NULL;
		}
	}
	return stats;
}

void ipcluster_stats_count(struct ipcluster_stats *stats, u32 bucket,
			   u32 len, bool syn, bool drop, bool forwarded)
{
	struct ipcluster_bucket_stats *s = &stats->cpu[smp_processor_id()][bucket];

	WRITE_ONCE(s->packets, s->packets + 1);
	WRITE_ONCE(s->bytes, s->bytes + len);
	if (syn)
		WRITE_ONCE(s->flows, s->flows + 1);
	if (drop)
		WRITE_ONCE(s->drops, s->drops + 1);
	if (forwarded)
		WRITE_ONCE(s->forwarded, s->forwarded + 1);
}

void ipcluster_stats_sum(struct ipcluster_stats *stats, u32 bucket,
			 struct ipcluster_bucket_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct ipcluster_bucket_stats *s = &stats->cpu[cpu][bucket];

		sum->packets += READ_ONCE(s->packets);
		sum->bytes += READ_ONCE(s->bytes);
		sum->flows += READ_ONCE(s->flows);
		sum->drops += READ_ONCE(s->drops);
		sum->forwarded += READ_ONCE(s->forwarded);
	}
}

int ipcluster_dev_addr(struct net *net, int ifindex, const u8 *mac, bool mcast, bool add)
{
	struct net_device *dev;
	int err = -ENODEV;

	ASSERT_RTNL();
	dev = __dev_get_by_index(net, ifindex);
	if (dev && !mac) {
		err = 0;
	} else if (dev) {
		if (mcast)
			err = add ? dev_mc_add(dev, mac) : dev_mc_del(dev, mac);
		else
			err = add ? dev_uc_add(dev, mac) : dev_uc_del(dev, mac);
	}
	return err;
}

struct net *ipcluster_info_net(const struct genl_info *info)
{
	return genl_info_net(info);
}

const struct nlattr *ipcluster_info_attr(const struct genl_info *info, int type)
{
	return info->attrs[type];
}

int ipcluster_info_u32s(const struct genl_info *info, int type, u32 *out, int max)
{
	const struct nlattr *nla;
	int rem, n = 0;

	nlmsg_for_each_attr(nla, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(nla) != type)
			continue;
		if (n == max)
			return -E2BIG;
		out[n++] = nla_get_u32(nla);
	}
	return n;
}

bool ipcluster_info_admin(const struct sk_buff *skb, const struct genl_info *info)
{
	return netlink_ns_capable(skb, genl_info_net(info)->user_ns, CAP_NET_ADMIN);
}

void ipcluster_info_error(struct genl_info *info, const struct nlattr *attr, const char *msg)
{
	/* NL_SET_ERR_MSG_ATTR wants a literal; Rust hands a static string. */
	if (info->extack) {
		info->extack->_msg = msg;
		NL_SET_BAD_ATTR(info->extack, attr);
	}
}

struct net *ipcluster_dump_net(const struct netlink_callback *cb)
{
	return sock_net(cb->skb->sk);
}

const struct nlattr *ipcluster_dump_attr(struct netlink_callback *cb, int type)
{
	return genl_info_dump(cb)->attrs[type];
}

long *ipcluster_dump_cursor(struct netlink_callback *cb)
{
	return &cb->args[0];
}

u32 ipcluster_nla_u32(const struct nlattr *nla)
{
	return nla_get_u32(nla);
}

const void *ipcluster_nla_data(const struct nlattr *nla)
{
	return nla_data(nla);
}

int ipcluster_nla_len(const struct nlattr *nla)
{
	return nla_len(nla);
}

struct sk_buff *ipcluster_msg_new(size_t payload)
{
	return genlmsg_new(max_t(size_t, payload, NLMSG_GOODSIZE), GFP_KERNEL);
}

void ipcluster_msg_free(struct sk_buff *skb)
{
	nlmsg_free(skb);
}

void *ipcluster_msg_reply(struct sk_buff *skb, struct genl_info *info, u8 cmd)
{
	return genlmsg_put_reply(skb, info, &ipcluster_nl_family, 0, cmd);
}

void *ipcluster_msg_dump(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd)
{
	return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			   &ipcluster_nl_family, NLM_F_MULTI, cmd);
}

void *ipcluster_msg_notify(struct sk_buff *skb, u8 cmd)
{
	return genlmsg_put(skb, 0, 0, &ipcluster_nl_family, 0, cmd);
}

void ipcluster_msg_end(struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
}

void ipcluster_msg_cancel(struct sk_buff *skb, void *hdr)
{
	genlmsg_cancel(skb, hdr);
}

int ipcluster_msg_send_reply(struct sk_buff *skb, struct genl_info *info)
{
	return genlmsg_reply(skb, info);
}

void ipcluster_msg_send_event(struct net *net, struct sk_buff *skb)
{
	genlmsg_multicast_netns(&ipcluster_nl_family, net, skb, 0,
				IPCLUSTER_NLGRP_EVENTS, GFP_KERNEL);
}
