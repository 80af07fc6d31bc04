//! One-shot containers (tasks): run once, signalled, waited on; the engine removes them.

use bollard::query_parameters::{KillContainerOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;

use super::{Engine, EngineError};
use crate::domain::spec::ContainerSpec;

impl Engine {
    /// Creates and starts a one-shot container; one that does not start is removed again. The
    /// caller checks the image first ([`Engine::require_image`]), before it makes anything else.
    pub async fn run_once(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        debug_assert!(spec.one_shot);
        let id = self.create_named(spec, None).await?;
        if let Err(e) = self.start(&id).await {
            let _ = self.remove(&id, true).await;
            return Err(e);
        }
        tracing::info!(container = %spec.name, id = %id, "one-shot container started");
        Ok(id)
    }

    /// Sends `signal` (e.g. "TERM") to the container's main process; a container that is gone
    /// or no longer running is no error.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), EngineError> {
        let opts = KillContainerOptionsBuilder::default().signal(signal).build();
        match self.docker.kill_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Waits until the container is no longer running: its exit code, or None when it was
    /// already gone (a one-shot container removes itself).
    pub async fn wait_exit(&self, id: &str) -> Result<Option<i64>, EngineError> {
        let opts = WaitContainerOptionsBuilder::default().condition("not-running").build();
        let mut s = self.docker.wait_container(id, Some(opts));
        match s.next().await {
            Some(Ok(r)) => Ok(Some(r.status_code)),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
            Some(Err(e)) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
            None => Ok(None),
        }
    }
}
