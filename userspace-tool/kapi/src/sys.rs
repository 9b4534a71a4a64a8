//! The few system calls the kernel API needs beside netlink: interface
//! names and socket buffer sizes.

pub mod dev;
pub mod sockbuf;
