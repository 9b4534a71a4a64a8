// SPDX-License-Identifier: GPL-2.0
/*
 * Async TCP state, batched per namespace. C because the batch embeds a
 * spinlock_t and a timer_list, set up and reached with macros
 * (spin_lock_init, timer_setup, from_timer) and taken with BHs off from
 * process and softirq context alike (LOCAL_OUT runs in both).
 *
 * Each message to the tcp group costs the daemon a wakeup and a recvmsg,
 * more than the segment whose state it carries; so records gather here
 * and leave together when the buffer is full, or from the timer
 * IPCLUSTER_BATCH_MS after the first of them. A connection's records that
 * follow its own last ones replace them, as the daemon would (it keeps
 * each connection's newest state): a busy connection costs one record per
 * batch, not one per segment. Output commit does not come here: its
 * records must reach the daemon before the segment they hold back.
 */
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include "ipcluster_glue.h"

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
