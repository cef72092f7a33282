//! Stacks: the ordered frames of a series folder, a multi-frame object, or a folder of JPEG or
//! PNG images, as one manifest a viewer scrolls through. Pure: the HTTP layer gathers members.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::dicom::Index;
use crate::key::ObjectKey;
use crate::reformat::{Grid, Plane, plane_name};
use crate::render::Window;
use crate::store::ObjectMeta;

/// Frames at most in one manifest; a prefix holding more is split by the caller.
pub const MAX_ENTRIES: usize = 50_000;

/// One object of a stack.
#[derive(Debug, Clone)]
pub enum Member {
    /// A DICOM object, single- or multi-frame.
    Dicom {
        /// Its key.
        key: ObjectKey,
        /// Its version.
        meta: ObjectMeta,
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
    along(index.geometry().image_position, normal)
}

/// Distance of a plane at `position` along `normal`.
fn along(position: Option<[f64; 3]>, normal: Option<[f64; 3]>) -> Option<f64> {
    let (p, n) = (position?, normal?);
    // + 0.0 turns a -0.0 (a zero coordinate times a negative cosine) into the 0 a viewer expects.
    Some(p[0] * n[0] + p[1] * n[1] + p[2] * n[2] + 0.0)
}

/// Frame `n`'s (from 1) distance along its own normal, or the series' where it states no
/// orientation: an enhanced object's frames each have their plane (PS3.3 C.7.6.16.2.3).
fn frame_position(index: &Index, n: u32, series_normal: Option<[f64; 3]>) -> Option<f64> {
    let plane = index.geometry().frame_planes.get(n as usize - 1)?;
    along(plane.position, plane.orientation.as_ref().and_then(normal).or(series_normal))
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
    let tail = ObjectKey::from_segments(key.segments()[base.depth()..].to_vec()).map(|k| k.to_url_path()).unwrap_or_default();
    format!("../{tail}{rest}")
}

/// What tells the series under one prefix apart: the folder they sit in (relative to the
/// prefix), DICOM before plain images, Series Number, then Series Instance UID, as two series
/// of one number can share a folder. The UID is compared, never written into the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeriesKey {
    folder: String,
    images: bool,
    number: Option<i32>,
    uid: Option<String>,
}

fn series_key(base: &ObjectKey, member: &Member) -> SeriesKey {
    let segments = member.key().segments();
    let folder = segments.get(base.depth().min(segments.len())..segments.len().saturating_sub(1)).unwrap_or_default().join("/");
    match member {
        Member::Dicom { index, .. } => SeriesKey { folder, images: false, number: index.geometry().series_number, uid: index.geometry().series_uid.clone() },
        Member::Image { .. } => SeriesKey { folder, images: true, number: None, uid: None },
    }
}

/// Orders one series: single-frame objects along the slice normal, multi-frame objects, images.
fn order(members: Vec<Member>) -> Vec<Member> {
    let (mut singles, mut multis, mut images) = (Vec::new(), Vec::new(), Vec::new());
    for member in members {
        match &member {
            Member::Dicom { index, .. } if index.frame_count() == 1 => singles.push(member),
            Member::Dicom { .. } => multis.push(member),
            Member::Image { .. } => images.push(member),
        }
    }
    let normal = first_dicom(&singles).or_else(|| first_dicom(&multis)).and_then(|i| i.geometry().image_orientation.as_ref()).and_then(normal);
    let by_position = singles.iter().all(|m| matches!(m, Member::Dicom { index, .. } if position(index, normal).is_some()));
    singles.sort_by(|a, b| {
        let (Member::Dicom { index: ia, .. }, Member::Dicom { index: ib, .. }) = (a, b) else { return Ordering::Equal };
        let by_pos = if by_position { position(ib, normal).partial_cmp(&position(ia, normal)).unwrap_or(Ordering::Equal) } else { Ordering::Equal };
        by_pos.then_with(|| match (ia.geometry().instance_number, ib.geometry().instance_number) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        })
    });
    singles.into_iter().chain(multis).chain(images).collect()
}

fn first_dicom(members: &[Member]) -> Option<&Arc<Index>> {
    members.iter().find_map(|m| match m {
        Member::Dicom { index, .. } => Some(index),
        Member::Image { .. } => None,
    })
}

