//! Stacks: the ordered frames of a series folder, a multi-frame object, or a folder of JPEG or
//! PNG images, as one manifest a viewer scrolls through. Pure: the HTTP layer gathers members.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::dicom::Index;
use crate::key::ObjectKey;
use crate::render::Window;

/// Frames at most in one manifest; a prefix holding more is split by the caller.
pub const MAX_ENTRIES: usize = 50_000;

/// One object of a stack.
#[derive(Debug, Clone)]
pub enum Member {
    /// A DICOM object, single- or multi-frame.
    Dicom {
        /// Its key.
        key: ObjectKey,
        /// Its index.
        index: Arc<Index>,
    },
    /// A JPEG or PNG image.
    Image {
        /// Its key.
        key: ObjectKey,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

impl Member {
    fn key(&self) -> &ObjectKey {
        match self {
            Member::Dicom { key, .. } | Member::Image { key, .. } => key,
        }
    }
}

/// Unit normal of the slice plane from Image Orientation (Patient): row × column.
fn normal(orientation: &[f64; 6]) -> Option<[f64; 3]> {
    let (r, c) = (&orientation[..3], &orientation[3..]);
    let n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    (len > 1e-6).then(|| [n[0] / len, n[1] / len, n[2] / len])
}

/// Distance of a slice along `normal`.
fn position(index: &Index, normal: Option<[f64; 3]>) -> Option<f64> {
    let (p, n) = (index.geometry.image_position?, normal?);
    // + 0.0 turns a -0.0 (a zero coordinate times a negative cosine) into the 0 a viewer expects.
    Some(p[0] * n[0] + p[1] * n[1] + p[2] * n[2] + 0.0)
}

fn natural(a: &ObjectKey, b: &ObjectKey) -> Ordering {
    natord::compare(&a.as_str(), &b.as_str())
}

fn window(w: &Window) -> Value {
    json!({ "center": w.center, "width": w.width, "function": w.function.name() })
}

/// The URL of `key`'s `rest` relative to the manifest of `base` (at `{base}/-/stack.json`).
fn relative(base: &ObjectKey, key: &ObjectKey, rest: &str) -> String {
    if key == base {
        // The manifest sits at `{key}/-/stack.json`: operations are beside it, the object two up.
        return match rest.strip_prefix("/-/") {
            Some(op) => op.to_owned(),
            None => format!("../../{}{rest}", ObjectKey::from_segments(vec![key.name().to_owned()]).map(|k| k.to_url_path()).unwrap_or_default()),
        };
    }
    let tail = ObjectKey::from_segments(key.segments()[base.depth()..].to_vec())
        .map(|k| k.to_url_path())
        .unwrap_or_default();
    format!("../{tail}{rest}")
}

/// Builds `stack.json` for `base` (a prefix or one object) from its members.
///
/// Single-frame DICOM files are ordered along the slice normal by Image Position (Patient),
/// from the highest position down (head first for axial slices), falling back to Instance
/// Number, then to the name; multi-frame objects follow, frame by frame; then JPEG and PNG
/// images in natural order (img2 before img10).
pub fn manifest(base: &ObjectKey, mut members: Vec<Member>) -> Value {
    members.sort_by(|a, b| natural(a.key(), b.key()));
    let (mut singles, mut multis, mut images) = (Vec::new(), Vec::new(), Vec::new());
    for member in members {
        match &member {
            Member::Dicom { index, .. } if index.frame_count() == 1 => singles.push(member),
            Member::Dicom { .. } => multis.push(member),
            Member::Image { .. } => images.push(member),
        }
    }
    let first_index = singles.iter().chain(&multis).find_map(|m| match m {
        Member::Dicom { index, .. } => Some(index.clone()),
        Member::Image { .. } => None,
    });
    let normal = first_index.as_ref().and_then(|i| i.geometry.image_orientation.as_ref()).and_then(normal);
    let by_position = singles.iter().all(|m| matches!(m, Member::Dicom { index, .. } if position(index, normal).is_some()));
    singles.sort_by(|a, b| {
        let (Member::Dicom { index: ia, .. }, Member::Dicom { index: ib, .. }) = (a, b) else { return Ordering::Equal };
        let by_pos = if by_position {
            position(ib, normal).partial_cmp(&position(ia, normal)).unwrap_or(Ordering::Equal)
        } else {
            Ordering::Equal
        };
        by_pos.then_with(|| match (ia.geometry.instance_number, ib.geometry.instance_number) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        })
    });

    let mut entries = Vec::new();
    let mut positions = Vec::new();
    let mut burned_in = false;
    for member in singles.iter().chain(&multis).chain(&images) {
        if entries.len() >= MAX_ENTRIES {
            break;
        }
        match member {
            Member::Dicom { key, index } => {
                burned_in |= index.geometry.burned_in_annotation == Some(true);
                let pos = position(index, normal);
                if index.frame_count() == 1 {
                    positions.extend(pos);
                }
                for n in 1..=index.frame_count().min((MAX_ENTRIES - entries.len()) as u32) {
                    entries.push(json!({
                        "url": relative(base, key, &format!("/-/frames/{n}.jpg")),
                        "rows": index.image.rows,
                        "columns": index.image.columns,
                        "window": index.presentation.windows.first().map(window),
                        "position": if index.frame_count() == 1 { pos } else { None },
                    }));
                }
            }
            Member::Image { key, width, height } => {
                entries.push(json!({ "url": relative(base, key, ""), "rows": height, "columns": width, "window": null, "position": null }));
            }
        }
    }
    let spacing = (positions.len() > 1).then(|| (positions[0] - positions[positions.len() - 1]).abs() / (positions.len() - 1) as f64);
    let geometry = first_index.as_ref().map(|i| &i.geometry);
    json!({
        "frames": entries.len(),
        "modality": geometry.and_then(|g| g.modality.clone()),
        "pixel_spacing": geometry.and_then(|g| g.pixel_spacing),
        "slice_thickness": geometry.and_then(|g| g.slice_thickness),
        "spacing_between_slices": spacing,
        "frame_time": multis.first().and_then(|m| match m { Member::Dicom { index, .. } => index.geometry.frame_time, Member::Image { .. } => None }),
        "burned_in_annotation": burned_in,
        "entries": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ObjectKey {
        ObjectKey::parse_plain(s).unwrap()
    }

    #[test]
    fn relative_urls_resolve_from_the_manifest() {
        let base = key("ct/series1");
        assert_eq!(relative(&base, &key("ct/series1/a b.dcm"), "/-/frames/1.jpg"), "../a%20b.dcm/-/frames/1.jpg");
        assert_eq!(relative(&base, &key("ct/series1/sub/x.jpg"), ""), "../sub/x.jpg");
        let one = key("xa/cine.dcm");
        assert_eq!(relative(&one, &one, "/-/frames/3.jpg"), "frames/3.jpg");
        let image = key("s/img 1.jpg");
        assert_eq!(relative(&image, &image, ""), "../../img%201.jpg");
    }

    #[test]
    fn images_sort_naturally() {
        let members = ["img10.jpg", "img2.jpg", "img1.jpg"].map(|n| Member::Image { key: key(&format!("s/{n}")), width: 4, height: 3 });
        let m = manifest(&key("s"), members.to_vec());
        let urls: Vec<&str> = m["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
        assert_eq!(urls, ["../img1.jpg", "../img2.jpg", "../img10.jpg"]);
        assert_eq!(m["entries"][0]["rows"], 3);
    }

    #[test]
    fn the_normal_of_an_axial_slice_is_z() {
        assert_eq!(normal(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), Some([0.0, 0.0, 1.0]));
        assert_eq!(normal(&[0.0; 6]), None);
    }
}
