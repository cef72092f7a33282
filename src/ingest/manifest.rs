//! What an ingest did: studies and series by their pseudonymous UIDs, stacks by their keys,
//! and each file left out with the reason. It names no file (paths can hold names) and holds no
//! value from a header: a source's files are told by their position in it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Options;
use crate::key::ObjectKey;

/// Where an entry is, without its name: source `source` (counted from 0 in the order given),
/// its `item`-th file in natural order of paths, and for an archive its `entry`-th file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The source, counted from 0.
    pub source: usize,
    /// The file within the source, in natural order of paths, from 0.
    pub item: usize,
    /// The entry within an archive, in natural order of paths, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    /// The file name's extension, lower case, when it is a common one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// A hash of the entry's folder (the names and sizes in it), which names its image stack.
    #[serde(skip)]
    pub folder: String,
    /// Its position among the files of its folder, from 1.
    #[serde(skip)]
    pub position: usize,
    /// A hash of its path, which decides the shard that takes it.
    #[serde(skip)]
    pub shard: u64,
}

/// What kind of file an entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dicom,
    Jpeg,
    Png,
    Zip,
    Other,
}

/// A file left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Where it is.
    #[serde(flatten)]
    pub place: Place,
    /// What it is.
    pub kind: Kind,
    /// Its size.
    pub bytes: u64,
    /// Why it was left out.
    pub reason: String,
}

/// One series written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// Its pseudonymous Series Instance UID.
    pub series: String,
    /// The key prefix its instances are under.
    pub key: String,
    /// Its modality.
    pub modality: Option<String>,
    /// Instances stored (written or already there).
    pub instances: u64,
    /// Frames in those instances.
    pub frames: u64,
    /// Instances uploaded by this run.
    pub written: u64,
    /// Instances found already stored with the same content.
    pub unchanged: u64,
    /// Instances stored although their pixels may show burned-in text (`--burned-in keep`).
    pub burned_in: u64,
}

/// One study written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Study {
    /// Its pseudonymous Study Instance UID.
    pub study: String,
    /// The key prefix its series are under: a token of this scope opens the study.
    pub key: String,
    /// Its series.
    pub series: Vec<Series>,
}

/// One stack of images written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The key prefix of its images.
    pub key: String,
    /// Images stored.
    pub images: u64,
    /// Images uploaded by this run.
    pub written: u64,
    /// Images found already stored.
    pub unchanged: u64,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Objects uploaded.
    pub written: u64,
    /// Objects already stored with the same content.
    pub unchanged: u64,
    /// Files left out by rule (not images, burned-in annotation, links).
    pub skipped: u64,
    /// Files that could not be ingested (damaged, hostile, or a failed write).
    pub failed: u64,
    /// Bytes of the source files taken in.
    pub bytes_read: u64,
    /// Bytes stored.
    pub bytes_written: u64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Where the objects went.
    pub destination: String,
    /// The de-identification applied: the Basic Profile and any options.
    pub profile: Vec<String>,
    /// Studies, by pseudonymous UID.
    pub studies: Vec<Study>,
    /// Image stacks.
    pub stacks: Vec<Stack>,
    /// Files left out by rule.
    pub skipped: Vec<Note>,
    /// Files that could not be ingested.
    pub failed: Vec<Note>,
    /// Counts.
    pub totals: Totals,
}

impl Manifest {
    /// One paragraph for a terminal or a log.
    pub fn summary(&self) -> String {
        let series: usize = self.studies.iter().map(|s| s.series.len()).sum();
        let instances: u64 = self.studies.iter().flat_map(|s| &s.series).map(|s| s.instances).sum();
        let images: u64 = self.stacks.iter().map(|s| s.images).sum();
        let t = &self.totals;
        format!(
            "{} studies, {series} series, {instances} instances, {} stacks of {images} images into {}: {} written ({:.1} MiB), {} already there, {} skipped, {} failed",
            self.studies.len(),
            self.stacks.len(),
            self.destination,
            t.written,
            t.bytes_written as f64 / 1048576.0,
            t.unchanged,
            t.skipped,
            t.failed,
        )
    }
}

/// Why an entry is left out: by rule, or because it could not be read.
pub(super) enum Refusal {
    Skip(String),
    Fail(String),
}

/// What the manifest needs to know of one instance.
pub(super) struct Instance {
    pub study: String,
    pub series: String,
    pub modality: Option<String>,
    pub frames: u32,
    pub burned_in: bool,
}

