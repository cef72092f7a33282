//! ListObjectsV2 as AWS answers it: each object's ETag in the listing, and a page of 1,000 keys
//! that costs reading names, not the whole bucket. Only what is under the prefix's folder is
//! walked, names are sorted before anything is `stat`ed, and only the page's objects are.
//!
//! An ETag is what s3s-fs's HEAD gives for the same object (the one its PUT recorded, or the
//! hex MD5 of the bytes), so a listing and a HEAD always agree. The MD5 is kept by size and
//! modification time, as S3 keeps an ETag with its object, and is computed again when the file
//! changes.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use s3s::crypto::{Checksum, Md5};
use s3s::dto::{ETag, ListObjectsV2Input, ListObjectsV2Output, Object, Timestamp};

/// The most keys one page holds, as on AWS.
const PAGE: usize = 1000;

/// ETags computed from objects' bytes, by path, with the size and time they were computed for.
pub type ETags = Mutex<HashMap<PathBuf, (u64, SystemTime, String)>>;

/// What a listing reads: the server's root (buckets are its folders) and the ETags known.
pub struct Listing {
    pub root: PathBuf,
    pub etags: std::sync::Arc<ETags>,
}

impl Listing {
    /// One page of the listing `input` asks for.
    pub fn page(&self, input: &ListObjectsV2Input) -> std::io::Result<ListObjectsV2Output> {
        let bucket = self.root.join(&input.bucket);
        let prefix = input.prefix.as_deref().unwrap_or("").trim_start_matches('/');
        let start = prefix.rfind('/').map_or(bucket.clone(), |end| bucket.join(&prefix[..end]));
        let mut keys = Vec::new();
        walk(&bucket, &start, &mut keys)?;
        keys.retain(|(key, _)| key.starts_with(prefix));
        keys.sort_unstable();
        let after = match (input.continuation_token.as_deref(), input.start_after.as_deref()) {
            (Some(token), Some(start)) => Some(token.max(start)),
            (token, start) => token.or(start),
        };
        if let Some(after) = after {
            keys.retain(|(key, _)| key.as_str() > after);
        }
        let wanted = input.max_keys.and_then(|n| usize::try_from(n).ok()).unwrap_or(PAGE).min(PAGE);
        let truncated = keys.len() > wanted;
        keys.truncate(wanted);
        let mut contents = Vec::with_capacity(keys.len());
        for (key, path) in &keys {
            let meta = std::fs::metadata(path)?;
            let e_tag = self.etag(&input.bucket, key, path, &meta)?;
            contents.push(Object {
                key: Some(key.clone()),
                size: Some(meta.len() as i64),
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: meta.modified().ok().map(Timestamp::from),
                ..Default::default()
            });
        }
        Ok(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.clone(),
            max_keys: Some(wanted as i32),
            key_count: Some(contents.len() as i32),
            is_truncated: Some(truncated),
            continuation_token: input.continuation_token.clone(),
            start_after: input.start_after.clone(),
            next_continuation_token: truncated.then(|| keys.last().map(|(key, _)| key.clone())).flatten(),
            contents: Some(contents),
            ..Default::default()
        })
    }

    /// The ETag s3s-fs's HEAD gives `key`: the one its PUT recorded, or the MD5 of its bytes.
    fn etag(&self, bucket: &str, key: &str, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<String> {
        let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
        let info = self.root.join(format!(".bucket-{}.object-{}.internal.json", b64(bucket), b64(key)));
        if let Ok(bytes) = std::fs::read(&info)
            && let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes)
            && let Some(serde_json::Value::String(e_tag)) = map.get("e_tag")
        {
            return Ok(e_tag.clone());
        }
        let stamp = (meta.len(), meta.modified()?);
        if let Some((len, time, e_tag)) = self.etags.lock().unwrap().get(path)
            && (*len, *time) == stamp
        {
            return Ok(e_tag.clone());
        }
        let mut md5 = Md5::new();
        let mut file = std::fs::File::open(path)?;
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        let e_tag: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.etags.lock().unwrap().insert(path.to_owned(), (stamp.0, stamp.1, e_tag.clone()));
        Ok(e_tag)
    }
}

/// Every file under `dir` as its key in `bucket` and its path; a missing folder holds none.
fn walk(bucket: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(bucket, &path, out)?;
        } else if let Some(key) = path.strip_prefix(bucket).ok().and_then(|p| p.to_str()) {
            out.push((key.replace(std::path::MAIN_SEPARATOR, "/"), path));
        }
    }
    Ok(())
}
