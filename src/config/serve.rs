//! What `serve` needs before it binds: its keys, its store and its settings, with every error
//! found at once.

use std::path::PathBuf;
use std::sync::Arc;

use super::{ConfigErrors, ServeArgs};
use crate::Settings;
use crate::store::Store;
use crate::store::fs::FsStore;
use crate::store::s3::{S3Options, S3Store};
use crate::token::Keyring;

/// Where a server reads its objects from.
#[derive(Debug, Clone)]
pub enum StoreSpec {
    /// A local folder.
    Folder(PathBuf),
    /// An S3 bucket and prefix.
    S3(S3Options),
}

/// `serve`'s arguments, read and checked.
pub struct ServePlan {
    /// Keys that verify tokens.
    pub keys: Keyring,
    /// Where objects are read from, not yet opened.
    pub store: StoreSpec,
    /// Everything else the server is told.
    pub settings: Settings,
}

impl ServeArgs {
    /// The keys, store and settings these flags describe, or everything wrong with them.
    pub fn plan(&self) -> Result<ServePlan, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let keys = errors.take(Keyring::load(&self.keys_file));
        let store = errors.take(self.store_spec());
        let settings = errors.take_all(self.tuning.settings());
        errors.finish(|| Some(ServePlan { keys: keys?, store: store?, settings: settings? }))
    }

    fn store_spec(&self) -> Result<StoreSpec, String> {
        if let Some(options) = self.s3.options() {
            return Ok(StoreSpec::S3(options));
        }
        self.root.clone().map(StoreSpec::Folder).ok_or_else(|| "either --root or --s3-bucket is needed".to_owned())
    }
}

impl StoreSpec {
    /// The store, checked to answer: a bucket that cannot be read stops the start, not the
    /// first request.
    pub async fn open(&self) -> Result<Arc<dyn Store>, String> {
        match self {
            StoreSpec::S3(options) => {
                let store = S3Store::connect(options).await;
                store.check().await.map_err(|e| format!("s3 bucket {:?}: {e}", options.bucket))?;
                Ok(Arc::new(store))
            }
            StoreSpec::Folder(root) => Ok(Arc::new(FsStore::new(root).map_err(|e| format!("store root {root:?}: {e}"))?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::StoreSpec;
    use crate::config::{Cli, Command, ConfigErrors, ServeArgs};

    fn serve(flags: &[&str]) -> ServeArgs {
        let Command::Serve(serve) = Cli::try_parse_from(["framegate", "serve"].iter().chain(flags)).unwrap().command else { unreachable!("serve was parsed") };
        serve
    }

    fn keys_file(dir: &std::path::Path) -> String {
        let path = dir.join("keys");
        std::fs::write(&path, "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n").unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn every_bad_value_is_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-keys");
        let flags = [
            "--root",
            "r",
            "--keys-file",
            missing.to_str().unwrap(),
            "--trusted-proxy",
            "10.0.0.0/8,nonsense,10.1.2.3/99",
            "--frame-ancestors",
            "https://a.example; script-src *,'unsafe-inline'",
            "--pseudonym-key",
            "c2hvcnQ",
        ];
        let errors: ConfigErrors = serve(&flags).plan().err().unwrap();
        let text = errors.to_string();
        assert!(text.starts_with("6 configuration errors: "), "{text}");
        for expected in [
            "cannot read keys file",
            "trusted proxy \"nonsense\" is not an address or network",
            "trusted proxy \"10.1.2.3/99\" is not an address or network",
            "frame ancestor \"https://a.example; script-src *\" is not 'self', 'none', * or an origin",
            "frame ancestor \"'unsafe-inline'\" is not 'self', 'none', * or an origin",
            "pseudonym key is 5 bytes, at least 32 are needed",
        ] {
            assert!(errors.messages().iter().any(|m| m.contains(expected)), "{expected:?} missing from {text}");
        }
    }

    #[test]
    fn none_combined_with_another_ancestor_is_named_beside_other_errors() {
        let dir = tempfile::tempdir().unwrap();
        let flags = ["--root", "r", "--keys-file", &keys_file(dir.path()), "--frame-ancestors", "'none',https://a.example", "--trusted-proxy", "x"];
        let errors = serve(&flags).plan().err().unwrap();
        assert_eq!(errors.messages(), ["trusted proxy \"x\" is not an address or network", "frame ancestor 'none' cannot be combined with others"]);
    }

    #[test]
    fn a_good_configuration_gives_keys_a_folder_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let plan = serve(&["--root", "objects", "--keys-file", &keys_file(dir.path()), "--max-age", "60"]).plan().unwrap();
        assert!(matches!(&plan.store, StoreSpec::Folder(root) if root.as_os_str() == "objects"), "{:?}", plan.store);
        assert_eq!(plan.settings.max_age, 60);
    }

    #[test]
    fn serving_from_s3_keeps_short_attempts_within_the_request_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_file(dir.path());
        let plan = serve(&["--s3-bucket", "scans", "--s3-prefix", "studies/", "--keys-file", &keys]).plan().unwrap();
        let StoreSpec::S3(options) = plan.store else { panic!("an S3 store") };
        assert_eq!((options.bucket.as_str(), options.prefix.as_str()), ("scans", "studies/"));
        assert_eq!((options.timeout, options.attempt_timeout), (Duration::from_secs(20), Duration::from_secs(5)));
        let plan = serve(&["--s3-bucket", "scans", "--s3-timeout", "2", "--keys-file", &keys]).plan().unwrap();
        let StoreSpec::S3(options) = plan.store else { panic!("an S3 store") };
        assert_eq!((options.timeout, options.attempt_timeout), (Duration::from_secs(2), Duration::from_secs(2)));
        let plan = serve(&["--s3-bucket", "scans", "--s3-timeout", "0", "--keys-file", &keys]).plan().unwrap();
        let StoreSpec::S3(options) = plan.store else { panic!("an S3 store") };
        assert_eq!(options.timeout, Duration::from_secs(1), "a zero timeout would fail every request");
    }

    #[tokio::test]
    async fn a_missing_root_folder_is_named_when_opened() {
        let err = StoreSpec::Folder("/nonexistent/framegate-root".into()).open().await.err().unwrap();
        assert!(err.starts_with("store root \"/nonexistent/framegate-root\": "), "{err}");
    }
}
