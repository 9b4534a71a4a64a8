// SPDX-License-Identifier: GPL-2.0
//! The netlink operations: create, delete and read clusters, replace and
//! read their bucket tables, dump their counters. Every change happens
//! under the namespace's writer lock, is built completely before it is
//! published, and is announced on the `events` group.
//!
//! `config` reads a new cluster's request; `writer` holds what changes
//! do under the writer lock; `event` describes a cluster; `lifecycle`,
//! `table` and `read` are the operations.

mod config;
mod event;
mod lifecycle;
mod read;
mod table;
mod writer;

pub(crate) use lifecycle::{cluster_del, cluster_new, dev_gone, shutdown};
pub(crate) use read::{bucket_dump, cluster_dump, cluster_get, table_get};
pub(crate) use table::table_set;
pub(crate) use writer::find;
