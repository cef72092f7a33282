//! Text values in the character sets their Specific Character Set names (PS3.5 6.1.2.5 and
//! Annexes H–J), decoded to Unicode the way pydicom's `decode_bytes` does, so that every reader
//! of [`super::dataset`] sees the same text whichever toolkit it is compared with.
//!
//! dicom-rs decodes with the first defined term only and strips no escape sequences: a Japanese
//! name under `['', 'ISO 2022 IR 87']` would reach a client as `\u{1b}$B;3ED\u{1b}(B`, and an
//! unknown term (ISO_IR 148) falls back to Latin-1. Here each value (and each person name
//! component group) starts in the first character set; an escape sequence switches to the
//! code extension it designates until the next escape, or, for the single-byte switches
//! pydicom strips, until the next delimiter (`^` in a name, a control character in text).

use dicom_core::VR;
use encoding_rs::Encoding;

/// The escape character that starts every ISO 2022 designation.
const ESC: u8 = 0x1B;

/// A character set as pydicom names its Python codec; two terms that map to the same codec
/// name are the same set (pydicom compares the names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// The default repertoire, which pydicom reads as Latin-1 (`iso8859`).
    Default,
    Latin1,
    ShiftJis,
    Iso2022Jp,
    /// JIS X 0212 (ISO 2022 IR 159).
    Iso2022Jp2,
    Latin2,
    Latin3,
    Latin4,
    Greek,
    Arabic,
    Hebrew,
    Cyrillic,
    Turkish,
    Thai,
    EucKr,
    /// GB 2312 as a code extension (ISO 2022 IR 58).
    IsoIr58,
    Utf8,
    Gb18030,
    Gbk,
}

impl Codec {
    /// The codec of a defined term (PS3.3 C.12.1.1.2), with pydicom's corrections of common
    /// misspellings (`ISO-IR 100`, `ISO 2022-IR 87`); an unknown term reads as the default.
    fn of(term: &str) -> Codec {
        use Codec::*;
        let term = term.trim_matches([' ', '\0']);
        let patched;
        // Only ASCII is patched: the byte offsets below then fall on characters.
        let b = term.as_bytes();
        let term = if term.is_ascii() && b.len() > 6 && b.starts_with(b"ISO") && b[3] != b'_' && &b[4..6] == b"IR" {
            patched = format!("ISO_IR{}", &term[6..]);
            patched.as_str()
        } else if term.is_ascii() && b.len() > 12 && b.starts_with(b"ISO") && &b[4..8] == b"2022" && &b[9..11] == b"IR" && !term.starts_with("ISO 2022 IR ") {
            patched = format!("ISO 2022 IR {}", &term[12..]);
            patched.as_str()
        } else {
            term
        };
        match term {
            "ISO_IR 13" | "ISO 2022 IR 13" => ShiftJis,
            "ISO 2022 IR 87" => Iso2022Jp,
            "ISO 2022 IR 159" => Iso2022Jp2,
            "ISO_IR 100" | "ISO 2022 IR 100" => Latin1,
            "ISO_IR 101" | "ISO 2022 IR 101" => Latin2,
            "ISO_IR 109" | "ISO 2022 IR 109" => Latin3,
            "ISO_IR 110" | "ISO 2022 IR 110" => Latin4,
            "ISO_IR 126" | "ISO 2022 IR 126" => Greek,
            "ISO_IR 127" | "ISO 2022 IR 127" => Arabic,
            "ISO_IR 138" | "ISO 2022 IR 138" => Hebrew,
            "ISO_IR 144" | "ISO 2022 IR 144" => Cyrillic,
            "ISO_IR 148" | "ISO 2022 IR 148" => Turkish,
            "ISO_IR 166" | "ISO 2022 IR 166" => Thai,
            "ISO 2022 IR 149" => EucKr,
            "ISO 2022 IR 58" => IsoIr58,
            "ISO_IR 192" => Utf8,
            "GB18030" => Gb18030,
            "GBK" | "ISO 2022 GBK" | "ISO 2022 58" => Gbk,
            _ => Default,
        }
    }

