// SPDX-License-Identifier: GPL-2.0
/*
 * Adoption: a connection the daemon restored through TCP repair goes onto
 * the accept queue of the application's own listener, as the kernel moves
 * a closing listener's children to another listener of its SO_REUSEPORT
 * group (inet_csk_listen_stop). C because every step is a static inline,
 * a macro or a structure field Rust cannot reach: file_count, lock_sock
 * and bh_lock_sock, sk_acceptq_is_full, sk_is_tcp, tcp_sk and tcp_rsk,
 * sk_set_socket, the namespace's TCP hash tables
 * (net->ipv4.tcp_death_row), the request socket's fields, rcu_read_lock,
 * css_put and mem_cgroup_sockets_enabled. Which outcome becomes which
 * error and message is Rust's (rust/sys/tcp_adopt.rs).
 */
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/memcontrol.h>
#include <linux/net.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/request_sock.h>
#include <net/tcp.h>
#include "ipcluster_glue.h"

/*
 * The listener that a new connection to sk's local address and port would
 * reach, referenced, or NULL. With no skb, a reuseport group selects by
 * the connection's hash (reuseport_select_sock), as for a SYN without a
 * BPF program.
 */
static struct sock *adopt_listener(struct sock *sk)
{
	struct net *net = sock_net(sk);
	struct inet_hashinfo *hinfo = net->ipv4.tcp_death_row.hashinfo;
	int dif = sk->sk_bound_dev_if;
	struct sock *l;

	rcu_read_lock();
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6)
		l = inet6_lookup_listener(net, hinfo, NULL, 0, &sk->sk_v6_daddr, sk->sk_dport,
					  &sk->sk_v6_rcv_saddr, sk->sk_num, dif, 0);
	else
#endif
		l = __inet_lookup_listener(net, hinfo, NULL, 0, sk->sk_daddr, sk->sk_dport,
					   sk->sk_rcv_saddr, sk->sk_num, dif, 0);
	/* Listeners are freed after a grace period (SOCK_RCU_FREE). */
	if (l && !refcount_inc_not_zero(&l->sk_refcnt))
		l = NULL;
	rcu_read_unlock();
	return l;
}

/* Why the socket cannot be adopted, checked under its lock. */
static int adopt_refusal(const struct socket *sock, const struct sock *sk)
{
	/* A connection whose client has half-closed it is accepted as the
	 * kernel accepts one whose FIN came before accept(): in CLOSE_WAIT. */
	if (sock->sk != sk || !((1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT)))
		return IPCLUSTER_ADOPT_NOT_ESTABLISHED;
	if (tcp_sk(sk)->repair)
		return IPCLUSTER_ADOPT_REPAIR;
	/*
	 * accept() gives a connection the acceptor's memory cgroup
	 * (mem_cgroup_sk_alloc in inet_csk_accept) without releasing one it
	 * has, and a module cannot move a charge: the daemon releases its
	 * restored sockets while they are fresh (ipcluster_tcp_adopt_prepare).
	 * accept() charges what the receive queue and the reserve hold, not
	 * the send queue (a child never sent anything): with socket
	 * accounting on, a connection whose sent bytes are not yet
	 * acknowledged would uncharge the acceptor pages it was never
	 * charged when the client acknowledges them.
	 */
	if (sk->sk_memcg)
		return IPCLUSTER_ADOPT_MEMCG;
	if (mem_cgroup_sockets_enabled && sk->sk_wmem_queued)
		return IPCLUSTER_ADOPT_UNACKED;
	return IPCLUSTER_ADOPT_OK;
}

/*
 * Detaches sk from the caller's socket (sock_orphan without SOCK_DEAD: a
 * child waiting in an accept queue has no socket either, and accept()
 * grafts it onto the acceptor's). Its reference passes from that socket
 * to the accept queue; releasing the socket finds no sock (inet_release
 * checks sock->sk). Caller owns sk's lock.
 */
static void adopt_detach(struct socket *sock, struct sock *sk)
{
	write_lock_bh(&sk->sk_callback_lock);
	sk_set_socket(sk, NULL);
	RCU_INIT_POINTER(sk->sk_wq, NULL);
	write_unlock_bh(&sk->sk_callback_lock);
	sock->sk = NULL;
}

/*
 * Queues detached sk on listener l as inet_csk_listen_stop queues a
 * migrated child: BH off for the queue's lock, which softirq takes too,
 * sk's spinlock held and sk not owned (listen_stop warns on an owned
 * child), so that inet_child_forget may reset and free it when the
 * listener closed meanwhile.
 */
static int adopt_queue(struct sock *sk, struct sock *l, struct request_sock *req)
{
	struct sock *queued;

	local_bh_disable();
	bh_lock_sock(sk);
	queued = inet_csk_reqsk_queue_add(l, req, sk);
	bh_unlock_sock(sk);
	if (queued) {
		rcu_read_lock();
		READ_ONCE(l->sk_data_ready)(l);
		rcu_read_unlock();
	} else {
		reqsk_put(req);
	}
	local_bh_enable();
	return queued ? IPCLUSTER_ADOPT_OK : IPCLUSTER_ADOPT_CLOSED;
}

