/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/ipcluster.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_IPCLUSTER_GEN_H
#define _LINUX_IPCLUSTER_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/ipcluster.h>

/* Ops table for ipcluster */
extern const struct genl_split_ops ipcluster_nl_ops[10];

int ipcluster_nl_cluster_new_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_cluster_del_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_cluster_get_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_cluster_get_dumpit(struct sk_buff *skb,
				    struct netlink_callback *cb);
int ipcluster_nl_table_set_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_table_get_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_bucket_get_dumpit(struct sk_buff *skb,
				   struct netlink_callback *cb);
int ipcluster_nl_tcp_unsent_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_tcp_adopt_doit(struct sk_buff *skb, struct genl_info *info);
int ipcluster_nl_tcp_adopt_prepare_doit(struct sk_buff *skb,
					struct genl_info *info);

enum {
	IPCLUSTER_NLGRP_EVENTS,
	IPCLUSTER_NLGRP_TCP,
};

#endif /* _LINUX_IPCLUSTER_GEN_H */
