//! What the server knows of one object version: an image's index, or, for an object without
//! Pixel Data (a report, a key object selection, a presentation state), its whole data set.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::index::{INITIAL_PREFIX, Parsed, Whole, load_deflated, next_prefix, parse_header};
use super::{DicomError, Index, Limits, LoadError};
use crate::key::ObjectKey;
use crate::pool::RenderPool;
use crate::store::{ObjectMeta, Store};

/// One object version, indexed. Whoever serves frames must say what an object without them
/// gets; whoever serves headers serves both.
#[derive(Clone)]
pub enum Indexed {
    /// An image: where each frame is.
    Image(Arc<Index>),
    /// An object without Pixel Data, held whole: it is no larger than the header limit.
    HeaderOnly(HeaderOnly),
}

/// The stored bytes of an object without Pixel Data.
#[derive(Clone)]
pub struct HeaderOnly {
    bytes: Bytes,
}

impl HeaderOnly {
    /// The data set, parsed again from memory. CPU work proportional to its size.
    pub fn parse(&self) -> Result<Whole, DicomError> {
        match parse_header(&self.bytes, self.bytes.len() as u64)? {
            Parsed::Whole(whole) => Ok(whole),
            _ => Err(DicomError::Truncated),
        }
    }

    /// Bytes held: the stored object's size.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

impl Indexed {
    /// Reads the header of `key`, growing the read until Pixel Data or the end of the file,
    /// never past `limits.max_header_bytes`; then locates every frame of an image. A deflated
    /// object is inflated on `pool`, within its memory budget.
    pub async fn load(store: &dyn Store, key: &ObjectKey, meta: &ObjectMeta, limits: &Limits, pool: &RenderPool) -> Result<Indexed, LoadError> {
        let mut prefix = BytesMut::new();
        let mut want = INITIAL_PREFIX.min(meta.size);
        let header = loop {
            if want > prefix.len() as u64 {
                prefix.extend_from_slice(&store.read(key, meta, prefix.len() as u64..want).await?);
            }
            match parse_header(&prefix, meta.size)? {
                Parsed::Done(header) => break header,
                // Parsed once to know it is whole and well formed; kept as bytes, which weigh
                // what they are, and parsed again by each that shows it.
                Parsed::Whole(_) => return Ok(Indexed::HeaderOnly(HeaderOnly { bytes: prefix.freeze() })),
                Parsed::Deflated(meta_end) => return Ok(Indexed::Image(Arc::new(load_deflated(store, key, meta, meta_end, limits, pool).await?))),
                Parsed::NeedMore(end) => want = next_prefix(end, prefix.len() as u64, meta.size, limits.max_header_bytes)?,
            }
        };
        Ok(Indexed::Image(Arc::new(Index::build(store, key, meta, prefix.freeze(), header, limits).await?)))
    }

    /// The image's index; an object without Pixel Data has no frames to serve.
    pub fn image(&self) -> Result<&Arc<Index>, DicomError> {
        match self {
            Indexed::Image(index) => Ok(index),
            Indexed::HeaderOnly(_) => Err(DicomError::NoPixelData),
        }
    }

    /// Approximate memory held, for the cache's byte bound.
    pub fn weight(&self) -> u32 {
        match self {
            Indexed::Image(index) => index.weight(),
            Indexed::HeaderOnly(whole) => u32::try_from(1024 + whole.size()).unwrap_or(u32::MAX),
        }
    }
}
