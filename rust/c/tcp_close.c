// SPDX-License-Identifier: GPL-2.0
/*
 * Every end of a TCP connection. However a connection ends -- the
 * client's RST (one TCP accepted: tcp_validate_incoming drops those out of
 * the window before any state changes), a retransmission or keepalive
 * timeout, the application's close or abort, orphan reaping, the move to
 * TIME_WAIT, a listener's accept queue going with it -- its full socket
 * leaves for TCP_CLOSE through tcp_set_state (or inet_sk_set_state), and
 * both announce that on the inet_sock_set_state tracepoint before they
 * store it. A probe there sees each end exactly when the socket does.
 *
 * C because the tracepoint is built in and not exported by name (6.12 has
 * no EXPORT_TRACEPOINT_SYMBOL for it): it is found by walking the kernel's
 * tracepoints (for_each_kernel_tracepoint); its probe must have the
 * tracepoint's own prototype (TP_PROTO) and runs with preemption off; the
 * socket's addresses are read through sock_common's accessor macros and
 * inlines (sk_fullsock, sk_is_tcp, inet_sk, ipv6_addr_v4mapped); and
 * tracepoint_synchronize_unregister is a static inline. What to do with an
 * end is Rust's (rust/sys/tcp_close.rs).
 */
#include <linux/tracepoint.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include "ipcluster_glue.h"

/*
 * The states a connection can have exported state from: established, or
 * closing after it was. A socket leaving SYN_RECV for TCP_CLOSE is left
 * alone: it may be a second child of one handshake that lost the race for
 * the connection's hash slot (inet_ehash_nolisten), while the winner
 * lives on; the only state a handshake exports is its SYN-ACK's, which the
 * daemon forgets on its own when the handshake never finishes.
 */
#define IPCLUSTER_CLOSE_FROM (TCPF_ESTABLISHED | TCPF_FIN_WAIT1 | TCPF_FIN_WAIT2 | \
			      TCPF_CLOSE_WAIT | TCPF_LAST_ACK | TCPF_CLOSING)

#ifdef CONFIG_TRACEPOINTS
static struct tracepoint *ipcluster_state_tp;
static ipcluster_tcp_closed_fn ipcluster_closed __read_mostly;

static void ipcluster_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "inet_sock_set_state"))
		*(struct tracepoint **)priv = tp;
}

/*
 * The probe: cheapest checks first, for it runs at every state change of
 * every inet socket of every namespace. Readers of the namespace's state
 * hold RCU: the pernet core waits a grace period between taking it away
 * (ipcluster_pernet_watch, in the pre-exit) and freeing it. A namespace
 * that is still being made, and has no area of ours yet, has NULL there.
 */
static void ipcluster_set_state(void *data, const struct sock *sk, const int oldstate,
				const int newstate)
{
	struct ipcluster_tcp_conn c;
	struct ipcluster_net *pn;
	const void *st;

	if (newstate != TCP_CLOSE || (unsigned int)oldstate >= TCP_MAX_STATES ||
	    !((1 << oldstate) & IPCLUSTER_CLOSE_FROM))
		return;
	if (!sk_fullsock(sk) || !sk_is_tcp(sk))
		return;
	rcu_read_lock();
	pn = ipcluster_pernet(sock_net(sk));
	st = pn ? rcu_dereference(pn->watch) : NULL;
	if (st) {
		ipcluster_sk_conn(sk, &c);
		/*
		 * tcp_set_state has given back the port of a socket that did
		 * not bind it itself (an accepted one) before it announces
		 * TCP_CLOSE, and that zeroes inet_num; inet_sport keeps it.
		 */
		c.local_port = ntohs(inet_sk(sk)->inet_sport);
		ipcluster_closed(st, &c);
	}
	rcu_read_unlock();
}

int ipcluster_tcp_close_register(ipcluster_tcp_closed_fn closed)
{
	struct tracepoint *tp = NULL;
	int err;

	for_each_kernel_tracepoint(ipcluster_find_tp, &tp);
	if (!tp)
		return -ENOENT;
	ipcluster_closed = closed;
	err = tracepoint_probe_register(tp, ipcluster_set_state, NULL);
	if (!err)
		ipcluster_state_tp = tp;
	return err;
}

void ipcluster_tcp_close_unregister(void)
{
	if (!ipcluster_state_tp)
		return;
	tracepoint_probe_unregister(ipcluster_state_tp, ipcluster_set_state, NULL);
	/* No probe is running, nor will run, once this returns. */
	tracepoint_synchronize_unregister();
	ipcluster_state_tp = NULL;
}
#else
/*
 * A kernel without tracepoints (a lean build such as the benchmarks'):
 * Closed goes out only for the ends a segment shows.
 */
int ipcluster_tcp_close_register(ipcluster_tcp_closed_fn closed)
{
	return -EOPNOTSUPP;
}

void ipcluster_tcp_close_unregister(void)
{
}
#endif

void ipcluster_pernet_watch(struct net *net, const void *state)
{
	rcu_assign_pointer(ipcluster_pernet(net)->watch, state);
}
