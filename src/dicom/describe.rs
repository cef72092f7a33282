//! What framegate tells the outside about a DICOM object: built from an allow-list of typed
//! fields (see [`super::attrs`]), so no patient attribute can slip in.

use serde_json::{Value, json};

use super::{Index, Layout};
use crate::render::Overlay;
use crate::render::Window;

fn window(w: &Window) -> Value {
    json!({ "center": w.center, "width": w.width, "function": w.function.name() })
}

/// A plane's geometry and where its bits are; its label and description are never read.
fn overlay(o: &Overlay) -> Value {
    json!({
        "group": format!("{:04X}", o.group),
        "rows": o.rows,
        "columns": o.columns,
        "type": o.kind.code(),
        "origin": o.origin,
        "frames": o.frames,
        "embedded": o.is_embedded(),
    })
}

/// `info.json`: what a viewer needs to show the object.
pub fn info(index: &Index) -> Value {
    let (image, pres, geo) = (&index.image, &index.presentation, &index.geometry);
    json!({
        "frames": image.frames,
        "rows": image.rows,
        "columns": image.columns,
        "samples_per_pixel": image.samples_per_pixel,
        "bits_allocated": image.bits_allocated,
        "bits_stored": image.bits_stored,
        "signed": image.signed,
        "photometric_interpretation": image.photometric,
        "transfer_syntax": { "uid": index.transfer_syntax.uid(), "name": index.transfer_syntax.name() },
        "modality": geo.modality,
        "pixel_spacing": geo.pixel_spacing,
        // "detector" where the spacing is Imager Pixel Spacing (a radiograph's, at the detector,
        // larger than in the patient by the beam's magnification; PS3.3 10.7.1.1), "patient"
        // where it is Pixel Spacing.
        "pixel_spacing_kind": geo.pixel_spacing_kind.map(super::SpacingKind::name),
        "slice_thickness": geo.slice_thickness,
        "frame_time": geo.frame_time,
        "rescale": { "slope": pres.rescale_slope, "intercept": pres.rescale_intercept },
        "window": pres.windows.first().map(window),
        "windows": pres.windows.iter().map(window).collect::<Vec<_>>(),
        // The one rule ingest refuses by, not the attribute alone, which most such objects lack.
        "burned_in_annotation": geo.burned_in().is_some(),
        "overlays": pres.overlays.iter().map(overlay).collect::<Vec<_>>(),
    })
}

/// `framegate inspect`: `info` plus where every frame is and how much header was read.
pub fn inspect(index: &Index) -> Value {
    let mut out = info(index);
    let frames: Vec<Value> = (0..index.frame_count()).filter_map(|n| index.frame_range(n)).map(|r| json!({ "offset": r.start, "length": r.end - r.start })).collect();
    out["encapsulated"] = json!(matches!(index.layout, Layout::Encapsulated { .. }));
    out["header_bytes"] = json!(index.header_bytes);
    out["high_bit"] = json!(index.image.high_bit);
    out["planar_configuration"] = json!(index.image.planar_configuration);
    out["frame_ranges"] = json!(frames);
    out
}
