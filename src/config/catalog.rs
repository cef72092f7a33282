//! What `framegate catalog` reads and writes: a folder, or a bucket prefix.

use std::path::PathBuf;
use std::sync::Arc;

use super::{CatalogArgs, ConfigErrors, s3_url};
use crate::key::ObjectKey;
use crate::store::Store;
use crate::store::fs::FsStore;
use crate::store::s3::S3Options;

/// The studies to catalog, not yet opened.
#[derive(Debug, Clone)]
pub enum CatalogTarget {
    /// Every top-level folder of a local folder.
    Folder(PathBuf),
    /// Everything under a prefix of a bucket.
    S3 {
        /// The bucket, with no prefix of its own.
        options: S3Options,
        /// The prefix catalogued.
        prefix: ObjectKey,
    },
}

impl CatalogArgs {
    /// The target these arguments name, or what is wrong with it.
    pub fn plan(&self) -> Result<CatalogTarget, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let target = errors.take(self.target());
        errors.finish(|| target)
    }

    fn target(&self) -> Result<CatalogTarget, String> {
        match s3_url(&self.target) {
            Some(url) => {
                let (bucket, prefix) = url?;
                let prefix =
                    ObjectKey::parse_plain(prefix.trim_matches('/')).map_err(|_| format!("{:?}: catalog needs a prefix of valid key segments (s3://bucket/prefix)", self.target))?;
                Ok(CatalogTarget::S3 { options: self.s3.ingest_options_for(&bucket, ""), prefix })
            }
            None => {
                let path = PathBuf::from(&self.target);
                if !path.is_dir() {
                    return Err(format!("{:?} is not a folder", self.target));
                }
                Ok(CatalogTarget::Folder(path))
            }
        }
    }
}

impl CatalogTarget {
    /// The store opened and checked, and the prefixes under it to catalog: the S3 prefix, or a
    /// folder's top-level folders (a store key cannot be empty).
    pub async fn open(&self) -> Result<(Arc<dyn Store>, Vec<ObjectKey>), String> {
        match self {
            CatalogTarget::S3 { options, prefix } => Ok((super::ingest::s3_store(options).await?, vec![prefix.clone()])),
            CatalogTarget::Folder(path) => {
                let store = FsStore::new(path).map_err(|e| format!("{path:?}: {e}"))?;
                let mut roots = Vec::new();
                for entry in std::fs::read_dir(path).map_err(|e| format!("{path:?}: {e}"))? {
                    let entry = entry.map_err(|e| format!("{path:?}: {e}"))?;
                    let name = entry.file_name().into_string().ok().filter(|_| entry.file_type().is_ok_and(|t| t.is_dir()));
                    roots.extend(name.and_then(|name| ObjectKey::from_segments(vec![name]).ok()));
                }
                roots.sort_by_key(ObjectKey::as_str);
                Ok((Arc::new(store), roots))
            }
        }
    }
}
