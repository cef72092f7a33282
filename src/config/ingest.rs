//! Where `ingest` reads and writes: its arguments resolved into sources, a destination and the
//! S3 options of each, with every error found at once, before anything is read or written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{ConfigErrors, IngestArgs, S3Args, s3_url};
use crate::ingest::{Destination, Source};
use crate::key::ObjectKey;
use crate::store::Store;
use crate::store::fs::FsStore;
use crate::store::s3::{S3Options, S3Store};

/// The least time each request of an ingest's S3 stores gets. An ingest sends 8 MiB parts,
/// which a slow uplink takes longer over than serving's short attempts allow.
pub const INGEST_S3_TIMEOUT: Duration = Duration::from_secs(120);

/// One source, not yet opened.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// A local file or folder, known to exist.
    Local(PathBuf),
    /// Every object under `prefix` of a bucket.
    S3 {
        /// The bucket (its options' prefix is empty: `prefix` is read through the store).
        options: S3Options,
        /// The prefix whose objects are read.
        prefix: ObjectKey,
    },
}

/// The destination, not yet opened.
#[derive(Debug, Clone)]
pub enum DestinationSpec {
    /// A local folder, made when opened.
    Folder(PathBuf),
    /// A bucket, with the prefix every object goes under.
    S3(S3Options),
}

/// `ingest`'s arguments, read and checked.
#[derive(Debug)]
pub struct IngestPlan {
    /// What is read, in the order given.
    pub sources: Vec<SourceSpec>,
    /// Where the de-identified objects go.
    pub destination: DestinationSpec,
    /// How the manifest names the destination.
    pub label: String,
    /// The secret UID pseudonyms are keyed by.
    pub pseudonym_secret: Vec<u8>,
    /// De-identification, limits, jobs and shard.
    pub options: crate::ingest::Options,
}

impl S3Args {
    /// Options for an ingest's bucket: these flags', with each request given `--s3-timeout`
    /// or [`INGEST_S3_TIMEOUT`], whichever is longer, and one attempt the whole of it.
    pub fn ingest_options_for(&self, bucket: &str, prefix: &str) -> S3Options {
        let mut options = self.options_for(bucket, prefix);
        options.timeout = options.timeout.max(INGEST_S3_TIMEOUT);
        options.attempt_timeout = options.timeout;
        options
    }
}

impl IngestArgs {
    /// The sources, destination and secret these arguments describe, or everything wrong with
    /// them.
    pub fn plan(&self) -> Result<IngestPlan, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let sources: Vec<SourceSpec> = self.sources.iter().filter_map(|text| errors.take(self.source(text))).collect();
        let destination = errors.take(self.destination());
        let pseudonym_secret = errors.take(self.pseudonym_secret());
        errors.finish(|| {
            let (destination, label) = destination?;
            Some(IngestPlan { sources, destination, label, pseudonym_secret: pseudonym_secret?, options: self.options() })
        })
    }

    fn source(&self, text: &str) -> Result<SourceSpec, String> {
        match s3_url(text) {
            Some(url) => {
                let (bucket, prefix) = url?;
                let prefix = ObjectKey::parse_plain(&prefix).map_err(|_| format!("{text:?}: an S3 source needs a prefix of valid key segments (s3://bucket/prefix)"))?;
                Ok(SourceSpec::S3 { options: self.s3.ingest_options_for(&bucket, ""), prefix })
            }
            None => {
                let path = PathBuf::from(text);
                std::fs::metadata(&path).map_err(|e| format!("source {text:?}: {e}"))?;
                Ok(SourceSpec::Local(path))
            }
        }
    }

    fn destination(&self) -> Result<(DestinationSpec, String), String> {
        match self.to.as_deref() {
            Some(to) => match s3_url(to) {
                Some(url) => {
                    let (bucket, prefix) = url?;
                    Ok((DestinationSpec::S3(self.s3.ingest_options_for(&bucket, &prefix)), to.to_owned()))
                }
                None => Ok((DestinationSpec::Folder(PathBuf::from(to)), to.to_owned())),
            },
            None => {
                let options = self.s3.options().ok_or("ingest needs --to (a folder or s3://bucket/prefix), or --s3-bucket")?;
                let label = format!("s3://{}/{}", options.bucket, options.prefix.trim_matches('/'));
                Ok((DestinationSpec::S3(self.s3.ingest_options_for(&options.bucket, &options.prefix)), label))
            }
        }
    }
}

impl IngestPlan {
    /// The stores opened and checked, every one that fails named.
    pub async fn open(&self) -> Result<(Vec<Source>, Destination), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let mut sources = Vec::new();
        for spec in &self.sources {
            let source = match spec {
                SourceSpec::Local(path) => Some(Source::Local(path.clone())),
                SourceSpec::S3 { options, prefix } => errors.take(s3_store(options).await).map(|store| Source::Store { store, prefix: prefix.clone() }),
            };
            sources.extend(source);
        }
        let store = errors.take(match &self.destination {
            DestinationSpec::S3(options) => s3_store(options).await,
            DestinationSpec::Folder(path) => folder_store(path),
        });
        errors.finish(|| Some((sources, Destination { store: store?, prefix: Vec::new(), label: self.label.clone() })))
    }
}

pub(super) async fn s3_store(options: &S3Options) -> Result<Arc<dyn Store>, String> {
    let store = S3Store::connect(options).await;
    store.check().await.map_err(|e| format!("s3 bucket {:?}: {e}", options.bucket))?;
    Ok(Arc::new(store))
}

