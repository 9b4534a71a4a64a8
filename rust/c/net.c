// SPDX-License-Identifier: GPL-2.0
/*
 * Interfaces and routes of a namespace. C because what is asked is behind
 * static inlines and macros: ASSERT_RTNL, ipv6_addr_type, IS_ENABLED, and
 * synchronize_net's pairing with nf_unregister_net_hook.
 */
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <net/addrconf.h>
#include <net/route.h>
#include "ipcluster_glue.h"

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

bool ipcluster_have_arp_hooks(void)
{
	return IS_ENABLED(CONFIG_NETFILTER_FAMILY_ARP);
}

int ipcluster_dev_addr(struct net *net, int ifindex, const u8 *mac, bool mcast, bool add)
{
	struct net_device *dev;

	ASSERT_RTNL();
	dev = __dev_get_by_index(net, ifindex);
	if (!dev)
		return -ENODEV;
	if (!mac)
		return 0;
	if (mcast)
		return add ? dev_mc_add(dev, mac) : dev_mc_del(dev, mac);
	return add ? dev_uc_add(dev, mac) : dev_uc_del(dev, mac);
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
