//! The credential broker: the one place that holds the user's model credential. `server` is
//! the broker itself (`agentdock broker serve`, run in its container); `store` is its state dir,
//! shared by the broker and the agentdock that keeps it (capabilities issued and revoked, usage
//! and refusals read back).

pub mod server;
pub mod store;
