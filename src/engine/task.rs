//! One-shot containers (tasks): run once, signalled, waited on; the engine removes them.

use bollard::query_parameters::{CreateContainerOptionsBuilder, KillContainerOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;

use super::{Engine, EngineError};
use crate::config::BUILD_COMMAND;
use crate::domain::spec::ContainerSpec;

impl Engine {
    /// Creates and starts a one-shot container; one that does not start is removed again. The
    /// caller checks the image first ([`Engine::require_image`]), before it makes anything else.
    pub async fn run_once(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let ncpu = self.cpu_count().await;
        let id = self.create_once(spec, ncpu).await?;
        self.start_once(&id).await?;
        Ok(id)
    }

    /// The engine's CPU count, the most a container's CPU limit may be (None: it did not say).
    /// Asking takes the engine a while (tens of ms): ask ahead, beside other work.
    pub async fn cpu_count(&self) -> Option<i64> {
        self.docker.info().await.ok().and_then(|i| i.ncpu).filter(|n| *n > 0)
    }

    /// Creates a one-shot container under its name, which must be new (a name in use is a
    /// conflict, never someone else's container reused); its CPU limit capped to `ncpu`.
    pub async fn create_once(&self, spec: &ContainerSpec, ncpu: Option<i64>) -> Result<String, EngineError> {
        debug_assert!(spec.one_shot);
        let opts = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        self.before_create(spec).await?;
        let mut body = super::lifecycle::body(spec);
        if let (Some(hc), Some(n)) = (body.host_config.as_mut(), ncpu) {
            hc.nano_cpus = hc.nano_cpus.map(|c| c.min(n * 1_000_000_000));
        }
        match self.docker.create_container(Some(opts), body).await {
            Ok(created) => {
                self.after_create(spec, &created.id).await?;
                Ok(created.id)
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, message }) if message.contains("image") => {
                Err(EngineError::ImageMissing { image: spec.image.clone(), build: BUILD_COMMAND.to_string() })
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Starts a container made by [`Engine::create_once`]; one that does not start is removed.
    pub async fn start_once(&self, id: &str) -> Result<(), EngineError> {
        if let Err(e) = self.start(id).await {
            let _ = self.remove(id, true).await;
            return Err(e);
        }
        tracing::info!(id = %id, "one-shot container started");
        Ok(())
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
