// SPDX-License-Identifier: GPL-2.0
/*
 * TCP connections: their state as a segment leaves, whether a socket
 * holds one, and the bytes one has not had acknowledged. C because all of
 * it reads tcp_sock and request_sock, whose accessors (tcp_sk, inet_rsk,
 * tcp_rsk), option bits (bitfields) and sequence arithmetic (before,
 * after, tcp_clock_ts) are static inlines, and walks the socket's queues
 * with macros (skb_rbtree_walk, skb_queue_walk) under lock_sock.
 */
#include <linux/skbuff.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/tcp.h>
#include "ipcluster_glue.h"

/*
 * The socket that holds connection `c` on interface `ifindex`, referenced,
 * or NULL. Only the established hash is searched (established, half-open
 * request and TIME_WAIT sockets), never a listener, so a stray segment
 * finds nothing. Caller holds the RCU read lock.
 */
static struct sock *tcp_lookup(struct net *net, int ifindex, const struct ipcluster_tcp_conn *c)
{
	struct inet_hashinfo *hinfo = net->ipv4.tcp_death_row.hashinfo;

	if (!c->v6) {
		__be32 peer, local;

		memcpy(&peer, c->peer + 12, 4);
		memcpy(&local, c->local + 12, 4);
		return __inet_lookup_established(net, hinfo, peer, htons(c->peer_port), local,
						 c->local_port, ifindex, 0);
	}
#if IS_ENABLED(CONFIG_IPV6)
	return __inet6_lookup_established(net, hinfo, (const struct in6_addr *)c->peer,
					  htons(c->peer_port), (const struct in6_addr *)c->local,
					  c->local_port, ifindex, 0);
#else
	return NULL;
#endif
}

/*
 * During a bucket's drain the table no longer says who keeps a TCP
 * segment: the member whose socket holds the connection does.
 * PRE_ROUTING has no route yet: the incoming interface is skb->dev.
 */
bool ipcluster_tcp_holds(const struct sk_buff *skb, const struct ipcluster_tcp_conn *c)
{
	struct sock *sk = tcp_lookup(dev_net(skb->dev), skb->dev->ifindex, c);

	if (sk)
		sock_gen_put(sk);
	return sk;
}

/* The addresses and ports, from the sock_common a request socket shares. */
void ipcluster_sk_conn(const struct sock *sk, struct ipcluster_tcp_conn *c)
{
	c->v6 = 0;
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6 && !ipv6_addr_v4mapped(&sk->sk_v6_daddr)) {
		c->v6 = 1;
		memcpy(c->peer, &sk->sk_v6_daddr, 16);
		memcpy(c->local, &sk->sk_v6_rcv_saddr, 16);
	} else
#endif
	{
		ipv6_addr_set_v4mapped(sk->sk_daddr, (struct in6_addr *)c->peer);
		ipv6_addr_set_v4mapped(sk->sk_rcv_saddr, (struct in6_addr *)c->local);
	}
	c->peer_port = ntohs(sk->sk_dport);
	c->local_port = sk->sk_num;
}

static void snap_addrs(const struct sock *sk, struct ipcluster_tcp_snap *s)
{
	struct ipcluster_tcp_conn c;

	ipcluster_sk_conn(sk, &c);
	memcpy(s->peer, c.peer, 16);
	memcpy(s->local, c.local, 16);
	s->peer_port = c.peer_port;
	s->local_port = c.local_port;
	s->v6 = c.v6;
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
	s->flags = IPCLUSTER_SNAP_HANDSHAKE;
	if (tcp_sk(req->rsk_listener)->nonagle & TCP_NAGLE_OFF)
		s->flags |= IPCLUSTER_SNAP_NODELAY;
	if (ireq->wscale_ok)
		s->flags |= IPCLUSTER_SNAP_WSCALE_REQ | IPCLUSTER_SNAP_WSCALE_OK;
	if (ireq->tstamp_ok)
		s->flags |= IPCLUSTER_SNAP_TS_REQ | IPCLUSTER_SNAP_TS_OK;
	if (ireq->sack_ok)
		s->flags |= IPCLUSTER_SNAP_SACK_OK;
	if (!ireq->wscale_ok && !ireq->tstamp_ok && !ireq->sack_ok)
		s->flags |= IPCLUSTER_SNAP_NO_OPTIONS;
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
 * Update generations rise with every snapshot, of any connection. Taken
 * with the socket locked, so that of two states of one connection the
 * later has the later generation, whichever path took them.
 */
static atomic_t generation;

/*
 * The states a restore rebuilds (ESTABLISHED, then the FINs made again),
 * and those with our FIN queued. The peer's FIN is known by SOCK_DONE,
 * which tcp_fin() sets before it changes the state: the ACK it sends from
 * FIN_WAIT1 or FIN_WAIT2 already acknowledges the FIN.
 */
#define RESTORABLE (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT | TCPF_LAST_ACK | TCPF_FIN_WAIT1 | \
		    TCPF_FIN_WAIT2 | TCPF_CLOSING)
