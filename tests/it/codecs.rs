//! Real files converted by dcmtk and gdcm: every transfer syntax the core decodes gives the
//! same picture as the native original (byte-identical JPEGs for lossless syntaxes).

use super::support::*;
use framegate::sample;

/// An 8-bit RGB test card: three colour ramps.
fn rgb_card(cols: u16, rows: u16) -> dicom_object::InMemDicomObject {
    rgb_image(cols, rows, |c, r| [(c * 255 / cols) as u8, (r * 255 / rows) as u8, 128])
}

struct Case {
    name: &'static str,
    tool: &'static str,
    args: &'static [&'static str],
    ts: &'static str,
}

const LOSSLESS: &[Case] = &[
    Case { name: "implicit", tool: "dcmconv", args: &["+ti"], ts: "1.2.840.10008.1.2" },
    Case { name: "big-endian", tool: "dcmconv", args: &["+tb"], ts: "1.2.840.10008.1.2.2" },
    Case { name: "rle", tool: "dcmcrle", args: &[], ts: "1.2.840.10008.1.2.5" },
    Case { name: "jpeg-lossless-sv1", tool: "dcmcjpeg", args: &["+e1"], ts: "1.2.840.10008.1.2.4.70" },
    Case { name: "jpeg-lossless", tool: "dcmcjpeg", args: &["+el"], ts: "1.2.840.10008.1.2.4.57" },
    Case { name: "j2k-lossless", tool: "gdcmconv", args: &["--j2k"], ts: "1.2.840.10008.1.2.4.90" },
    Case { name: "gdcm-rle", tool: "gdcmconv", args: &["--rle"], ts: "1.2.840.10008.1.2.5" },
];

fn convert(case: &Case, input: &std::path::Path, output: &std::path::Path) {
    let mut args: Vec<&str> = case.args.to_vec();
    args.push(input.to_str().unwrap());
    args.push(output.to_str().unwrap());
    run(case.tool, &args);
}

const TOOLS: &[&str] = &["dcmconv", "dcmcrle", "dcmcjpeg", "dcmcjpls", "gdcmconv"];

#[tokio::test]
async fn lossless_syntaxes_render_exactly_like_the_native_file() {
    if !have_tools(TOOLS) {
        return;
    }
    let server = Server::start().await;
    let (slice, cine) = (server.path("src/ct.dcm"), server.path("src/cine.dcm"));
    write_ct(server.dir.path(), "src/ct.dcm", 0, 1, 64);
    sample::write(sample::cine(5, 48), &cine).unwrap();
    let native_slice = get(&server.url("src", "src/ct.dcm", "/-/frames/1.jpg")).await;
    let native_cine: Vec<_> = futures_util::future::join_all((1..=5).map(|n| get_frame(&server, "src/cine.dcm", n))).await;
    assert_eq!(native_slice.status, 200);

    for case in LOSSLESS {
        for (source, name) in [(&slice, "ct"), (&cine, "cine")] {
            let rel = format!("conv/{}-{name}.dcm", case.name);
            std::fs::create_dir_all(server.path("conv")).unwrap();
            convert(case, source, &server.path(&rel));
            let info = get(&server.url("conv", &rel, "/-/info.json")).await;
            assert_eq!(info.status, 200, "{rel}: {}", String::from_utf8_lossy(&info.body));
            assert_eq!(info.json()["transfer_syntax"]["uid"], case.ts, "{rel}");
            if name == "ct" {
                let r = get(&server.url("conv", &rel, "/-/frames/1.jpg")).await;
                assert_eq!(r.status, 200, "{rel}: {}", String::from_utf8_lossy(&r.body));
                assert_eq!(r.body, native_slice.body, "{rel} renders differently from the native file");
            } else {
                for n in [1u32, 3, 5] {
                    let r = get_frame(&server, &rel, n).await;
                    assert_eq!(r.status, 200, "{rel} frame {n}: {}", String::from_utf8_lossy(&r.body));
                    assert_eq!(r.body, native_cine[n as usize - 1].body, "{rel} frame {n}");
                }
            }
        }
    }
    server.stop().await;
}

async fn get_frame(server: &Server, rel: &str, n: u32) -> Resp {
    let dir = rel.split('/').next().unwrap();
    get(&server.url(dir, rel, &format!("/-/frames/{n}.jpg"))).await
}

#[tokio::test]
async fn baseline_jpeg_of_colour_and_grey_stays_close() {
    if !have_tools(TOOLS) {
        return;
    }
    let server = Server::start().await;
    let card = server.path("src/rgb.dcm");
    sample::write(rgb_card(96, 64), &card).unwrap();
    std::fs::create_dir_all(server.path("conv")).unwrap();
    // dcmcjpeg stores colour baseline JPEG as YBR_FULL_422.
    run("dcmcjpeg", &["+eb", card.to_str().unwrap(), server.path("conv/rgb-baseline.dcm").to_str().unwrap()]);
    let info = get(&server.url("conv", "conv/rgb-baseline.dcm", "/-/info.json")).await.json();
    assert_eq!(info["transfer_syntax"]["uid"], "1.2.840.10008.1.2.4.50");
    let native = get(&server.url("src", "src/rgb.dcm", "/-/frames/1.jpg?quality=100")).await;
    let baseline = get(&server.url("conv", "conv/rgb-baseline.dcm", "/-/frames/1.jpg?quality=100")).await;
    let (a, b) = (native.jpeg(), baseline.jpeg());
    assert_eq!((b.0, b.1), (96, 64));
    assert_eq!(a.2.len(), 96 * 64 * 3, "colour output");
    let diff = mean_abs_diff(&a.2, &b.2);
    assert!(diff < 3.0, "baseline colour differs by {diff} on average");
    // The first pixel is near (0, 0, 128), the last near (252, 251, 128).
    assert!(b.2[0] < 12 && b.2[1] < 12 && b.2[2].abs_diff(128) < 12, "{:?}", &b.2[..3]);
    server.stop().await;
}

/// JPEG-LS decodes with the jpegls feature (the fidelity suite checks its pixels); without it
/// the frame is a 415 naming the syntax and the feature.
#[cfg(not(feature = "jpegls"))]
#[tokio::test]
async fn a_syntax_this_build_cannot_decode_is_415_naming_it() {
    if !have_tools(TOOLS) {
        return;
    }
    let server = Server::start().await;
    write_ct(server.dir.path(), "src/ct.dcm", 0, 1, 32);
    std::fs::create_dir_all(server.path("conv")).unwrap();
    run("dcmcjpls", &[server.path("src/ct.dcm").to_str().unwrap(), server.path("conv/jls.dcm").to_str().unwrap()]);
    let r = get(&server.url("conv", "conv/jls.dcm", "/-/frames/1.jpg")).await;
    assert_eq!(r.status, 415);
    assert!(r.error().contains("1.2.840.10008.1.2.4.80") && r.error().contains("jpegls"), "{}", r.error());
    server.stop().await;
}
