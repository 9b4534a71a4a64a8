//! The membership protocol: the state machine ([`node`]), its messages on
//! the wire ([`wire`]), and a deterministic simulation of whole clusters
//! over a lossy, delaying, partitioning network (tests, with turmoil).

pub(crate) mod node;
mod wire;

#[cfg(test)]
mod sim;
