//! Every failure becomes a status and a short public message here, and only here.
//!
//! Public messages name the problem with the request or the file, never a path, a secret, a
//! token or a header value; causes that only the operator should see go to the log.

use std::sync::Arc;

use hyper::StatusCode;

use crate::dicom::{DicomError, LoadError};
use crate::encode::EncodeError;
use crate::key::KeyError;
use crate::pool::PoolError;
use crate::reformat::ReformatError;
use crate::render::RenderError;
use crate::render::region::RegionError;
use crate::store::StoreError;
use crate::token::TokenError;

/// An error answer: status, public message, and what the log may say besides.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the `{"error": ...}` body.
    pub message: String,
    /// Operator-facing cause, logged for 5xx answers.
    pub cause: Option<String>,
    /// The object changed under the request; a fresh attempt will see the new version.
    pub stale: bool,
}

impl ApiError {
    /// An error with a public message and nothing more to log.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), cause: None, stale: false }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A failure on our side: a public message, and the cause for the log.
    pub(crate) fn internal(status: StatusCode, message: &str, cause: impl ToString) -> Self {
        ApiError { status, message: message.into(), cause: Some(cause.to_string()), stale: false }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            // Only a genuine token learns it expired, so a viewer knows to ask for a new one.
            TokenError::Expired => Self::new(StatusCode::GONE, "token has expired"),
            // Every other failure looks the same from outside.
            _ => Self::new(StatusCode::FORBIDDEN, "forbidden"),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        Self::bad_request(match e {
            KeyError::Forbidden(_) => "object key has a segment that is not allowed".to_owned(),
            other => other.to_string(),
        })
    }
}

impl From<&StoreError> for ApiError {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("no such object"),
            StoreError::Changed => ApiError { stale: true, ..Self::internal(StatusCode::SERVICE_UNAVAILABLE, "object changed while being read, retry", e) },
            StoreError::Timeout => Self::internal(StatusCode::GATEWAY_TIMEOUT, "storage timed out", e),
            StoreError::Unavailable(_) => Self::internal(StatusCode::BAD_GATEWAY, "storage is unavailable", e),
            StoreError::Io(_) => Self::internal(StatusCode::BAD_GATEWAY, "storage read failed", e),
        }
    }
}

impl From<&DicomError> for ApiError {
    fn from(e: &DicomError) -> Self {
        let status = match e {
            DicomError::UnsupportedTransferSyntax(_) | DicomError::UnsupportedImage(_) | DicomError::CodecNotBuilt(..) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let cause = match e {
            DicomError::Decode(detail) => Some(detail.clone()),
            other => std::error::Error::source(other).map(ToString::to_string),
        };
        ApiError { status, message: e.to_string(), cause, stale: false }
    }
}

impl From<&LoadError> for ApiError {
    fn from(e: &LoadError) -> Self {
        match e {
            LoadError::Store(e) => e.into(),
            LoadError::Dicom(e) => e.into(),
            LoadError::Pool(e) => (*e).into(),
        }
    }
}

impl From<DicomError> for ApiError {
    fn from(e: DicomError) -> Self {
        (&e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        (&e).into()
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        (&e).into()
    }
}

impl From<Arc<LoadError>> for ApiError {
    fn from(e: Arc<LoadError>) -> Self {
        e.as_ref().into()
    }
}

impl From<Arc<ApiError>> for ApiError {
    fn from(e: Arc<ApiError>) -> Self {
        e.as_ref().clone()
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Photometric(_) => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
            RenderError::Resize(_) => Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal error", e),
            _ => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
}

impl From<RegionError> for ApiError {
    fn from(e: RegionError) -> Self {
        match e {
            // What the request named: a place off the image, or values of a colour image.
            RegionError::Outside | RegionError::NotGrey(_) => Self::bad_request(e.to_string()),
            _ => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
}

impl From<EncodeError> for ApiError {
    fn from(e: EncodeError) -> Self {
        Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal error", e)
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Overloaded => Self::new(StatusCode::SERVICE_UNAVAILABLE, "server is busy, retry shortly"),
            PoolError::Panicked => Self::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal error", e),
            PoolError::TooLarge { .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
}

impl From<ReformatError> for ApiError {
    fn from(e: ReformatError) -> Self {
        // Each names what about the series keeps it from being reformatted: the request was fine.
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
    }
}
