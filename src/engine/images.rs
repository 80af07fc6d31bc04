//! agentdock's own images: listed by their label, old versions removed by `prune`.

use std::collections::HashMap;

use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};

use super::{Engine, EngineError};

/// The label every image agentdock builds carries (`agent`, `proxy`, …).
pub const IMAGE_LABEL: &str = "dev.agentdock.image";

#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: String,
    /// `repo:tag` names; empty for an old version whose tag moved on.
    pub tags: Vec<String>,
    pub size: i64,
    pub created: i64,
    /// Containers using it (-1: the engine did not say).
    pub containers: i64,
}

impl Engine {
    /// The id an image name stands for now (None: no such image): a rebuilt image has a new one.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Every image agentdock built, tagged or not.
    pub async fn agentdock_images(&self) -> Result<Vec<ImageInfo>, EngineError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![IMAGE_LABEL.to_string()]);
        let opts = ListImagesOptionsBuilder::default().all(false).filters(&filters).build();
        let list = self.docker.list_images(Some(opts)).await.map_err(|e| self.err(e))?;
        Ok(list
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                size: i.size,
                created: i.created,
                containers: i.containers,
            })
            .collect())
    }

    /// Removes an image that no container uses (the engine refuses otherwise).
    pub async fn remove_image(&self, id: &str) -> Result<(), EngineError> {
        let opts = RemoveImageOptionsBuilder::default().force(false).noprune(false).build();
        self.docker.remove_image(id, Some(opts), None).await.map(|_| ()).map_err(|e| self.err(e))
    }
}
