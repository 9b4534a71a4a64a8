// SPDX-License-Identifier: GPL-2.0
/*
 * Pernet life and the netdevice notifier. C because pernet_operations
 * hands out its per-namespace area through a static id and net_generic()
 * (a static inline), and netdev_notifier_info_to_dev() is one too. The
 * callbacks are Rust's (rust/sys/pernet.rs).
 */
#include <linux/netdevice.h>
#include <net/netns/generic.h>
#include "ipcluster_glue.h"

static unsigned int ipcluster_net_id __read_mostly;

/* Filled from Rust's callbacks before registration, constant after. */
static struct pernet_operations ipcluster_net_ops = {
	.id = &ipcluster_net_id,
	.size = sizeof(struct ipcluster_net),
};
static void (*ipcluster_dev_gone)(struct net *net, int ifindex) __read_mostly;

int ipcluster_register(const struct ipcluster_pernet_ops *ops)
{
	int err;

	ipcluster_net_ops.init = ops->init;
	ipcluster_net_ops.pre_exit = ops->pre_exit;
	ipcluster_net_ops.exit = ops->exit;
	ipcluster_dev_gone = ops->dev_gone;
	err = register_pernet_subsys(&ipcluster_net_ops);
	if (err)
		return err;
	err = ipcluster_genl_register();
	if (err)
		unregister_pernet_subsys(&ipcluster_net_ops);
	return err;
}

void ipcluster_unregister(void)
{
	/* Requests in flight finish first; then every namespace lets go. */
	ipcluster_genl_unregister();
	unregister_pernet_subsys(&ipcluster_net_ops);
}

struct ipcluster_net *ipcluster_pernet(const struct net *net)
{
	return net_generic(net, ipcluster_net_id);
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
	struct ipcluster_net *pn = ipcluster_pernet(net);

	if (!on)
		return unregister_netdevice_notifier_net(net, &pn->netdev);
	pn->netdev.notifier_call = ipcluster_netdev_event;
	return register_netdevice_notifier_net(net, &pn->netdev);
}
