// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/ipcluster.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "netlink-gen.h"

#include <uapi/linux/ipcluster.h>

/* Integer value ranges */
static const struct netlink_range_validation ipcluster_a_cluster_member_id_range = {
	.max	= IPCLUSTER_MAX_MEMBER_ID,
};

static const struct netlink_range_validation ipcluster_a_cluster_forwarder_range = {
	.max	= IPCLUSTER_MAX_MEMBER_ID,
};

static const struct netlink_range_validation ipcluster_a_cluster_drain_ms_range = {
	.max	= IPCLUSTER_MAX_DRAIN_MS,
};

/* IPCLUSTER_CMD_CLUSTER_NEW - do */
static const struct nla_policy ipcluster_cluster_new_nl_policy[IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6 + 1] = {
	[IPCLUSTER_A_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[IPCLUSTER_A_CLUSTER_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[IPCLUSTER_A_CLUSTER_ADDR4] = { .type = NLA_U32, },
	[IPCLUSTER_A_CLUSTER_ADDR6] = NLA_POLICY_EXACT_LEN(16),
	[IPCLUSTER_A_CLUSTER_MAC] = NLA_POLICY_EXACT_LEN(6),
	[IPCLUSTER_A_CLUSTER_MODE] = NLA_POLICY_MAX(NLA_U32, 2),
	[IPCLUSTER_A_CLUSTER_HASH] = NLA_POLICY_MAX(NLA_U32, 1),
	[IPCLUSTER_A_CLUSTER_SEED] = NLA_POLICY_EXACT_LEN(16),
	[IPCLUSTER_A_CLUSTER_BUCKET_BITS] = NLA_POLICY_MAX(NLA_U32, IPCLUSTER_MAX_BUCKET_BITS),
	[IPCLUSTER_A_CLUSTER_MEMBER_ID] = NLA_POLICY_FULL_RANGE(NLA_U32, &ipcluster_a_cluster_member_id_range),
	[IPCLUSTER_A_CLUSTER_FWD_IFINDEX] = { .type = NLA_U32, },
	[IPCLUSTER_A_CLUSTER_DRAIN_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &ipcluster_a_cluster_drain_ms_range),
	[IPCLUSTER_A_CLUSTER_TCP_EXPORT] = { .type = NLA_FLAG, },
	[IPCLUSTER_A_CLUSTER_COMMIT_QUEUE] = { .type = NLA_U16, },
	[IPCLUSTER_A_CLUSTER_AFFINITY] = NLA_POLICY_MAX(NLA_U32, 2),
	[IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX4] = NLA_POLICY_RANGE(NLA_U32, 1, 32),
	[IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6] = NLA_POLICY_RANGE(NLA_U32, 1, 128),
};

/* IPCLUSTER_CMD_CLUSTER_DEL - do */
static const struct nla_policy ipcluster_cluster_del_nl_policy[IPCLUSTER_A_CLUSTER_ID + 1] = {
	[IPCLUSTER_A_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* IPCLUSTER_CMD_CLUSTER_GET - do */
static const struct nla_policy ipcluster_cluster_get_nl_policy[IPCLUSTER_A_CLUSTER_ID + 1] = {
	[IPCLUSTER_A_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* IPCLUSTER_CMD_TABLE_SET - do */
static const struct nla_policy ipcluster_table_set_nl_policy[IPCLUSTER_A_CLUSTER_GONE + 1] = {
	[IPCLUSTER_A_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[IPCLUSTER_A_CLUSTER_TABLE] = { .type = NLA_BINARY, },
	[IPCLUSTER_A_CLUSTER_MEMBER_ID] = NLA_POLICY_FULL_RANGE(NLA_U32, &ipcluster_a_cluster_member_id_range),
	[IPCLUSTER_A_CLUSTER_FORWARDER] = NLA_POLICY_FULL_RANGE(NLA_U32, &ipcluster_a_cluster_forwarder_range),
	[IPCLUSTER_A_CLUSTER_MEMBERS] = { .type = NLA_BINARY, },
	[IPCLUSTER_A_CLUSTER_GONE] = { .type = NLA_BINARY, },
};

/* IPCLUSTER_CMD_TABLE_GET - do */
static const struct nla_policy ipcluster_table_get_nl_policy[IPCLUSTER_A_CLUSTER_ID + 1] = {
	[IPCLUSTER_A_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* IPCLUSTER_CMD_BUCKET_GET - dump */
static const struct nla_policy ipcluster_bucket_get_nl_policy[IPCLUSTER_A_BUCKET_CLUSTER_ID + 1] = {
	[IPCLUSTER_A_BUCKET_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* IPCLUSTER_CMD_TCP_UNSENT - do */
static const struct nla_policy ipcluster_tcp_unsent_nl_policy[IPCLUSTER_A_TCP_STATE_RECORDS + 1] = {
	[IPCLUSTER_A_TCP_STATE_CLUSTER_ID] = { .type = NLA_U32, },
	[IPCLUSTER_A_TCP_STATE_RECORDS] = { .type = NLA_BINARY, },
};

/* IPCLUSTER_CMD_TCP_ADOPT - do */
static const struct nla_policy ipcluster_tcp_adopt_nl_policy[IPCLUSTER_A_TCP_ADOPT_FD + 1] = {
	[IPCLUSTER_A_TCP_ADOPT_FD] = { .type = NLA_U32, },
};

/* IPCLUSTER_CMD_TCP_ADOPT_PREPARE - do */
static const struct nla_policy ipcluster_tcp_adopt_prepare_nl_policy[IPCLUSTER_A_TCP_ADOPT_FD + 1] = {
	[IPCLUSTER_A_TCP_ADOPT_FD] = { .type = NLA_U32, },
};

/* Ops table for ipcluster */
const struct genl_split_ops ipcluster_nl_ops[10] = {
	{
		.cmd		= IPCLUSTER_CMD_CLUSTER_NEW,
		.doit		= ipcluster_nl_cluster_new_doit,
		.policy		= ipcluster_cluster_new_nl_policy,
		.maxattr	= IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_CLUSTER_DEL,
		.doit		= ipcluster_nl_cluster_del_doit,
		.policy		= ipcluster_cluster_del_nl_policy,
		.maxattr	= IPCLUSTER_A_CLUSTER_ID,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_CLUSTER_GET,
		.doit		= ipcluster_nl_cluster_get_doit,
		.policy		= ipcluster_cluster_get_nl_policy,
		.maxattr	= IPCLUSTER_A_CLUSTER_ID,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= IPCLUSTER_CMD_CLUSTER_GET,
		.dumpit	= ipcluster_nl_cluster_get_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= IPCLUSTER_CMD_TABLE_SET,
		.doit		= ipcluster_nl_table_set_doit,
		.policy		= ipcluster_table_set_nl_policy,
		.maxattr	= IPCLUSTER_A_CLUSTER_GONE,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_TABLE_GET,
		.doit		= ipcluster_nl_table_get_doit,
		.policy		= ipcluster_table_get_nl_policy,
		.maxattr	= IPCLUSTER_A_CLUSTER_ID,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_BUCKET_GET,
		.dumpit		= ipcluster_nl_bucket_get_dumpit,
		.policy		= ipcluster_bucket_get_nl_policy,
		.maxattr	= IPCLUSTER_A_BUCKET_CLUSTER_ID,
		.flags		= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= IPCLUSTER_CMD_TCP_UNSENT,
		.doit		= ipcluster_nl_tcp_unsent_doit,
		.policy		= ipcluster_tcp_unsent_nl_policy,
		.maxattr	= IPCLUSTER_A_TCP_STATE_RECORDS,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_TCP_ADOPT,
		.doit		= ipcluster_nl_tcp_adopt_doit,
		.policy		= ipcluster_tcp_adopt_nl_policy,
		.maxattr	= IPCLUSTER_A_TCP_ADOPT_FD,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= IPCLUSTER_CMD_TCP_ADOPT_PREPARE,
		.doit		= ipcluster_nl_tcp_adopt_prepare_doit,
		.policy		= ipcluster_tcp_adopt_prepare_nl_policy,
		.maxattr	= IPCLUSTER_A_TCP_ADOPT_FD,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

static const struct genl_multicast_group ipcluster_nl_mcgrps[] = {
	[IPCLUSTER_NLGRP_EVENTS] = { "events", },
	[IPCLUSTER_NLGRP_TCP] = { "tcp", },
};
