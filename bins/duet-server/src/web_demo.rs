//! The web demo embedded at build time (`build.rs`), served at `/` when no `DUET_WEB_DIR` is
//! given: GET and HEAD only, `index.html` for `/`, the API's JSON `404` for anything else.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_demo.rs"));

/// Whether the binary was built with the demo (it was, unless `web/dist` was missing).
pub(crate) fn is_embedded() -> bool {
    FILES.iter().any(|(path, _)| *path == "index.html")
}

/// The `Content-Type` of a file by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Answers one request from the embedded files.
pub(crate) async fn serve(request: Request<Body>) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return duet_transport::ApiError::not_found().into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some((_, bytes)) = FILES.iter().find(|(name, _)| *name == path) else {
        return duet_transport::ApiError::not_found().into_response();
    };
    let mut response = if request.method() == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::OK, *bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    // The page itself is looked at again each time, so a new server's demo is picked up.
    let cache = if path == "index.html" {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
