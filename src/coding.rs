//! Content codings of answers: which one a client's `Accept-Encoding` chooses, and the body
//! compressed in it, once, by the answer that keeps it.

use std::io::{self, Write};

/// A content coding framegate answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
    Zstd,
}

/// Levels chosen by measured bytes and CPU on real CT and MR slices (BENCHMARKS.md, "The wire:
/// content codings"): each is the fastest level past which the bytes barely shrink.
const GZIP_LEVEL: u32 = 1;
const BROTLI_QUALITY: u32 = 3;
const BROTLI_WINDOW: u32 = 22;
const ZSTD_LEVEL: i32 = 3;

impl Coding {
    /// The codings offered, best first where a client takes several at the same weight: zstd
    /// makes the smallest answer in the least time, brotli the next, gzip the largest.
    const PREFERRED: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

    /// The coding an `Accept-Encoding` header (its values, in order) chooses, by RFC 9110
    /// §12.5.3: the highest weight wins, ties go to [`Coding::PREFERRED`], `*` stands for any
    /// coding not named, and `q=0` refuses. No header, or nothing taken: identity, which every
    /// client reads.
    pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Coding {
        let offers: Vec<(String, u16)> = values.into_iter().flat_map(|v| v.split(',')).filter_map(offer).collect();
        let weight = |name: &str| offers.iter().find(|(n, _)| n == name).or_else(|| offers.iter().find(|(n, _)| n == "*")).map_or(0, |(_, q)| *q);
        let mut best = (Coding::Identity, 0);
        for coding in Coding::PREFERRED {
            let q = weight(coding.name().unwrap_or_default());
            if q > best.1 {
                best = (coding, q);
            }
        }
        best.0
    }

    /// The `Content-Encoding` value; none for identity.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Br => Some("br"),
            Coding::Zstd => Some("zstd"),
        }
    }

    /// What an ETag carries after its digest, so that each coding of one answer is its own
    /// version in every cache: a shared cache that ignored `Vary` still could not hand brotli to
    /// a client that asked for gzip on revalidation.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => "-gz",
            Coding::Br => "-br",
            Coding::Zstd => "-zs",
        }
    }

    /// `body` in this coding. CPU work: callers run it on the render pool.
    pub fn compress(self, body: &[u8]) -> io::Result<Vec<u8>> {
        let out = Vec::with_capacity(body.len() / 2);
        match self {
            Coding::Identity => Ok(body.to_vec()),
            Coding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
                encoder.write_all(body)?;
                encoder.finish()
            }
            Coding::Br => {
                let mut out = out;
                let params = brotli::enc::BrotliEncoderParams { quality: BROTLI_QUALITY as i32, lgwin: BROTLI_WINDOW as i32, size_hint: body.len(), ..Default::default() };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params)?;
                Ok(out)
            }
            Coding::Zstd => zstd::bulk::compress(body, ZSTD_LEVEL),
        }
    }
}

/// One coding of an `Accept-Encoding` list and its weight in thousandths; `None` when it is
/// empty or its weight is not a weight.
fn offer(item: &str) -> Option<(String, u16)> {
    let mut parts = item.split(';');
    let name = parts.next()?.trim().to_ascii_lowercase();
    if name.is_empty() {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let (key, value) = param.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("q") {
            q = weight(value.trim())?;
        }
    }
    Some((name, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(header: &str) -> Coding {
        Coding::choose([header])
    }

    #[test]
    fn accept_encoding_chooses_by_weight_then_by_what_compresses_best() {
        assert_eq!(chosen("gzip, deflate, br, zstd"), Coding::Zstd, "Chromium's header");
        assert_eq!(chosen("gzip, deflate, br"), Coding::Br);
        assert_eq!(chosen("gzip"), Coding::Gzip);
        assert_eq!(chosen(""), Coding::Identity);
        assert_eq!(Coding::choose([]), Coding::Identity);
        assert_eq!(chosen("deflate, compress"), Coding::Identity, "codings not made here");
        assert_eq!(chosen("zstd;q=0.5, gzip;q=0.8, br;q=0.2"), Coding::Gzip);
        assert_eq!(chosen("ZSTD;Q=0.9, br"), Coding::Br, "names and q are case-insensitive");
        assert_eq!(chosen("gzip;q=1.0, zstd;q=0.999"), Coding::Gzip);
        assert_eq!(chosen("zstd;q=0, br;q=0, gzip"), Coding::Gzip, "q=0 refuses");
        assert_eq!(chosen("gzip;q=0.000"), Coding::Identity);
        assert_eq!(chosen("*"), Coding::Zstd);
        assert_eq!(chosen("*;q=0.5, zstd;q=0, br;q=0.2"), Coding::Gzip, "* weighs what is not named");
        assert_eq!(chosen("gzip;q=2, br;q=0.1234, zstd;q=x"), Coding::Identity, "weights that are not weights are ignored");
        assert_eq!(Coding::choose(["gzip;q=0.5", "br"]), Coding::Br, "several header lines are one list");
        assert_eq!(chosen(" gzip ; q=0.7 ,br;q=0.6"), Coding::Gzip);
    }

    #[test]
    fn every_coding_gives_back_the_body() {
        use std::io::Read;
        let body: Vec<u8> = (0..200_000u32).flat_map(|i| ((i % 700) as u16).to_le_bytes()).collect();
        for coding in [Coding::Identity, Coding::Gzip, Coding::Br, Coding::Zstd] {
            let packed = coding.compress(&body).unwrap();
            let mut back = Vec::new();
            match coding {
                Coding::Identity => back = packed.clone(),
                Coding::Gzip => drop(flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back).unwrap()),
                Coding::Br => drop(brotli::Decompressor::new(&packed[..], 4096).read_to_end(&mut back).unwrap()),
                Coding::Zstd => back = zstd::decode_all(&packed[..]).unwrap(),
            }
            assert_eq!(back, body, "{coding:?}");
            if coding != Coding::Identity {
                assert!(packed.len() < body.len() / 4, "{coding:?}: {} bytes", packed.len());
            }
        }
    }
}
