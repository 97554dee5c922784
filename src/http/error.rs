//! The one place where enrollment errors become HTTP statuses (RFC 8894 §4.3 and our rule):
//! cannot decode or decrypt -> 400 with a short reason; our fault -> 500 with generic text
//! (details only in the log). Refusals never get here: they are 200 + signed FAILURE.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::enroll;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("internal error")]
    Internal(String),
    #[error("server busy")]
    Unavailable,
    #[error("the request body did not arrive in time")]
    Timeout,
}

impl From<enroll::Error> for HttpError {
    fn from(e: enroll::Error) -> Self {
        match e {
            enroll::Error::Decode(d) => HttpError::BadRequest(d.to_string()),
            enroll::Error::Internal(s) => HttpError::Internal(s),
        }
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            HttpError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let text = match self {
            HttpError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error\n".to_owned()
            }
            other => format!("{other}\n"),
        };
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(text)
    }
}
