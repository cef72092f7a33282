//! DICOM JSON (PS3.18 F.2) from a data set read by `dicom::dataset`, once the policy
//! ([`crate::deid::Policy::shown`]) has said what of it a client may see.

use base64::Engine;
use dicom_core::header::Header;
use dicom_core::value::Value as DicomValue;
use dicom_core::{PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use serde_json::{Map, Value, json};

/// Binary values longer than this are left out of the JSON and given a `BulkDataURI` instead:
/// a palette or an embedded waveform would otherwise swell every metadata answer.
pub const INLINE_BINARY_MAX: usize = 4096;

/// A tag as DICOM JSON names it: eight upper-case hex digits.
pub fn tag_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// The DICOM JSON object of `obj`. Binary values too long to inline get a `BulkDataURI` of
/// `{bulk}{tag path}`, where a nested element's path is `SEQTAG.item.TAG`.
pub fn object(obj: &InMemDicomObject, bulk: &str) -> Map<String, Value> {
    object_at(obj, bulk, "")
}

fn object_at(obj: &InMemDicomObject, bulk: &str, path: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for element in obj.iter() {
        let tag = element.tag();
        // Group lengths are encoding detail, and nothing a client needs.
        if tag.element() == 0 {
            continue;
        }
        let key = tag_key(tag);
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        out.insert(key, attribute(element.vr(), element.value(), bulk, &here));
    }
    out
}

fn attribute(vr: VR, value: &DicomValue<InMemDicomObject>, bulk: &str, path: &str) -> Value {
    let mut out = Map::new();
    out.insert("vr".into(), Value::from(vr.to_string()));
    match value {
        DicomValue::Sequence(seq) => {
            let items: Vec<Value> = seq.items().iter().enumerate().map(|(n, item)| Value::Object(object_at(item, bulk, &format!("{path}.{n}")))).collect();
            if !items.is_empty() {
                out.insert("Value".into(), Value::Array(items));
            }
        }
        // Encapsulated data nested in a sequence (an icon): named, never inlined.
        DicomValue::PixelSequence(_) => {}
        DicomValue::Primitive(PrimitiveValue::Empty) => {}
        DicomValue::Primitive(primitive) => primitive_value(vr, primitive, bulk, path, &mut out),
    }
    Value::Object(out)
}

fn primitive_value(vr: VR, value: &PrimitiveValue, bulk: &str, path: &str, out: &mut Map<String, Value>) {
    let values: Vec<Value> = match vr {
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN => {
            let bytes = value.to_bytes();
            if bytes.len() > INLINE_BINARY_MAX {
                out.insert("BulkDataURI".into(), Value::from(format!("{bulk}{path}")));
            } else {
                out.insert("InlineBinary".into(), Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)));
            }
            return;
        }
        VR::PN => strings(vr, value).into_iter().map(|name| person_name(&name)).collect(),
        VR::IS => strings(vr, value).iter().map(|s| s.trim().parse::<i64>().map_or(Value::Null, Value::from)).collect(),
        VR::DS => strings(vr, value).iter().map(|s| number(s.trim().parse::<f64>().ok())).collect(),
        VR::US | VR::UL | VR::UV => value.to_multi_int::<u64>().unwrap_or_default().into_iter().map(Value::from).collect(),
        VR::SS | VR::SL | VR::SV => value.to_multi_int::<i64>().unwrap_or_default().into_iter().map(Value::from).collect(),
        VR::FL | VR::FD => value.to_multi_float64().unwrap_or_default().into_iter().map(|v| number(Some(v))).collect(),
        VR::AT => match value {
            PrimitiveValue::Tags(list) => list.iter().map(|t| Value::from(tag_key(*t))).collect(),
            _ => Vec::new(),
        },
        _ => strings(vr, value).into_iter().map(|s| if s.is_empty() { Value::Null } else { Value::from(s) }).collect(),
    };
    if !values.is_empty() && !values.iter().all(Value::is_null) {
        out.insert("Value".into(), Value::Array(values));
    }
}

