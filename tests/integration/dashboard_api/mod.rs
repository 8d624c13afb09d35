//! `flashsale dashboard --api URL`: watching a server over its HTTP API alone.

mod on_a_terminal;
mod replicas;
mod samplers;
mod snapshot;
mod streamed;