/// Gathers outcomes from the reader and from the uploads.
pub(super) struct Builder {
    state: Mutex<Gathered>,
}

struct Gathered {
    manifest: Manifest,
    studies: BTreeMap<String, (String, BTreeMap<String, Series>)>,
    stacks: BTreeMap<String, Stack>,
}

impl Builder {
    pub fn new(destination: String, options: &Options) -> Self {
        // The methods each object's header records, in the same words.
        let profile = options.deid.methods().iter().map(|m| m.meaning.to_owned()).collect();
        let manifest = Manifest { destination, profile, studies: Vec::new(), stacks: Vec::new(), skipped: Vec::new(), failed: Vec::new(), totals: Totals::default() };
        Builder { state: Mutex::new(Gathered { manifest, studies: BTreeMap::new(), stacks: BTreeMap::new() }) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Gathered) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// An entry left out.
    pub fn refuse(&self, place: &Place, kind: Kind, bytes: u64, refusal: Refusal) {
        self.with(|g| {
            let (list, count, reason) = match refusal {
                Refusal::Skip(reason) => (&mut g.manifest.skipped, &mut g.manifest.totals.skipped, reason),
                Refusal::Fail(reason) => (&mut g.manifest.failed, &mut g.manifest.totals.failed, reason),
            };
            *count += 1;
            list.push(Note { place: place.clone(), kind, bytes, reason });
        });
    }

    /// An object already stored with the same content: an instance of its series, or (without
    /// one) an image of its stack.
    pub fn unchanged(&self, bytes: u64, key: &ObjectKey, instance: Option<Instance>) {
        self.with(|g| {
            g.manifest.totals.unchanged += 1;
            g.manifest.totals.bytes_read += bytes;
            match &instance {
                Some(instance) => g.series(key, instance).unchanged += 1,
                None => g.stack(key).unchanged += 1,
            }
        });
    }

    /// An upload ended: `written` bytes, or why not.
    pub fn written(&self, place: &Place, kind: Kind, bytes: u64, key: &ObjectKey, instance: Option<Instance>, result: Result<u64, String>) {
        match result {
            Ok(written) => self.with(|g| {
                g.manifest.totals.written += 1;
                g.manifest.totals.bytes_read += bytes;
                g.manifest.totals.bytes_written += written;
                match &instance {
                    Some(instance) => g.series(key, instance).written += 1,
                    None => g.stack(key).written += 1,
                }
            }),
            Err(reason) => self.refuse(place, kind, bytes, Refusal::Fail(reason)),
        }
    }

    /// The manifest, studies and stacks in key order.
    pub fn finish(&self) -> Manifest {
        self.with(|g| {
            let mut manifest = g.manifest.clone();
            manifest.studies = g
                .studies
                .iter()
                .map(|(study, (key, series))| Study {
                    study: study.clone(),
                    key: key.clone(),
                    series: series.values().map(|s| Series { instances: s.written + s.unchanged, ..s.clone() }).collect(),
                })
                .collect();
            manifest.stacks = g.stacks.values().map(|s| Stack { images: s.written + s.unchanged, ..s.clone() }).collect();
            manifest
        })
    }
}

impl Gathered {
    /// The series an instance stored at `key` (`…/study/series/instance.dcm`) belongs to.
    fn series(&mut self, key: &ObjectKey, instance: &Instance) -> &mut Series {
        let depth = key.depth();
        let (study_key, series_key) = (key.prefix(depth - 2).unwrap_or_default(), key.prefix(depth - 1).unwrap_or_default());
        let (_, series) = self.studies.entry(instance.study.clone()).or_insert_with(|| (study_key, BTreeMap::new()));
        let entry = series.entry(instance.series.clone()).or_insert_with(|| Series {
            series: instance.series.clone(),
            key: series_key,
            modality: instance.modality.clone(),
            ..Series::default()
        });
        entry.frames += u64::from(instance.frames);
        entry.burned_in += u64::from(instance.burned_in);
        entry
    }

    /// The stack an image stored at `key` belongs to.
    fn stack(&mut self, key: &ObjectKey) -> &mut Stack {
        let stack_key = key.prefix(key.depth() - 1).unwrap_or_default();
        self.stacks.entry(stack_key.clone()).or_insert_with(|| Stack { key: stack_key, ..Stack::default() })
    }
}