/// Builds `stack.json` for `base` (a prefix or one object) from its members.
///
/// Members are grouped into series (see [`SeriesKey`]); within a series, single-frame DICOM
/// files are ordered along the slice normal by Image Position (Patient), from the highest
/// position down (head first for axial slices), falling back to Instance Number, then to the
/// name; multi-frame objects follow, frame by frame; then JPEG and PNG images in natural order
/// (img2 before img10). `entries` holds every series' frames, one series after another, and
/// `series` says where each begins; the top-level attributes are the first series'.
/// `describe` is the privacy policy's answer for a series' description: what it returns is
/// all that leaves of it.
pub fn manifest(base: &ObjectKey, members: Vec<Member>, describe: &dyn Fn(&str) -> Option<String>) -> Value {
    let groups = groups(base, members);
    let folders: Vec<String> = groups.iter().map(|(k, _)| k.folder.clone()).collect();
    let mut entries = Vec::new();
    let mut series = Vec::new();
    for (key, group) in groups {
        if entries.len() >= MAX_ENTRIES {
            break;
        }
        let first = entries.len();
        // A reformat takes every object under a folder: offered only where they are this series.
        let alone = folders.iter().filter(|f| **f == key.folder || key.folder.is_empty() || f.starts_with(&format!("{}/", key.folder))).count() == 1;
        let planes = if alone { planes(&reformat_base(base, &key.folder), &group) } else { None };
        let description = first_dicom(&group).and_then(|i| i.geometry().series_description.as_deref()).and_then(describe);
        let mut summary = series_entries(base, group, &mut entries);
        summary["description"] = json!(description);
        summary["first"] = json!(first);
        summary["frames"] = json!(entries.len() - first);
        summary["folder"] = json!(key.folder);
        summary["number"] = json!(key.number);
        summary["planes"] = json!(planes);
        series.push(summary);
    }
    let first = series.first().cloned().unwrap_or_else(|| json!({}));
    let burned_in = series.iter().any(|s| s["burned_in_annotation"] == true);
    json!({
        "frames": entries.len(),
        "modality": first["modality"],
        "pixel_spacing": first["pixel_spacing"],
        "slice_thickness": first["slice_thickness"],
        "spacing_between_slices": first["spacing_between_slices"],
        "frame_time": first["frame_time"],
        "burned_in_annotation": burned_in,
        "series": series,
        "entries": entries,
    })
}

/// The series under `base`, each ordered as a viewer scrolls it: what a reformat of a
/// series' folder is cut from.
pub fn series(base: &ObjectKey, members: Vec<Member>) -> Vec<Vec<Member>> {
    groups(base, members).into_iter().map(|(_, group)| group).collect()
}

/// The members grouped into series (see [`SeriesKey`]), the series in folder order, each
/// ordered by [`order`].
fn groups(base: &ObjectKey, mut members: Vec<Member>) -> Vec<(SeriesKey, Vec<Member>)> {
    members.sort_by(|a, b| natural(a.key(), b.key()));
    let mut groups: Vec<(SeriesKey, Vec<Member>)> = Vec::new();
    for member in members {
        let key = series_key(base, &member);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(member),
            None => groups.push((key, vec![member])),
        }
    }
    groups.sort_by(|(a, _), (b, _)| natord::compare(&a.folder, &b.folder).then(a.images.cmp(&b.images)).then(a.number.cmp(&b.number)));
    groups.into_iter().map(|(key, group)| (key, order(group))).collect()
}

/// Where the reformat route of the series in `folder` (relative to `base`) sits, relative to
/// the manifest at `{base}/-/stack.json`.
fn reformat_base(base: &ObjectKey, folder: &str) -> String {
    if folder.is_empty() {
        return String::new();
    }
    let mut segments = base.segments().to_vec();
    segments.extend(folder.split('/').map(str::to_owned));
    let tail = ObjectKey::from_segments(segments[base.depth()..].to_vec()).map(|k| k.to_url_path()).unwrap_or_default();
    format!("../{tail}/-/")
}

/// The planes a viewer may show a series in, when its slices can be reformatted: its own
/// slices' plane first (`url` null: the entries are its images), then each reformat, with
/// where its images lie in the patient (`origin` of image 1's top left pixel, `step` from one
/// image to the next, `row` and `column` directions), for orientation letters, the scale bar
/// and reference lines. `url` holds `{n}` for the image number.
fn planes(url_base: &str, members: &[Member]) -> Option<Value> {
    let indexes: Vec<Arc<Index>> = members
        .iter()
        .map(|m| match m {
            Member::Dicom { index, .. } => Some(index.clone()),
            Member::Image { .. } => None,
        })
        .collect::<Option<_>>()?;
    let grid = Grid::of(&indexes).ok()?;
    let normal = grid.normal();
    let mut planes = vec![json!({
        "name": plane_name(normal),
        "url": null,
        "frames": grid.slices,
        "rows": grid.format.rows,
        "columns": grid.format.columns,
        "pixel_spacing": [grid.row_spacing, grid.column_spacing],
        "origin": grid.origin,
        "step": grid.step,
        "row": grid.row_dir,
        "column": grid.column_dir,
    })];
    for plane in [Plane::Axial, Plane::Coronal, Plane::Sagittal, Plane::Oblique(OBLIQUE_OFFERED)] {
        let Ok(view) = grid.view(plane) else { continue };
        planes.push(json!({
            "name": plane.name(),
            "url": format!("{url_base}reformat/{}/{{n}}.jpg", plane.name()),
            "frames": view.frames,
            "rows": view.rows,
            "columns": view.columns,
            "pixel_spacing": [view.spacing, view.spacing],
            "origin": view.origin,
            "step": view.step,
            "row": view.row_dir,
            "column": view.column_dir,
        }));
    }
    Some(json!(planes))
}

