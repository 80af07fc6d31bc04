//! Named volumes: the agent config of a project on another machine's engine lives in one
//! there (its host dirs are not this host's).

use std::collections::{BTreeMap, HashMap};

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::RemoveVolumeOptions;

use super::{Engine, EngineError};

impl Engine {
    /// Makes volume `name` with `labels` unless it is there (the engine gives back the one of
    /// that name).
    pub async fn ensure_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), EngineError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
            ..Default::default()
        };
        self.docker.create_volume(req).await.map(|_| ()).map_err(|e| self.err(e))
    }

    /// Removes volume `name`; false when there was none.
    pub async fn remove_volume(&self, name: &str) -> Result<bool, EngineError> {
        match self.docker.remove_volume(name, None::<RemoveVolumeOptions>).await.map_err(|e| self.err(e)) {
            Ok(()) => Ok(true),
            Err(EngineError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
