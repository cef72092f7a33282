//! One JPEG or PNG image of a stack: read whole (images are small, and bounded), its metadata
//! removed without re-encoding, and put under its stack's folder at its position.

use std::io::Read;

use super::manifest::{Kind, Refusal};
use super::{Job, Object, Place};

/// Ingests the image `reader` holds (`size` bytes).
pub(super) fn ingest(job: &Job, place: &Place, reader: &mut dyn Read, size: u64, png: bool) {
    let kind = if png { Kind::Png } else { Kind::Jpeg };
    let fail = |reason: String| job.manifest.refuse(place, kind, size, Refusal::Fail(reason));
    let max = job.options.limits.max_image_bytes;
    if size > max {
        return fail(format!("an image larger than {} MiB: not ingested", max >> 20));
    }
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(max + 1).read_to_end(&mut bytes) {
        return fail(super::io_reason(&e));
    }
    if bytes.len() as u64 > max {
        return fail(format!("an image larger than {} MiB: not ingested", max >> 20));
    }
    let cleaned = match crate::deid::image::strip(&bytes) {
        Ok(cleaned) => cleaned,
        Err(e) => return fail(format!("not a valid image: {e}")),
    };
    // A stack is the images of one folder of the source, named by a keyed hash of the names and
    // sizes in that folder (and of the archive holding it), so that a second ingest of the same
    // source lands on the same keys.
    let stack = job.pseudonyms.uid(&format!("fg-stack|{}", place.folder));
    let name = format!("{:05}.{}", place.position, if png { "png" } else { "jpg" });
    let key = match job.key([stack, name]) {
        Ok(key) => key,
        Err(reason) => return fail(reason),
    };
    // Two folders of one run with the same names and sizes (a CD holding a copy of itself)
    // would otherwise write one stack twice over.
    let object = Object {
        key,
        place,
        kind,
        source_bytes: size,
        instance: None,
        head: &cleaned,
        size: Some(cleaned.len() as u64),
        duplicate: "the same place in the same stack as an earlier image (a copied folder?): not copied twice",
        conflict: "another image is already stored at this place in its stack: not replaced",
    };
    job.write(object, |_| Ok(()));
}