/// The oblique plane a manifest offers: halfway between the two the slices' rows and columns
/// give. Any other angle is a URL away.
const OBLIQUE_OFFERED: u16 = 45;

/// Appends one ordered series' frames to `entries` and describes the series.
fn series_entries(base: &ObjectKey, members: Vec<Member>, entries: &mut Vec<Value>) -> Value {
    let first_index = first_dicom(&members).cloned();
    let normal = first_index.as_ref().and_then(|i| i.geometry().image_orientation.as_ref()).and_then(normal);
    let mut positions = Vec::new();
    let mut burned_in = false;
    let mut frame_time = None;
    for member in &members {
        if entries.len() >= MAX_ENTRIES {
            break;
        }
        match member {
            Member::Dicom { key, index, .. } => {
                burned_in |= index.geometry().burned_in().is_some();
                let pos = position(index, normal);
                if index.frame_count() == 1 {
                    positions.extend(pos);
                } else if frame_time.is_none() {
                    frame_time = index.geometry().frame_time;
                }
                for n in 1..=index.frame_count().min((MAX_ENTRIES - entries.len()) as u32) {
                    let mut entry = json!({
                        "url": relative(base, key, &format!("/-/frames/{n}.jpg")),
                        "rows": index.image().rows,
                        "columns": index.image().columns,
                        "window": index.presentation().windows.first().map(window),
                        "position": if index.frame_count() == 1 { pos } else { frame_position(index, n, normal) },
                    });
                    // An enhanced object's frames may lie in different planes (an MR localizer's three).
                    if let Some(plane) = index.geometry().frame_planes.get(n as usize - 1) {
                        entry["orientation"] = json!(plane.orientation);
                    }
                    entries.push(entry);
                }
            }
            Member::Image { key, width, height } => {
                entries.push(json!({ "url": relative(base, key, ""), "rows": height, "columns": width, "window": null, "position": null }));
            }
        }
    }
    let spacing = (positions.len() > 1).then(|| (positions[0] - positions[positions.len() - 1]).abs() / (positions.len() - 1) as f64);
    let index = first_index.as_deref();
    let geometry = index.map(|i| i.geometry());
    json!({
        "modality": geometry.and_then(|g| g.modality.clone()),
        "dicom": index.is_some(),
        // Window/level does nothing to colour: a viewer hides it.
        "color": index.is_some_and(|i| i.image().samples_per_pixel == 3 || i.image().photometric == "PALETTE COLOR"),
        "orientation": geometry.and_then(|g| g.image_orientation),
        "pixel_spacing": geometry.and_then(|g| g.pixel_spacing),
        "region_spacing": geometry.and_then(|g| g.region_spacing),
        "slice_thickness": geometry.and_then(|g| g.slice_thickness),
        "spacing_between_slices": spacing,
        "frame_time": frame_time,
        "burned_in_annotation": burned_in,
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
        let m = manifest(&key("s"), members.to_vec(), &|_| None);
        let urls: Vec<&str> = m["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
        assert_eq!(urls, ["../img1.jpg", "../img2.jpg", "../img10.jpg"]);
        assert_eq!(m["entries"][0]["rows"], 3);
    }

    #[test]
    fn series_are_the_folders_under_the_prefix_each_ordered_on_its_own() {
        let members = ["study/b/img2.jpg", "study/a/img10.jpg", "study/b/img1.jpg", "study/a/img9.jpg", "study/top.png"].map(|k| Member::Image { key: key(k), width: 4, height: 3 });
        let m = manifest(&key("study"), members.to_vec(), &|_| None);
        let urls: Vec<&str> = m["entries"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
        assert_eq!(urls, ["../top.png", "../a/img9.jpg", "../a/img10.jpg", "../b/img1.jpg", "../b/img2.jpg"]);
        let series: Vec<(String, u64, u64)> =
            m["series"].as_array().unwrap().iter().map(|s| (s["folder"].as_str().unwrap().to_owned(), s["first"].as_u64().unwrap(), s["frames"].as_u64().unwrap())).collect();
        assert_eq!(series, [("".to_owned(), 0, 1), ("a".to_owned(), 1, 2), ("b".to_owned(), 3, 2)]);
        assert_eq!(m["series"][0]["dicom"], false);
    }

    #[test]
    fn the_normal_of_an_axial_slice_is_z() {
        assert_eq!(normal(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), Some([0.0, 0.0, 1.0]));
        assert_eq!(normal(&[0.0; 6]), None);
    }
}
