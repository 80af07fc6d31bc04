//! The domain: projects, container specs, health policy, stats maths, output buffers.
//! Pure code without I/O to the engine; each part is unit-tested on its own.

pub mod agent;
pub mod broker;
pub mod container;
pub mod cpath;
pub mod engines;
pub mod fleet;
pub mod gitstate;
pub mod network;
pub mod notify;
pub mod onboarding;
pub mod output;
pub mod policy;
pub mod project;
pub mod settings;
pub mod spec;
pub mod stats;
pub mod steer;
pub mod suggest;
pub mod pricing;
pub mod task;
pub mod transcript;
pub mod text;
