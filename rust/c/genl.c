// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink: the family, and the requests and messages Rust reads
 * and builds (rust/sys/genl.rs). C because genl_family has bitfields and
 * names THIS_MODULE, and genlmsg_*, nla_* and nlmsg_for_each_attr are
 * static inlines and macros. The policies and the ops table are generated
 * from the YNL spec (rust/netlink-gen.c).
 */
#include <linux/skbuff.h>
#include <net/genetlink.h>
#include "ipcluster_glue.h"
#include "../netlink-gen.h"

/* Connection state and configuration: admins only (ynl-gen 6.12 drops mcgrp flags). */
static const struct genl_multicast_group ipcluster_mcgrps[] = {
	[IPCLUSTER_NLGRP_EVENTS] = { .name = IPCLUSTER_MCGRP_EVENTS,
				     .flags = GENL_MCAST_CAP_NET_ADMIN },
	[IPCLUSTER_NLGRP_TCP] = { .name = IPCLUSTER_MCGRP_TCP,
				  .flags = GENL_MCAST_CAP_NET_ADMIN },
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

int ipcluster_genl_register(void)
{
	return genl_register_family(&ipcluster_nl_family);
}

void ipcluster_genl_unregister(void)
{
	genl_unregister_family(&ipcluster_nl_family);
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
	if (len + data_len > U16_MAX - NLA_HDRLEN)
		return;
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

void ipcluster_info_error_copy(struct genl_info *info, const char *msg)
{
	NL_SET_ERR_MSG_FMT(info->extack, "%s", msg);
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