fn folder_store(path: &std::path::Path) -> Result<Arc<dyn Store>, String> {
    std::fs::create_dir_all(path).map_err(|e| format!("destination {path:?}: {e}"))?;
    Ok(Arc::new(FsStore::new(path).map_err(|e| format!("destination {path:?}: {e}"))?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::{DestinationSpec, INGEST_S3_TIMEOUT, SourceSpec};
    use crate::config::{Cli, Command, IngestArgs};

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn ingest(args: &[&str]) -> IngestArgs {
        let Command::Ingest(ingest) = Cli::try_parse_from(["framegate", "ingest"].iter().chain(args)).unwrap().command else { unreachable!("ingest was parsed") };
        ingest
    }

    #[test]
    fn every_bad_source_and_the_missing_destination_and_secret_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().to_str().unwrap();
        let missing = dir.path().join("nowhere");
        let errors = ingest(&[here, missing.to_str().unwrap(), "s3:///studies", "s3://bucket/ct/-/x"]).plan().err().unwrap();
        let text = errors.to_string();
        assert!(text.starts_with("5 configuration errors: "), "{text}");
        assert!(errors.messages()[0].starts_with(&format!("source {:?}: ", missing.to_str().unwrap())), "{text}");
        assert_eq!(
            errors.messages()[1..],
            [
                "\"s3:///studies\" names no bucket",
                "\"s3://bucket/ct/-/x\": an S3 source needs a prefix of valid key segments (s3://bucket/prefix)",
                "ingest needs --to (a folder or s3://bucket/prefix), or --s3-bucket",
                "ingest needs --pseudonym-key or --keys-file: the pseudonyms must be the ones serve uses",
            ]
        );
    }

    #[test]
    fn sources_and_a_bucket_destination_resolve_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().to_str().unwrap();
        let plan = ingest(&[here, "s3://identified/ct/2024/", "--to", "s3://clean/out/", "--pseudonym-key", KEY, "--jobs", "3"]).plan().unwrap();
        assert!(matches!(&plan.sources[0], SourceSpec::Local(p) if p == dir.path()));
        let SourceSpec::S3 { options, prefix } = &plan.sources[1] else { panic!("an S3 source: {:?}", plan.sources) };
        assert_eq!((options.bucket.as_str(), options.prefix.as_str(), prefix.as_str().as_str()), ("identified", "", "ct/2024"));
        let DestinationSpec::S3(options) = &plan.destination else { panic!("an S3 destination: {:?}", plan.destination) };
        assert_eq!((options.bucket.as_str(), options.prefix.as_str()), ("clean", "out"));
        assert_eq!(plan.label, "s3://clean/out/");
        assert_eq!(plan.pseudonym_secret.len(), 32);
        assert_eq!(plan.options.jobs, 3);
    }

    #[test]
    fn without_to_the_serving_bucket_is_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let plan = ingest(&[dir.path().to_str().unwrap(), "--s3-bucket", "serving", "--s3-prefix", "/studies/", "--pseudonym-key", KEY]).plan().unwrap();
        let DestinationSpec::S3(options) = &plan.destination else { panic!("an S3 destination: {:?}", plan.destination) };
        assert_eq!((options.bucket.as_str(), options.prefix.as_str()), ("serving", "/studies/"));
        assert_eq!(plan.label, "s3://serving/studies");
    }

    /// An ingest's 8 MiB parts on a slow uplink outlast serving's five-second attempts.
    #[test]
    fn ingest_requests_get_two_minutes_at_least_in_one_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().to_str().unwrap();
        let plan = ingest(&[here, "s3://in/x", "--to", "s3://out/y", "--pseudonym-key", KEY]).plan().unwrap();
        let (SourceSpec::S3 { options: from, .. }, DestinationSpec::S3(to)) = (&plan.sources[1], &plan.destination) else { panic!("S3 both ends") };
        for options in [from, to] {
            assert_eq!((options.timeout, options.attempt_timeout), (INGEST_S3_TIMEOUT, INGEST_S3_TIMEOUT));
        }
        let plan = ingest(&[here, "--to", "s3://out/y", "--s3-timeout", "600", "--pseudonym-key", KEY]).plan().unwrap();
        let DestinationSpec::S3(to) = &plan.destination else { panic!("an S3 destination") };
        assert_eq!((to.timeout, to.attempt_timeout), (Duration::from_secs(600), Duration::from_secs(600)));
    }

    #[tokio::test]
    async fn a_folder_destination_is_made_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("out/clean");
        let plan = ingest(&[dir.path().to_str().unwrap(), "--to", to.to_str().unwrap(), "--pseudonym-key", KEY]).plan().unwrap();
        assert!(matches!(&plan.destination, DestinationSpec::Folder(p) if *p == to));
        let (sources, destination) = plan.open().await.unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(destination.label, to.to_str().unwrap());
        assert!(to.is_dir());
    }

    #[tokio::test]
    async fn a_destination_that_cannot_be_made_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let to = file.join("below");
        let plan = ingest(&[dir.path().to_str().unwrap(), "--to", to.to_str().unwrap(), "--pseudonym-key", KEY]).plan().unwrap();
        let errors = plan.open().await.err().unwrap();
        assert!(errors.to_string().starts_with(&format!("destination {to:?}: ")), "{errors}");
    }
}
