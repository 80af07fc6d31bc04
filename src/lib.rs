//! agentdock: long-running Docker containers for projects, where coding agents work while a
//! developer watches and steers them from the keyboard.
#![forbid(unsafe_code)]

pub mod agent_config;
pub mod agent_status;
pub mod app;
pub mod attach;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod engine;
pub mod gitstate;
pub mod history;
pub mod input;
pub mod keymap;
pub mod lock;
pub mod ops;
pub mod logging;
pub mod paths;
pub mod tasks;
pub mod tui;
pub mod ui;
pub mod untrusted;
pub mod worker;
