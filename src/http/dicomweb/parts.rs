//! WADO-RS frame answers, made a part at a time: each frame is read (and decoded, when asked
//! for decoded) only when the body before it has been taken by the connection, and holds its
//! bytes against the render pool's one memory budget until then. A frame list of 64 large
//! frames costs one frame's memory, not 64, however many such requests arrive.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use http_body_util::{BodyExt, StreamBody};

use crate::cache::ObjectId;
use crate::coding::Coding;
use crate::dicom::{Index, blank_frame_metadata, decode_frame, fragments, native};
use crate::http::ApiError;
use crate::http::respond::Body;
use crate::pool::{Held, RenderPool};
use crate::store::Store;

/// One frame as its part carries it, and the memory it holds until it is sent.
pub struct Part {
    pub bytes: Bytes,
    held: Held,
}

/// What makes the frames of one instance on its own, after the handler has answered.
#[derive(Clone)]
pub struct Frames {
    pub store: Arc<dyn Store>,
    pub pool: RenderPool,
    pub object: ObjectId,
    pub index: Arc<Index>,
    /// Stored frames leave with the text of their streams blanked, as the policy says.
    pub blank: bool,
    /// As stored (native, or its fragments) rather than decoded to explicit VR little endian.
    pub stored: bool,
    /// As an HTJ2K codestream made here from the samples.
    pub htj2k: bool,
}

impl Frames {
    /// Frame `n` (0-based).
    pub async fn part(&self, n: u32) -> Result<Part, ApiError> {
        let index = &self.index;
        // What is read is held from before the read: a native frame is the part itself.
        let read_size = index.frame_range(n).map_or(0, |r| r.end - r.start);
        let reading = self.pool.hold(read_size)?;
        let raw = index.read_frame(self.store.as_ref(), &self.object.key, &self.object.meta, n).await?.ok_or_else(|| ApiError::not_found(format!("frame {} is out of range", n + 1)))?;
        if self.htj2k {
            return self.htj2k(n, raw, reading).await;
        }
        if index.frames_are_samples() {
            return Ok(Part { bytes: raw, held: reading });
        }
        let bytes = if index.is_encapsulated() && self.stored {
            let items = if self.blank { Bytes::from(blank_frame_metadata(&raw).into_owned()) } else { raw };
            Bytes::from(fragments(&items)?.concat())
        } else {
            // Big-endian native frames and compressed frames asked for decoded: the decoder's samples.
            let index = index.clone();
            // In the form the metadata states, which is the form a client reads them by.
            self.pool.run_sized(index.render_cost(raw.len() as u64), move || decode_frame(&index, n, &raw).map(|p| native::as_declared(p, index.image()))).await??
        };
        let held = self.pool.hold(bytes.len() as u64)?;
        drop(reading);
        Ok(Part { bytes, held })
    }
}

impl Frames {
    /// Frame `n` as an HTJ2K codestream, from its bytes `raw`: its samples as they are, or
    /// decoded first. The encoder holds about the samples twice over (its lines as 32-bit
    /// integers, and the codestream), counted like a decode.
    async fn htj2k(&self, n: u32, raw: Bytes, reading: Held) -> Result<Part, ApiError> {
        let index = self.index.clone();
        let cost = index.render_cost(raw.len() as u64) + index.image().pixels() * u64::from(index.image().samples_per_pixel) * 4;
        let stream = self
            .pool
            .run_sized(cost, move || {
                let pixels = if index.frames_are_samples() { index.image().frame(raw) } else { decode_frame(&index, n, &raw)? };
                crate::transcode::htj2k(&pixels).map_err(|e| ApiError::new(http::StatusCode::NOT_ACCEPTABLE, e.to_string()))
            })
            .await??;
        let held = self.pool.hold(stream.len() as u64)?;
        drop(reading);
        Ok(Part { bytes: Bytes::from(stream), held })
    }
}

