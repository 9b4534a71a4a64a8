/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/ipcluster.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_IPCLUSTER_H
#define _UAPI_LINUX_IPCLUSTER_H

#define IPCLUSTER_FAMILY_NAME		"ipcluster"
#define IPCLUSTER_FAMILY_VERSION	1

#define IPCLUSTER_MAX_BUCKET_BITS	12
#define IPCLUSTER_MAX_MEMBER_ID		65534
#define IPCLUSTER_MAX_MEMBERS		256
#define IPCLUSTER_MAX_DRAIN_MS		3600000

/**
 * enum ipcluster_mode - How every member gets every packet for the cluster IP.
 * @IPCLUSTER_MODE_MULTICAST: A multicast cluster MAC that every member
 *   accepts; ARP replies for the cluster IP carry it.
 * @IPCLUSTER_MODE_UNICAST: A shared unicast cluster MAC that every member
 *   accepts (the switch floods it, having never learnt it: members send from
 *   their own MACs).
 * @IPCLUSTER_MODE_FORWARD: The forwarder (the master) alone answers ARP and
 *   neighbour solicitations for the cluster IP, with its own MAC, and passes
 *   each packet it does not own to its owner's MAC (table-set's forwarder and
 *   members).
 */
enum ipcluster_mode {
	IPCLUSTER_MODE_MULTICAST,
	IPCLUSTER_MODE_UNICAST,
	IPCLUSTER_MODE_FORWARD,
};

/**
 * enum ipcluster_hash - The flow hash.
 * @IPCLUSTER_HASH_KEYED: SipHash-2-4 under the cluster's 128-bit seed (the
 *   default).
 * @IPCLUSTER_HASH_SEED: The original XOR hash of source address and port,
 *   folded.
 */
enum ipcluster_hash {
	IPCLUSTER_HASH_KEYED,
	IPCLUSTER_HASH_SEED,
};

/**
 * enum ipcluster_affinity - Which flows of one client share a bucket, and so a
 *   member (MS NLB's None, Single and Network). The client is the source of a
 *   packet to the cluster address; forwarded traffic is hashed as with none
 *   (it already leaves ports out).
 * @IPCLUSTER_AFFINITY_NONE: Each connection by itself: addresses, protocol and
 *   ports (the default).
 * @IPCLUSTER_AFFINITY_SOURCE: Every flow of one client address in one bucket,
 *   whatever its protocol and ports.
 * @IPCLUSTER_AFFINITY_NETWORK: Every flow of one client network in one bucket:
 *   the client address masked to affinity-prefix4 (IPv4, default 24) or
 *   affinity-prefix6 (IPv6, default 64) bits.
 */
enum ipcluster_affinity {
	IPCLUSTER_AFFINITY_NONE,
	IPCLUSTER_AFFINITY_SOURCE,
	IPCLUSTER_AFFINITY_NETWORK,
};

enum {
	IPCLUSTER_A_CLUSTER_ID = 1,
	IPCLUSTER_A_CLUSTER_IFINDEX,
	IPCLUSTER_A_CLUSTER_ADDR4,
	IPCLUSTER_A_CLUSTER_ADDR6,
	IPCLUSTER_A_CLUSTER_MAC,
	IPCLUSTER_A_CLUSTER_MODE,
	IPCLUSTER_A_CLUSTER_HASH,
	IPCLUSTER_A_CLUSTER_SEED,
	IPCLUSTER_A_CLUSTER_BUCKET_BITS,
	IPCLUSTER_A_CLUSTER_MEMBER_ID,
	IPCLUSTER_A_CLUSTER_TABLE,
	IPCLUSTER_A_CLUSTER_MALFORMED,
	IPCLUSTER_A_CLUSTER_FWD_IFINDEX,
	IPCLUSTER_A_CLUSTER_FORWARDER,
	IPCLUSTER_A_CLUSTER_MEMBERS,
	IPCLUSTER_A_CLUSTER_DRAIN_MS,
	IPCLUSTER_A_CLUSTER_TCP_EXPORT,
	IPCLUSTER_A_CLUSTER_COMMIT_QUEUE,
	IPCLUSTER_A_CLUSTER_AFFINITY,
	IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX4,
	IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6,
	IPCLUSTER_A_CLUSTER_GONE,

	__IPCLUSTER_A_CLUSTER_MAX,
	IPCLUSTER_A_CLUSTER_MAX = (__IPCLUSTER_A_CLUSTER_MAX - 1)
};

enum {
	IPCLUSTER_A_BUCKET_CLUSTER_ID = 1,
	IPCLUSTER_A_BUCKET_INDEX,
	IPCLUSTER_A_BUCKET_OWNER,
	IPCLUSTER_A_BUCKET_PACKETS,
	IPCLUSTER_A_BUCKET_BYTES,
	IPCLUSTER_A_BUCKET_FLOWS,
	IPCLUSTER_A_BUCKET_DROPS,
	IPCLUSTER_A_BUCKET_FORWARDED,
	IPCLUSTER_A_BUCKET_DRAIN_MS,

	__IPCLUSTER_A_BUCKET_MAX,
	IPCLUSTER_A_BUCKET_MAX = (__IPCLUSTER_A_BUCKET_MAX - 1)
};

enum {
	IPCLUSTER_A_TCP_STATE_CLUSTER_ID = 1,
	IPCLUSTER_A_TCP_STATE_RECORDS,

	__IPCLUSTER_A_TCP_STATE_MAX,
	IPCLUSTER_A_TCP_STATE_MAX = (__IPCLUSTER_A_TCP_STATE_MAX - 1)
};

enum {
	IPCLUSTER_A_TCP_ADOPT_FD = 1,

	__IPCLUSTER_A_TCP_ADOPT_MAX,
	IPCLUSTER_A_TCP_ADOPT_MAX = (__IPCLUSTER_A_TCP_ADOPT_MAX - 1)
};

enum {
	IPCLUSTER_CMD_CLUSTER_NEW = 1,
	IPCLUSTER_CMD_CLUSTER_DEL,
	IPCLUSTER_CMD_CLUSTER_GET,
	IPCLUSTER_CMD_TABLE_SET,
	IPCLUSTER_CMD_TABLE_GET,
	IPCLUSTER_CMD_BUCKET_GET,
	IPCLUSTER_CMD_CLUSTER_CHANGE_NTF,
	IPCLUSTER_CMD_TCP_STATE_NTF,
	IPCLUSTER_CMD_TCP_UNSENT,
	IPCLUSTER_CMD_TCP_ADOPT,
	IPCLUSTER_CMD_TCP_ADOPT_PREPARE,

	__IPCLUSTER_CMD_MAX,
	IPCLUSTER_CMD_MAX = (__IPCLUSTER_CMD_MAX - 1)
};

#define IPCLUSTER_MCGRP_EVENTS	"events"
#define IPCLUSTER_MCGRP_TCP	"tcp"

#endif /* _UAPI_LINUX_IPCLUSTER_H */
