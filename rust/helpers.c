// SPDX-License-Identifier: GPL-2.0
/*
 * ipcluster's C glue: registrations whose structures C must own, and thin
 * wrappers for static inline functions and macros Rust cannot call. No
 * logic lives here; rust/ has it all.
 */
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <net/addrconf.h>
#include <net/route.h>
#include <net/netns/generic.h>
#include "ipcluster_glue.h"
#include "netlink-gen.h"

static unsigned int ipcluster_net_id __read_mostly;

static struct pernet_operations ipcluster_net_ops = {
	.init = ipcluster_net_init,
	.exit = ipcluster_net_exit,
	.id = &ipcluster_net_id,
	.size = sizeof(struct ipcluster_net),
};

static struct genl_family ipcluster_nl_family __ro_after_init = {
	.name = IPCLUSTER_FAMILY_NAME,
	.version = IPCLUSTER_FAMILY_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.split_ops = ipcluster_nl_ops,
	.n_split_ops = ARRAY_SIZE(ipcluster_nl_ops),
	.mcgrps = (const struct genl_multicast_group[]){
		[IPCLUSTER_NLGRP_EVENTS] = { .name = IPCLUSTER_MCGRP_EVENTS },
	},
	.n_mcgrps = 1,
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

bool ipcluster_have_arp_hooks(void)
{
	return IS_ENABLED(CONFIG_NETFILTER_FAMILY_ARP);
}

struct ipcluster_bucket_stats *ipcluster_stats_alloc(u32 buckets)
{
	return __alloc_percpu(sizeof(struct ipcluster_bucket_stats) * buckets,
			      __alignof__(struct ipcluster_bucket_stats));
}

void ipcluster_stats_free(struct ipcluster_bucket_stats *stats)
{
	free_percpu((struct ipcluster_bucket_stats __percpu *)stats);
}

void ipcluster_stats_count(struct ipcluster_bucket_stats *stats, u32 bucket,
			   u32 len, bool syn, bool drop)
{
	struct ipcluster_bucket_stats __percpu *s =
		(struct ipcluster_bucket_stats __percpu *)stats + bucket;

	/* this_cpu ops: safe from any context, no preemption games. */
	this_cpu_inc(s->packets);
	this_cpu_add(s->bytes, len);
	if (syn)
		this_cpu_inc(s->flows);
	if (drop)
		this_cpu_inc(s->drops);
}

void ipcluster_stats_sum(struct ipcluster_bucket_stats *stats, u32 bucket,
			 struct ipcluster_bucket_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct ipcluster_bucket_stats *s =
			per_cpu_ptr((struct ipcluster_bucket_stats __percpu *)stats, cpu) + bucket;

		sum->packets += READ_ONCE(s->packets);
		sum->bytes += READ_ONCE(s->bytes);
		sum->flows += READ_ONCE(s->flows);
		sum->drops += READ_ONCE(s->drops);
	}
}

int ipcluster_dev_addr(struct net *net, int ifindex, const u8 *mac, bool mcast, bool add)
{
	struct net_device *dev;
	int err = -ENODEV;

	rtnl_lock();
	dev = __dev_get_by_index(net, ifindex);
	if (dev && !mac) {
		err = 0;
	} else if (dev) {
		if (mcast)
			err = add ? dev_mc_add(dev, mac) : dev_mc_del(dev, mac);
		else
			err = add ? dev_uc_add(dev, mac) : dev_uc_del(dev, mac);
	}
	rtnl_unlock();
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
