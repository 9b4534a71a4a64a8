// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation of the per-CPU counters (rust/sys/percpu.rs counts and sums
 * them). C because for_each_possible_cpu, cpu_to_node, kvzalloc_node and
 * smp_processor_id are macros and static inlines.
 *
 * One plain array per CPU, on that CPU's node, rather than the percpu
 * allocator: it stops at 32 KiB, less than 4096 buckets of counters.
 */
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include "ipcluster_glue.h"

void ipcluster_stats_free(struct ipcluster_stats *stats)
{
	int cpu;

	if (!stats)
		return;
	for_each_possible_cpu(cpu)
		kvfree(stats->cpu[cpu]);
	kfree(stats);
}

struct ipcluster_stats *ipcluster_stats_alloc(u32 buckets)
{
	struct ipcluster_stats *stats;
	int cpu;

	/* Charged to the caller's memory cgroup: containers may make clusters. */
	stats = kzalloc(struct_size(stats, cpu, nr_cpu_ids), GFP_KERNEL_ACCOUNT);
	if (!stats)
		return NULL;
	stats->buckets = buckets;
	stats->cpus = nr_cpu_ids;
	for_each_possible_cpu(cpu) {
		stats->cpu[cpu] = kvzalloc_node(array_size(buckets, sizeof(*stats->cpu[cpu])),
						GFP_KERNEL_ACCOUNT, cpu_to_node(cpu));
		if (!stats->cpu[cpu]) {
			ipcluster_stats_free(stats);
			return NULL;
		}
	}
	return stats;
}

u32 ipcluster_this_cpu(void)
{
	return smp_processor_id();
}
