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

    /// An image's id and the value of its label `label` (None: no such image).
    pub async fn image_id_and_label(&self, image: &str, label: &str) -> Result<Option<(String, Option<String>)>, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some((i.id.unwrap_or_default(), i.config.and_then(|c| c.labels).and_then(|l| l.get(label).cloned())))),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Removes an image that no container uses (the engine refuses otherwise).
    pub async fn remove_image(&self, id: &str) -> Result<(), EngineError> {
        let opts = RemoveImageOptionsBuilder::default().force(false).noprune(false).build();
        self.docker.remove_image(id, Some(opts), None).await.map(|_| ()).map_err(|e| self.err(e))
    }
}

/// Where the agent image records the versions it was built with (node, npm, Claude Code).
pub const VERSIONS_FILE: &str = "/usr/local/share/agentdock/versions";

impl Engine {
    /// What `image` says it was built with ([`VERSIONS_FILE`]), read from a container made for
    /// it and never started, then removed; None when the image has no such file. The text is
    /// the image's: read bounded, control characters stripped.
    pub async fn image_versions(&self, image: &str) -> Result<Option<String>, EngineError> {
        use bollard::models::ContainerCreateBody;
        use bollard::query_parameters::CreateContainerOptionsBuilder;
        use futures_util::StreamExt;
        let name = format!("agentdock-probe-{}-{}", std::process::id(), crate::domain::container::now_unix());
        let labels = HashMap::from([(crate::domain::container::labels::ROLE.to_string(), "probe".to_string())]);
        let body = ContainerCreateBody { image: Some(image.to_string()), labels: Some(labels), network_disabled: Some(true), cmd: Some(vec!["true".into()]), ..Default::default() };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = self.docker.create_container(Some(opts), body).await.map_err(|e| self.err(e))?.id;
        let mut tar = Vec::new();
        let mut read: Result<(), EngineError> = Ok(());
        let mut stream = Box::pin(self.archive(&id, VERSIONS_FILE));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) if tar.len() + b.len() <= 64 * 1024 => tar.extend_from_slice(&b),
                Ok(_) => break,
                Err(e) => {
                    read = Err(e);
                    break;
                }
            }
        }
        drop(stream);
        let _ = self.remove(&id, true).await;
        match read {
            Err(EngineError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        Ok(first_file(&tar).map(|text| text.lines().map(|l| crate::domain::text::strip(l).trim().to_string()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(", ")))
    }
}

/// The first regular file of a tar archive, up to 4 KiB of it, as text.
fn first_file(tar: &[u8]) -> Option<String> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    let mut entry = archive.entries().ok()?.flatten().find(|e| e.header().entry_type().is_file())?;
    let mut text = String::new();
    (&mut entry).take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}