    /// The code extension an escape sequence designates, as pydicom's `CODES_TO_ENCODINGS`.
    fn of_escape(seq: &[u8]) -> Option<Codec> {
        use Codec::*;
        Some(match seq {
            b"\x1b(B" => Default,
            b"\x1b-A" => Latin1,
            b"\x1b)I" | b"\x1b(J" => ShiftJis,
            b"\x1b$B" => Iso2022Jp,
            b"\x1b-B" => Latin2,
            b"\x1b-C" => Latin3,
            b"\x1b-D" => Latin4,
            b"\x1b-F" => Greek,
            b"\x1b-G" => Arabic,
            b"\x1b-H" => Hebrew,
            b"\x1b-L" => Cyrillic,
            b"\x1b-M" => Turkish,
            b"\x1b-T" => Thai,
            b"\x1b$)C" => EucKr,
            b"\x1b$(D" => Iso2022Jp2,
            b"\x1b$)A" => IsoIr58,
            _ => return None,
        })
    }

    /// Codecs that read their own escape sequences (pydicom's `handled_encodings`).
    fn reads_escapes(self) -> bool {
        matches!(self, Codec::Iso2022Jp | Codec::Iso2022Jp2 | Codec::IsoIr58)
    }

    /// `bytes` in this character set; what does not decode becomes U+FFFD, as pydicom's
    /// `errors="replace"` fallback does.
    fn decode(self, bytes: &[u8]) -> String {
        use Codec::*;
        let whatwg = |encoding: &'static Encoding| encoding.decode_without_bom_handling(bytes).0.into_owned();
        match self {
            // encoding_rs reads the label "iso-8859-1" as windows-1252; Latin-1 maps each
            // byte to the code point of its value.
            Default | Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
            ShiftJis => whatwg(encoding_rs::SHIFT_JIS),
            Iso2022Jp => whatwg(encoding_rs::ISO_2022_JP),
            Iso2022Jp2 => jis_x_0212(bytes),
            Latin2 => whatwg(encoding_rs::ISO_8859_2),
            Latin3 => whatwg(encoding_rs::ISO_8859_3),
            Latin4 => whatwg(encoding_rs::ISO_8859_4),
            Greek => whatwg(encoding_rs::ISO_8859_7),
            Arabic => whatwg(encoding_rs::ISO_8859_6),
            Hebrew => whatwg(encoding_rs::ISO_8859_8),
            Cyrillic => whatwg(encoding_rs::ISO_8859_5),
            // encoding_rs has no ISO 8859-9 or TIS 620 of their own: windows-1254 and
            // windows-874 are their supersets, differing only in 0x80–0x9F, which neither uses.
            Turkish => whatwg(encoding_rs::WINDOWS_1254),
            Thai => whatwg(encoding_rs::WINDOWS_874),
            EucKr => whatwg(encoding_rs::EUC_KR),
            IsoIr58 => whatwg(encoding_rs::GBK).replace("\u{1b}$)A", ""),
            Utf8 => whatwg(encoding_rs::UTF_8),
            Gb18030 => whatwg(encoding_rs::GB18030),
            Gbk => whatwg(encoding_rs::GBK),
        }
    }
}

