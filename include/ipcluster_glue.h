/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of ipcluster.ko: bindgen reads this header to make the Rust
 * bindings, and rust/helpers.c implements the functions declared here.
 *
 * Only what Rust cannot reach by itself lives in C: static inline functions
 * and macros of the kernel API, and structures whose layout C must own
 * (pernet_operations with its static id).
 */
#ifndef _IPCLUSTER_GLUE_H
#define _IPCLUSTER_GLUE_H

#include <linux/types.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/net_namespace.h>

/* Per network namespace state, allocated by the pernet core (net_generic). */
struct ipcluster_net {
	struct nf_hook_ops hooks[2];	/* IPv4 and IPv6 PRE_ROUTING */
	void *state;			/* owned by Rust */
};

int ipcluster_glue_register(void);
void ipcluster_glue_unregister(void);
struct ipcluster_net *ipcluster_pernet(const struct net *net);

/* Implemented in Rust, called by the pernet core for each namespace. */
int ipcluster_net_init(struct net *net);
void ipcluster_net_exit(struct net *net);

#endif /* _IPCLUSTER_GLUE_H */
