// SPDX-License-Identifier: GPL-2.0
//! The netlink ABI's numbers by their uapi names (`IPCLUSTER_A_CLUSTER_ID`,
//! `IPCLUSTER_CMD_TABLE_GET`, `IPCLUSTER_MODE_FORWARD`, ...), made by
//! bindgen from `include/uapi/linux/ipcluster.h`, which the YNL spec
//! generates: the spec is their one definition.

#[allow(
    clippy::all,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    reason = "generated code"
)]
mod generated {
    include!("../uapi_generated.rs");
}

pub(crate) use generated::*;