/* The listener, referenced, and a request for it, in *lp and *reqp. */
static int adopt_prepare(struct sock *sk, struct sock **lp, struct request_sock **reqp)
{
	struct request_sock *req;
	struct sock *l;

	l = adopt_listener(sk);
	if (!l)
		return IPCLUSTER_ADOPT_NO_LISTENER;
	/* An IPv4 socket on a dual-stack IPv6 listener would reach the
	 * acceptor with IPv6 socket operations over an IPv4 sock. */
	if (l->sk_family != sk->sk_family || l->sk_protocol != IPPROTO_TCP) {
		sock_put(l);
		return IPCLUSTER_ADOPT_FAMILY;
	}
	if (sk_acceptq_is_full(l)) {
		sock_put(l);
		return IPCLUSTER_ADOPT_FULL;
	}
	/* tcp_request_sock_ops is not exported; the listener's proto names
	 * the request ops of its family. The request holds its own
	 * reference on the listener until accept() frees it. */
	req = inet_reqsk_alloc(l->sk_prot->rsk_prot, l, true);
	if (!req) {
		sock_put(l);
		return IPCLUSTER_ADOPT_NOMEM;
	}
	tcp_rsk(req)->tfo_listener = false;
	refcount_set(&req->rsk_refcnt, 1);
	*lp = l;
	*reqp = req;
	return IPCLUSTER_ADOPT_OK;
}

static int adopt(struct socket *sock, struct sock *sk)
{
	struct request_sock *req;
	struct sock *l;
	int why;

	lock_sock(sk);
	why = adopt_refusal(sock, sk);
	if (!why)
		why = adopt_prepare(sk, &l, &req);
	if (!why)
		adopt_detach(sock, sk);
	release_sock(sk);
	if (why)
		return why;
	why = adopt_queue(sk, l, req);
	sock_put(l);
	return why;
}

/* The TCP socket of `net` that file is, or NULL. */
static struct socket *adopt_sock(struct file *file, struct net *net)
{
	struct socket *sock = sock_from_file(file);
	struct sock *sk = sock ? sock->sk : NULL;

	if (!sk || !sk_is_tcp(sk) || (sk->sk_family != AF_INET && sk->sk_family != AF_INET6) ||
	    !net_eq(sock_net(sk), net))
		return NULL;
	return sock;
}

/*
 * The TCP socket of `net` behind the caller's descriptor fd in *sockp,
 * its file referenced in *filep; BAD_FD or NOT_TCP, nothing held, if none.
 */
static enum ipcluster_adopt adopt_fget(struct net *net, int fd, struct file **filep,
				       struct socket **sockp)
{
	struct file *file = fd >= 0 ? fget(fd) : NULL;

	if (!file)
		return IPCLUSTER_ADOPT_BAD_FD;
	*sockp = adopt_sock(file, net);
	if (!*sockp) {
		fput(file);
		return IPCLUSTER_ADOPT_NOT_TCP;
	}
	*filep = file;
	return IPCLUSTER_ADOPT_OK;
}

/*
 * A descriptor that is a TCP socket of `net` is taken out of the caller's
 * table before anything else: once no other reference to its file
 * remains, nothing can reach the socket while its sock leaves it, nor
 * find the empty socket afterwards. Any other descriptor stays as it is.
 * A connection refused is reset (closed with a zero linger time), never
 * left open.
 */
enum ipcluster_adopt ipcluster_tcp_adopt(struct net *net, int fd, struct ipcluster_tcp_conn *c)
{
	struct file *file, *taken;
	struct socket *sock;
	struct sock *sk;
	int why;

	why = adopt_fget(net, fd, &file, &sock);
	if (why)
		return why;
	taken = file_close_fd(fd);
	/* The table's reference, in `taken`, keeps the file. */
	fput(file);
	if (taken != file) {
		/* Another thread changed the descriptor meanwhile. */
		if (taken)
			fput(taken);
		return IPCLUSTER_ADOPT_BUSY;
	}
	sk = sock->sk;
	ipcluster_sk_conn(sk, c);
	sock_hold(sk);
	why = file_count(file) != 1 ? IPCLUSTER_ADOPT_BUSY : adopt(sock, sk);
	if (why != IPCLUSTER_ADOPT_OK && why != IPCLUSTER_ADOPT_CLOSED)
		sock_no_linger(sk);
	sock_put(sk);
	fput(file);
	return why;
}

/*
 * A socket is fresh while it is closed and holds no memory: its memory
 * cgroup has been charged nothing, and dropping the reference that
 * mem_cgroup_sk_alloc took leaves it as a socket made in the root cgroup.
 */
enum ipcluster_adopt ipcluster_tcp_adopt_prepare(struct net *net, int fd)
{
	enum ipcluster_adopt why;
	struct socket *sock;
	struct file *file;
	struct sock *sk;

	why = adopt_fget(net, fd, &file, &sock);
	if (why)
		return why;
	sk = sock->sk;
	lock_sock(sk);
	if (sk->sk_state != TCP_CLOSE || sk->sk_forward_alloc || sk->sk_wmem_queued ||
	    atomic_read(&sk->sk_rmem_alloc)) {
		why = IPCLUSTER_ADOPT_NOT_FRESH;
	}
#ifdef CONFIG_MEMCG
	else if (sk->sk_memcg) {
		css_put(&sk->sk_memcg->css);
		sk->sk_memcg = NULL;
	}
#endif
	release_sock(sk);
	fput(file);
	return why;
}
