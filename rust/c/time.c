// SPDX-License-Identifier: GPL-2.0
/*
 * Jiffies. C because get_jiffies_64() and msecs_to_jiffies() are static
 * inlines (the latter folds constants at compile time).
 */
#include <linux/jiffies.h>
#include "ipcluster_glue.h"

u64 ipcluster_jiffies(void)
{
	return get_jiffies_64();
}

u64 ipcluster_msecs_to_jiffies(u32 ms)
{
	return msecs_to_jiffies(ms);
}

u32 ipcluster_jiffies_to_msecs(u64 j)
{
	return jiffies_to_msecs(j);
}