/// A JSON number, or null for what JSON cannot hold (NaN, infinities) or did not parse.
fn number(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

/// The values of a text element: split on backslashes where the VR is multi-valued, padding
/// trimmed (leading spaces are significant only in the long text VRs).
fn strings(vr: VR, value: &PrimitiveValue) -> Vec<String> {
    let single = matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR);
    let joined = value.to_multi_str().join("\\");
    let trim = |s: &str| {
        let s = s.trim_end_matches(['\0', ' ']);
        if single { s.to_owned() } else { s.trim_start().to_owned() }
    };
    if single { vec![trim(&joined)] } else { joined.split('\\').map(trim).collect() }
}

/// A person name's component groups (PS3.18 F.2.2).
fn person_name(name: &str) -> Value {
    if name.is_empty() {
        return Value::Null;
    }
    let mut out = Map::new();
    for (group, label) in name.split('=').zip(["Alphabetic", "Ideographic", "Phonetic"]) {
        if !group.is_empty() {
            out.insert(label.into(), Value::from(group));
        }
    }
    Value::Object(out)
}

/// The bytes of the binary value at `path` (`TAG` or `SEQTAG.item.TAG...`), as
/// [`object`] names it in a `BulkDataURI`.
pub fn value_at(obj: &InMemDicomObject, path: &str) -> Option<bytes::Bytes> {
    let mut parts = path.split('.');
    let mut current = obj;
    loop {
        let tag = parts.next()?;
        let n = u32::from_str_radix(tag, 16).ok().filter(|_| tag.len() == 8)?;
        let element = current.get(Tag((n >> 16) as u16, (n & 0xFFFF) as u16))?;
        match (parts.next(), element.value()) {
            (None, DicomValue::Primitive(value)) if matches!(element.vr(), VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN) => {
                return Some(bytes::Bytes::copy_from_slice(&value.to_bytes()));
            }
            (Some(item), DicomValue::Sequence(seq)) => current = seq.items().get(item.parse::<usize>().ok()?)?,
            _ => return None,
        }
    }
}

/// The first value of `key` in a DICOM JSON object, as text (numbers and names included).
pub fn first_text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    let value = obj.get(key)?.get("Value")?.get(0)?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(pn) => pn.get("Alphabetic").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// An attribute of one value, for those framegate computes (counts, modalities).
pub fn attr(vr: &str, values: Vec<Value>) -> Value {
    if values.is_empty() { json!({ "vr": vr }) } else { json!({ "vr": vr, "Value": values }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::DataElement;
    use dicom_dictionary_std::tags;

    fn el(tag: Tag, vr: VR, value: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, vr, value.into())
    }

    #[test]
    fn values_take_the_json_type_of_their_vr() {
        let obj = InMemDicomObject::from_element_iter([
            el(tags::PATIENT_NAME, VR::PN, "Doe^Jane=ド^ジ"),
            el(tags::IMAGE_POSITION_PATIENT, VR::DS, "-128\\-12.5\\ 3 "),
            el(tags::INSTANCE_NUMBER, VR::IS, "7 "),
            el(tags::ROWS, VR::US, 512u16),
            el(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3\0"),
            el(tags::FRAME_INCREMENT_POINTER, VR::AT, PrimitiveValue::from(tags::FRAME_TIME)),
            el(tags::STUDY_DESCRIPTION, VR::LO, PrimitiveValue::Empty),
            el(Tag(0x0009, 0x1001), VR::OB, vec![1u8, 2, 3, 4]),
            el(Tag(0x0009, 0x1002), VR::OB, vec![0u8; INLINE_BINARY_MAX + 2]),
        ]);
        let json = Value::Object(object(&obj, "bulk/"));
        assert_eq!(json["00100010"], json!({ "vr": "PN", "Value": [{ "Alphabetic": "Doe^Jane", "Ideographic": "ド^ジ" }] }));
        assert_eq!(json["00200032"]["Value"], json!([-128.0, -12.5, 3.0]));
        assert_eq!(json["00200013"]["Value"], json!([7]));
        assert_eq!(json["00280010"]["Value"], json!([512]));
        assert_eq!(json["00080018"]["Value"], json!(["1.2.3"]));
        assert_eq!(json["00280009"]["Value"], json!(["00181063"]));
        assert_eq!(json["00081030"], json!({ "vr": "LO" }));
        assert_eq!(json["00091001"], json!({ "vr": "OB", "InlineBinary": "AQIDBA==" }));
        assert_eq!(json["00091002"], json!({ "vr": "OB", "BulkDataURI": "bulk/00091002" }));
    }
}
