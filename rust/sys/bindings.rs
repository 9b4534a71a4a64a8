// SPDX-License-Identifier: GPL-2.0
//! Raw bindings to the C API ipcluster uses, made by bindgen from
//! `include/ipcluster_glue.h` at build time. Only `sys` uses them.

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    reason = "generated code"
)]
mod generated {
    // bindgen_parameters blocklists these so they map to Rust's own types.
    type __kernel_size_t = usize;
    type __kernel_ssize_t = isize;
    type __kernel_ptrdiff_t = isize;

    include!("../bindings_generated.rs");
}

pub(crate) use generated::*;
