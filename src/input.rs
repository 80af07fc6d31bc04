//! Terminal input on a thread of its own, which can be paused: while attached to a container,
//! stdin belongs to the attach pump and must not be read here. (crossterm's async stream
//! cannot be paused without losing a key, so this polls with a short timeout instead.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::mpsc;

pub struct Input {
    pub events: mpsc::UnboundedReceiver<std::io::Result<Event>>,
    paused: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Input {
    pub fn start() -> Input {
        let (tx, events) = mpsc::unbounded_channel();
        let paused = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, i, s) = (paused.clone(), idle.clone(), stop.clone());
        std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if p.load(Ordering::Acquire) {
                        i.store(true, Ordering::Release);
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    i.store(false, Ordering::Release);
                    match crossterm::event::poll(Duration::from_millis(250)) {
                        Ok(true) => {
                            if tx.send(crossterm::event::read()).is_err() {
                                break;
                            }
                        }
                        Ok(false) => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .expect("input thread");
        Input { events, paused, idle, stop }
    }

    /// Stops reading the terminal; returns once the thread no longer reads.
    pub fn pause(&self) {
        self.idle.store(false, Ordering::Release);
        self.paused.store(true, Ordering::Release);
        for _ in 0..100 {
            if self.idle.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }

    /// Drops every key typed but not yet handled: what was typed around an attach was meant
    /// for the session (or for nothing), never for the dashboard (a `d` then a `y` would remove
    /// a project). Call it paused: it empties the terminal's own input queue too.
    pub fn discard_pending(&mut self) {
        let _ = rustix::termios::tcflush(std::io::stdin(), rustix::termios::QueueSelector::IFlush);
        // crossterm parses a whole read at once and keeps the events after the first in a queue
        // of its own: "ady" typed in one go leaves d and y there, which would reach the
        // dashboard after the detach. Empty that queue too (bounded: a paste is one event).
        for _ in 0..4096 {
            match crossterm::event::poll(Duration::ZERO) {
                Ok(true) => {
                    let _ = crossterm::event::read();
                }
                _ => break,
            }
        }
        while self.events.try_recv().is_ok() {}
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