#define PAST_OUR_FIN (TCPF_FIN_WAIT1 | TCPF_FIN_WAIT2 | TCPF_LAST_ACK | TCPF_CLOSING)

/*
 * A full socket's state as a peer knows it once a segment ending at `end`
 * (or anything before) has gone: snd_nxt at least `end`. Caller holds
 * the socket's lock.
 */
static void snap_tcp(const struct sock *sk, u32 end, struct ipcluster_tcp_snap *s)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	s->gen = atomic_inc_return(&generation);

	snap_addrs(sk, s);
	s->mss = tp->rx_opt.mss_clamp;
	s->opts_len = tp->tcp_header_len - sizeof(struct tcphdr);
	s->closing = !((1 << sk->sk_state) & RESTORABLE);
	if (sock_flag(sk, SOCK_DONE))
		s->fins |= IPCLUSTER_SNAP_FIN_IN;
	if ((1 << sk->sk_state) & PAST_OUR_FIN)
		s->fins |= IPCLUSTER_SNAP_FIN_OUT;
	if (tp->nonagle & TCP_NAGLE_OFF)
		s->flags |= IPCLUSTER_SNAP_NODELAY;
	if (tp->rx_opt.wscale_ok)
		s->flags |= IPCLUSTER_SNAP_WSCALE_REQ | IPCLUSTER_SNAP_WSCALE_OK;
	if (tp->rx_opt.tstamp_ok)
		s->flags |= IPCLUSTER_SNAP_TS_REQ | IPCLUSTER_SNAP_TS_OK;
	if (tp->rx_opt.sack_ok)
		s->flags |= IPCLUSTER_SNAP_SACK_OK;
	if (!tp->rx_opt.wscale_ok && !tp->rx_opt.tstamp_ok && !tp->rx_opt.sack_ok)
		s->flags |= IPCLUSTER_SNAP_NO_OPTIONS;
	s->snd_wscale = tp->rx_opt.snd_wscale;
	s->rcv_wscale = tp->rx_opt.rcv_wscale;
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
}

/*
 * LOCAL_OUT runs inside tcp_transmit_skb, with the socket locked (by its
 * owner or by softirq) and before snd_nxt moves past this segment: the
 * segment's own end is the snd_nxt a peer may have seen. A SYN-ACK is
 * sent by its request socket (tcp_make_synack; none under SYN cookies).
 * The caller has checked that the IP header says TCP, which any raw
 * socket can say too (so can TCP's own control socket, a raw one, for
 * resets): the socket is checked first, and only TCP's segments, whose
 * header TCP built in the linear part, are read.
 */
bool ipcluster_tcp_snap(const struct sk_buff *skb, struct ipcluster_tcp_snap *s)
{
	const struct sock *sk = skb->sk;
	const struct tcphdr *th;
	bool req;
	u32 end;

	if (!sk)
		return false;
	/* sk_state is in sock_common, which every kind of socket has. */
	req = sk->sk_state == TCP_NEW_SYN_RECV;
	if (req) {
		const struct sock *listener = inet_reqsk(sk)->rsk_listener;

		if (!listener || !sk_is_tcp(listener))
			return false;
	} else if (!sk_fullsock(sk) || !sk_is_tcp(sk)) {
		return false;
	}
	if (!skb_transport_header_was_set(skb) ||
	    skb_transport_header(skb) + sizeof(*th) > skb_tail_pointer(skb))
		return false;
	th = tcp_hdr(skb);
	memset(s, 0, sizeof(*s));
	s->seq = ntohl(th->seq) + th->syn;
	s->data_off = skb_transport_offset(skb) + th->doff * 4;
	s->data_len = skb->len > s->data_off ? skb->len - s->data_off : 0;
	if (req) {
		if (!th->syn || !th->ack)
			return false;
		snap_addrs(sk, s);
		snap_req(inet_reqsk(sk), s);
		s->gen = atomic_inc_return(&generation);
		return true;
	}
	end = ntohl(th->seq) + th->syn + th->fin + s->data_len;
	snap_tcp(sk, end, s);
	s->closing |= th->rst;
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
			 u32 from, u8 *buf, u32 cap, u32 *seq, struct ipcluster_tcp_snap *snap)
{
	struct sock *sk;
	int ret = -ENOENT;

	rcu_read_lock();
	sk = tcp_lookup(net, ifindex, c);
	rcu_read_unlock();
	if (!sk)
		return -ENOENT;
	if (sk_fullsock(sk)) {
		lock_sock(sk);
		if ((1 << sk->sk_state) & RESTORABLE) {
			u32 una = tcp_sk(sk)->snd_una;

			if (snap) {
				memset(snap, 0, sizeof(*snap));
				snap_tcp(sk, tcp_sk(sk)->snd_nxt, snap);
				from = una;
			}
			*seq = before(from, una) ? una : from;
			ret = unsent_walk(sk, *seq, buf, cap);
		}
		release_sock(sk);
	}
	sock_gen_put(sk);
	return ret;
}