/// The bytes `span` of the one part of a single-part answer, holding its memory until sent.
pub fn single(part: Part, span: std::ops::Range<u64>) -> Body {
    let bytes = part.bytes.slice(span.start as usize..span.end as usize);
    sending(stream::empty().boxed(), VecDeque::from([bytes]), Some(part.held), None)
}

/// A `multipart/related` body of `first`, already made, then `rest`, made one at a time as the
/// body is read. A frame that fails after the answer has begun ends the body short: the client
/// sees a broken transfer, never a part that is not the frame.
pub fn multipart(first: Part, rest: BoxStream<'static, Result<Part, ApiError>>, framing: Framing) -> Body {
    let queue = framing.around(first.bytes);
    sending(rest, queue, Some(first.held), Some(framing))
}

/// The whole answer of one part, framed when `framing` says so, to be kept.
pub fn whole(part: Part, framing: Option<&Framing>) -> Bytes {
    match framing {
        Some(framing) => {
            let mut chunks = framing.around(part.bytes);
            chunks.push_back(framing.closing.clone());
            Bytes::from(chunks.into_iter().flat_map(|c| c.to_vec()).collect::<Vec<u8>>())
        }
        None => part.bytes,
    }
}

/// The whole answer of one part (framed when `framing` says so), compressed in `coding`: the
/// content coding covers the whole body, framing and all. CPU work: run on the pool.
pub fn compressed(metrics: &crate::metrics::Metrics, part: Part, framing: Option<&Framing>, coding: Coding) -> Result<Bytes, ApiError> {
    super::compressed(metrics, coding, &whole(part, framing))
}

/// What stands around each part of a multipart body.
pub struct Framing {
    opening: Bytes,
    closing: Bytes,
}

impl Framing {
    /// The delimiters of a body of `boundary` whose parts are `part_type`.
    pub fn new(boundary: &str, part_type: &str) -> Self {
        Framing { opening: Bytes::from(format!("--{boundary}\r\nContent-Type: {part_type}\r\n\r\n")), closing: Bytes::from(format!("--{boundary}--\r\n")) }
    }

    fn around(&self, bytes: Bytes) -> VecDeque<Bytes> {
        VecDeque::from([self.opening.clone(), bytes, Bytes::from_static(b"\r\n")])
    }
}

/// The body that sends `queue`, then each part of `parts` (framed when `framing` says so). A
/// part's memory is given back when the connection asks for what follows it, that is once
/// hyper has taken its bytes.
fn sending(parts: BoxStream<'static, Result<Part, ApiError>>, queue: VecDeque<Bytes>, held: Option<Held>, framing: Option<Framing>) -> Body {
    struct State {
        parts: BoxStream<'static, Result<Part, ApiError>>,
        queue: VecDeque<Bytes>,
        held: Option<Held>,
        framing: Option<Framing>,
        done: bool,
    }
    let state = State { parts, queue, held, framing, done: false };
    let chunks = stream::unfold(state, |mut s| async move {
        loop {
            if let Some(chunk) = s.queue.pop_front() {
                return Some((Ok(hyper::body::Frame::data(chunk)), s));
            }
            s.held = None;
            if s.done {
                return None;
            }
            match s.parts.next().await {
                Some(Ok(part)) => {
                    s.queue = match &s.framing {
                        Some(framing) => framing.around(part.bytes),
                        None => VecDeque::from([part.bytes]),
                    };
                    s.held = Some(part.held);
                }
                Some(Err(e)) => {
                    s.done = true;
                    tracing::warn!(status = e.status.as_u16(), error = %e.message, "a frame of a multipart answer failed after it began");
                    return Some((Err(std::io::Error::other("a frame failed")), s));
                }
                None => {
                    s.done = true;
                    if let Some(framing) = &s.framing {
                        s.queue.push_back(framing.closing.clone());
                    }
                }
            }
        }
    });
    StreamBody::new(chunks).boxed_unsync()
}
