//! Where uploaded files live and how they are checked: the [`FileStore`]
//! (a directory under `data_dir`, or S3-compatible object storage shared by
//! every instance) and [`links`] (signed, expiring download links); pictures
//! are checked by the `concord-pictures` crate (decoding under limits,
//! thumbnails, metadata stripped).

pub mod links;

use std::sync::Arc;

use bytes::Bytes;
use concord_common::AttachmentId;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::{FileStoreSettings, Settings};
pub use links::{AttachmentLinks, LinkFault, Variant};

/// The bytes of uploaded files, by attachment id.
#[derive(Clone, Debug)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
}

impl FileStore {
    /// The store `settings.file_store` names; a directory is created if missing.
    pub fn open(settings: &Settings) -> Result<Self, String> {
        let store: Arc<dyn ObjectStore> = match &settings.file_store {
            FileStoreSettings::Local { path } => {
                let dir = path.clone().unwrap_or_else(|| settings.data_dir.join("uploads"));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create the upload directory {}: {e}", dir.display()))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| format!("cannot use the upload directory {}: {e}", dir.display()))?;
                Arc::new(local)
            }
            FileStoreSettings::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                Arc::new(builder.build().map_err(|e| format!("invalid file_store settings for S3: {e}"))?)
            }
        };
        Ok(Self { store })
    }

    fn path(id: AttachmentId, variant: Variant) -> Path {
        match variant {
            Variant::File => Path::from(format!("attachments/{id}")),
            Variant::Thumbnail => Path::from(format!("attachments/{id}.thumbnail")),
        }
    }

    /// Stores `bytes` as `variant` of `id` (whole or not at all).
    pub async fn put(
        &self,
        id: AttachmentId,
        variant: Variant,
        bytes: Vec<u8>,
    ) -> Result<(), object_store::Error> {
        self.store.put(&Self::path(id, variant), PutPayload::from(bytes)).await.map(|_| ())
    }

    /// The bytes of `variant` of `id`; `Ok(None)` when there are none.
    pub async fn get(
        &self,
        id: AttachmentId,
        variant: Variant,
    ) -> Result<Option<Bytes>, object_store::Error> {
        match self.store.get(&Self::path(id, variant)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the file and thumbnail of `id` (missing ones are no error).
    pub async fn remove(&self, id: AttachmentId) -> Result<(), object_store::Error> {
        for variant in [Variant::File, Variant::Thumbnail] {
            match self.store.delete(&Self::path(id, variant)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
