// SPDX-License-Identifier: GPL-2.0
/*
 * ipcluster's C glue: the pernet registration whose id the kernel writes
 * into a static, and wrappers for static inline functions Rust cannot call.
 */
#include <net/netns/generic.h>
#include "../include/ipcluster_glue.h"

static unsigned int ipcluster_net_id __read_mostly;

static struct pernet_operations ipcluster_net_ops = {
	.init = ipcluster_net_init,
	.exit = ipcluster_net_exit,
	.id = &ipcluster_net_id,
	.size = sizeof(struct ipcluster_net),
};

int ipcluster_glue_register(void)
{
	return register_pernet_subsys(&ipcluster_net_ops);
}

void ipcluster_glue_unregister(void)
{
	unregister_pernet_subsys(&ipcluster_net_ops);
}

struct ipcluster_net *ipcluster_pernet(const struct net *net)
{
	return net_generic(net, ipcluster_net_id);
}
