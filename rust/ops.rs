// SPDX-License-Identifier: GPL-2.0
//! The generic netlink operations: each C entry point the generated ops
//! table (`netlink-gen.c`, from the YNL spec) names, and its handler.

use crate::sys::genl::{doit, dumpit};
use crate::{adopt, control, unsent};

doit!(ipcluster_nl_cluster_new_doit, control::cluster_new);
doit!(ipcluster_nl_cluster_del_doit, control::cluster_del);
doit!(ipcluster_nl_cluster_get_doit, control::cluster_get);
dumpit!(ipcluster_nl_cluster_get_dumpit, control::cluster_dump);
doit!(ipcluster_nl_table_set_doit, control::table_set);
doit!(ipcluster_nl_table_get_doit, control::table_get);
dumpit!(ipcluster_nl_bucket_get_dumpit, control::bucket_dump);
doit!(ipcluster_nl_tcp_unsent_doit, unsent::tcp_unsent);
doit!(ipcluster_nl_tcp_adopt_doit, adopt::tcp_adopt);
doit!(
    ipcluster_nl_tcp_adopt_prepare_doit,
    adopt::tcp_adopt_prepare
);