/// JIS X 0212 after its designation `ESC $ ( D`: encoding_rs reads it only inside EUC-JP,
/// where each 7-bit pair is prefixed by 0x8F and has its high bits set.
fn jis_x_0212(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\x1b$(D").unwrap_or(bytes);
    let mut euc = Vec::with_capacity(bytes.len() / 2 * 3);
    for pair in bytes.chunks(2) {
        match pair {
            [a, b] if *a > 0x20 && *b > 0x20 => euc.extend_from_slice(&[0x8F, a | 0x80, b | 0x80]),
            other => euc.extend_from_slice(other),
        }
    }
    encoding_rs::EUC_JP.decode_without_bom_handling(&euc).0.into_owned()
}

/// The character sets of one data set or item, from its Specific Character Set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharacterSets(Vec<Codec>);

impl Default for CharacterSets {
    fn default() -> Self {
        CharacterSets(vec![Codec::Default])
    }
}

impl CharacterSets {
    /// The sets a Specific Character Set value (backslash-separated defined terms) names.
    /// An empty first value is the default repertoire; a set that allows no code extensions
    /// (UTF-8, GB18030, GBK) drops the others, as PS3.5 6.1.2.5.4 d and pydicom do.
    pub fn from_value(value: &[u8]) -> Self {
        let text: String = value.iter().map(|&b| char::from(b)).collect();
        let terms: Vec<&str> = text.trim_end_matches(['\0', ' ']).split('\\').map(|t| t.trim_matches([' ', '\0'])).collect();
        let alone = |term: &str| matches!(term, "ISO_IR 192" | "GBK" | "GB18030");
        let mut codecs = Vec::new();
        for (n, term) in terms.iter().enumerate() {
            if n > 0 && alone(term) {
                continue;
            }
            codecs.push(Codec::of(term));
            if n == 0 && alone(term) {
                break;
            }
        }
        CharacterSets(codecs)
    }

    /// Whether `value`, of VR `vr`, reads differently here than as ASCII (or as the UTF-8 it
    /// already is), and so must be decoded.
    pub fn needs_decoding(&self, vr: VR, value: &[u8]) -> bool {
        uses_character_set(vr) && self.0 != [Codec::Utf8] && value.iter().any(|&b| b >= 0x80 || b == ESC)
    }

    /// The text of a value of VR `vr`: each of its values (split on backslashes where the VR
    /// is multi-valued) and each person name component group decoded on its own, as pydicom's
    /// `convert_text`, `convert_PN` and `_decode_personname` do.
    pub fn decode(&self, vr: VR, value: &[u8]) -> String {
        let each_value = |value: &[u8]| match vr {
            VR::PN => value.split(|&b| b == b'=').map(|group| self.decode_bytes(group, b"^")).collect::<Vec<_>>().join("="),
            _ => self.decode_bytes(value, &[0x0D, 0x0A, 0x09, 0x0C]),
        };
        match vr {
            VR::ST | VR::LT | VR::UT => each_value(value),
            _ => value.split(|&b| b == b'\\').map(each_value).collect::<Vec<_>>().join("\\"),
        }
    }

    /// pydicom's `decode_bytes`: the part before the first escape in the first set, then each
    /// part from an escape in the set it designates.
    fn decode_bytes(&self, value: &[u8], delimiters: &[u8]) -> String {
        let first = self.0[0];
        let mut out = String::new();
        let mut start = 0;
        while start < value.len() {
            let end = value[start + 1..].iter().position(|&b| b == ESC).map_or(value.len(), |i| start + 1 + i);
            let fragment = &value[start..end];
            if fragment[0] == ESC {
                out.push_str(&self.escaped_fragment(fragment, delimiters));
            } else {
                out.push_str(&first.decode(fragment));
            }
            start = end;
        }
        out
    }

    /// pydicom's `_decode_escaped_fragment`.
    fn escaped_fragment(&self, fragment: &[u8], delimiters: &[u8]) -> String {
        let first = self.0[0];
        let long = fragment.starts_with(b"\x1b$(") || fragment.starts_with(b"\x1b$)");
        let seq_len = if long { 4 } else { 3 }.min(fragment.len());
        match Codec::of_escape(&fragment[..seq_len]) {
            Some(codec) if self.0.contains(&codec) || codec == Codec::Default => {
                if codec.reads_escapes() {
                    return codec.decode(fragment);
                }
                let rest = &fragment[seq_len..];
                // A delimiter returns to the first set (PS3.5 6.1.2.5.3).
                match rest.iter().position(|b| delimiters.contains(b)) {
                    Some(i) => codec.decode(&rest[..i]) + &first.decode(&rest[i..]),
                    None => codec.decode(rest),
                }
            }
            _ => first.decode(fragment),
        }
    }
}

/// The VRs whose values are in the Specific Character Set (PS3.5 6.1.2.3); the others are
/// in the default repertoire.
pub fn uses_character_set(vr: VR) -> bool {
    matches!(vr, VR::SH | VR::LO | VR::ST | VR::PN | VR::LT | VR::UC | VR::UT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(value: &str) -> CharacterSets {
        CharacterSets::from_value(value.as_bytes())
    }

    // Expected strings computed once with pydicom 3.0.2:
    // `pydicom.charset.decode_element` on a DataElement of the same bytes and character sets.

    #[test]
    fn japanese_code_extensions_switch_per_component_group() {
        // chrH31.dcm's Patient's Name.
        let name = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
        assert_eq!(sets("\\ISO 2022 IR 87").decode(VR::PN, name), "Yamada^Tarou=山田^太郎=やまだ^たろう");
    }

    #[test]
    fn half_width_katakana_is_read_as_the_first_set() {
        // chrH32.dcm's first component group.
        let name = b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J";
        assert_eq!(sets("ISO 2022 IR 13\\ISO 2022 IR 87").decode(VR::PN, name), "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎");
    }

    #[test]
    fn korean_single_byte_switch_ends_at_a_delimiter() {
        // chrI2.dcm's Patient's Name.
        let name = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
        assert_eq!(sets("\\ISO 2022 IR 149").decode(VR::PN, name), "Hong^Gildong=洪^吉洞=홍^길동");
    }

    #[test]
    fn latin1_with_greek_code_extension() {
        // pydicom: decode_bytes(b'Dionysios=\x1b-F\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2',
        //   ['latin_1', 'iso_ir_126'], {0x5e}) == 'Dionysios=Διονυσιος'
        let name = b"Dionysios=\x1b-F\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2";
        assert_eq!(sets("ISO 2022 IR 100\\ISO 2022 IR 126").decode(VR::PN, name), "Dionysios=Διονυσιος");
    }

    #[test]
    fn turkish_is_not_latin1() {
        // pydicom: b'\xdeim\xdeek^\xd0\xfcl\xfe\xfdn'.decode('iso_ir_148') == 'ŞimŞek^Ğülşın'
        assert_eq!(sets("ISO_IR 148").decode(VR::PN, b"\xdeim\xdeek^\xd0\xfcl\xfe\xfdn"), "ŞimŞek^Ğülşın");
    }

    #[test]
    fn values_split_before_decoding_and_utf8_alone_drops_extensions() {
        assert_eq!(sets("ISO_IR 100").decode(VR::LO, b"J\xe9r\xf4me\\Ren\xe9"), "Jérôme\\René");
        assert_eq!(sets("ISO_IR 100").decode(VR::LT, b"a\\\xe9"), "a\\é");
        assert_eq!(sets("ISO_IR 192\\ISO 2022 IR 87"), sets("ISO_IR 192"));
        assert!(!sets("ISO_IR 192").needs_decoding(VR::PN, "王".as_bytes()));
        assert!(!sets("ISO_IR 100").needs_decoding(VR::CS, b"\xe9"));
        assert!(sets("").needs_decoding(VR::LO, b"\x1b$B"));
        // pydicom's corrections of misspelt terms; a term that is not ASCII is no term.
        assert_eq!(sets("ISO-IR 100"), sets("ISO_IR 100"));
        assert_eq!(sets("ISO 2022-IR 87"), sets("ISO 2022 IR 87"));
        assert_eq!(CharacterSets::from_value(b"ISO\xe9IR\xe9\xe9 2022\xe9IR 1"), sets(""));
    }
}
