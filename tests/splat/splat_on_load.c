// SPDX-License-Identifier: GPL-2.0
/*
 * A deliberately broken module: it WARNs on load. The VM test runner loads
 * it in its self-test to prove that a kernel splat fails the run.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init splat_init(void)
{
	WARN(1, "ipcluster test: deliberate splat on load\n");
	return 0;
}

static void __exit splat_exit(void)
{
}

module_init(splat_init);
module_exit(splat_exit);
MODULE_DESCRIPTION("ipcluster test: a module that WARNs on load");
MODULE_LICENSE("GPL");
