//! The HTTP server (axum): every route under `/s/{token}` checks the token
//! first and answers only about what the token grants.

// Refusals are the response itself, returned once per request: boxing it
// would only move it.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use phx_app::Experiment;
use phx_app::share::links;
use phx_dag::Dag;
use phx_store::ShareRow;
use serde::Deserialize;

pub use crate::conn::Limits;
use crate::{files, pages};

/// The largest request body a route takes (comments, notebook entries).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the server holds.
pub struct App {
    /// The experiment whose runs it shows; every read goes through `phx_app`.
    pub exp: Experiment,
    secret: Vec<u8>,
    /// Signs notebook entries added through write links.
    notebook_key: Option<PathBuf>,
    dags: Mutex<HashMap<String, Option<Arc<Dag>>>>,
    /// Shared bundles verified, by path, with the file's identity then.
    bundles: Mutex<HashMap<PathBuf, VerifiedBundle>>,
}

/// What says a file is still the one verified: device, inode, size and the
/// modification and change times.
type FileIdentity = (u64, u64, u64, i64, i64, i64, i64);

/// A verified bundle: the file's identity then, its SHA-256 and size.
type VerifiedBundle = (FileIdentity, (String, u64));

impl App {
    /// The SHA-256 and size of the shared bundle at `path` when it is still
    /// a whole, signed bundle; verified once per version of the file (a
    /// full read), not on every request.
    fn verified_bundle(&self, path: &Path) -> Option<(String, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let id = (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
        if let Ok(cache) = self.bundles.lock()
            && let Some((seen, digest)) = cache.get(path)
            && *seen == id
        {
            return Some(digest.clone());
        }
        let digest = phx_app::share::bundle_digest(path).ok()?;
        if let Ok(mut cache) = self.bundles.lock() {
            cache.insert(path.to_path_buf(), (id, digest.clone()));
        }
        Some(digest)
    }
}

impl App {
    /// A server over the experiment `exp`; notebook entries are signed
    /// with the key at `notebook_key` (made on first use).
    pub fn new(exp: Experiment, notebook_key: Option<PathBuf>) -> std::io::Result<App> {
        let secret = phx_app::share::token::secret(&exp.store.root)?;
        Ok(App { exp, secret, notebook_key, dags: Mutex::new(HashMap::new()), bundles: Mutex::new(HashMap::new()) })
    }
}

type Shared = Arc<App>;

/// The routes.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/s/{token}", get(share_root))
        .route("/s/{token}/run/{run}", get(run_view))
        .route("/s/{token}/run/{run}/dag.svg", get(dag_svg))
        .route("/s/{token}/run/{run}/events", get(events))
        .route("/s/{token}/run/{run}/report.pdf", get(report_pdf))
        .route("/s/{token}/run/{run}/comments", post(add_comment))
        .route("/s/{token}/run/{run}/notebook", post(add_entry))
        .route("/s/{token}/a/{sha}", get(artifact))
        .route("/s/{token}/bundle", get(bundle_download))
        .fallback(|| async { (StatusCode::NOT_FOUND, Html(pages::refused("there is nothing here"))) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// Serves until `shutdown` resolves, within the default [`Limits`].
pub async fn serve(
    app: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(app, listener, Limits::default(), shutdown).await
}

/// Serves until `shutdown` resolves, within `limits`.
pub async fn serve_with(
    app: Shared,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::conn::serve(router(app), listener, limits, shutdown).await
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'",
        ),
    );
    secure(r)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    html(status, pages::refused(message))
}

fn not_found() -> Response {
    refuse(StatusCode::NOT_FOUND, "not part of what this link shares")
}

/// Checks the token; the share's record or the refusal page.
fn check(app: &App, token: &str) -> Result<ShareRow, Response> {
    links::authorize(&app.exp.store, &app.secret, token).map_err(|r| refuse(StatusCode::FORBIDDEN, r.message()))
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether the share covers run `id`.
fn covers_run(app: &App, share: &ShareRow, id: &str) -> bool {
    if !valid_run_id(id) {
        return false;
    }
    match share.resource_kind.as_str() {
        "run" => share.resource_id == id,
        "session" => app.exp.run(id).is_ok_and(|r| r.id == id && r.file == share.resource_id),
        _ => false,
    }
}

async fn index() -> Response {
    html(
        StatusCode::OK,
        pages::page(
            "phx serve",
            "runs, DAGs, artifacts and notes, shared by link",
            "<section><p>Open a share link (<code>phx share create --run RUN</code> prints one).</p></section>",
            "",
        ),
    )
}

async fn share_root(State(app): State<Shared>, UrlPath(token): UrlPath<String>) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token_base = format!("/s/{token}");
    match share.resource_kind.as_str() {
        "run" => render_run(&app, &share, &token, &share.resource_id.clone()),
        "session" => {
            let mut runs: Vec<_> = phx_app::history::runs(&app.exp)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.file == share.resource_id)
                .collect();
            runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
            html(StatusCode::OK, pages::session_page(&token_base, &share.resource_id, &runs))
        }
        "bundle" => {
            let path = PathBuf::from(&share.resource_id);
            let checked = {
                let (app, path) = (app.clone(), path.clone());
                tokio::task::spawn_blocking(move || app.verified_bundle(&path)).await
            };
            let Ok(Some((sha, size))) = checked else {
                return refuse(
                    StatusCode::GONE,
                    "the shared bundle is no longer there, or is no longer a signed bundle",
                );
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            html(StatusCode::OK, pages::bundle_page(&token_base, &name, size, &sha))
        }
        _ => not_found(),
    }
}

async fn run_view(State(app): State<Shared>, UrlPath((token, run)): UrlPath<(String, String)>) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !covers_run(&app, &share, &run) {
        return not_found();
    }
    render_run(&app, &share, &token, &run)
}

/// Each vertex's state, sorted by vertex (the same states always read the same).
fn states(app: &App, run: &str) -> HashMap<String, String> {
    phx_app::history::node_states(&app.exp, run).unwrap_or_default().into_iter().collect()
}

/// The run's DAG, compiled once from the program kept with it.
fn dag_of(app: &App, run: &str) -> Option<Arc<Dag>> {
    if let Ok(cache) = app.dags.lock()
        && let Some(d) = cache.get(run)
    {
        return d.clone();
    }
    let dag = phx_app::history::dag_of_run(&app.exp, run);
    if let Ok(mut cache) = app.dags.lock() {
        cache.insert(run.to_string(), dag.clone());
    }
    dag
}

/// The first rows of a CSV object, for a preview.
fn preview(app: &App, sha: &str) -> Vec<Vec<String>> {
    use std::io::{BufRead, BufReader};
    let Ok(f) = std::fs::File::open(phx_app::artifacts::object_path(&app.exp, sha)) else { return vec![] };
    BufReader::new(f)
        .lines()
        .take(11)
        .map_while(Result::ok)
        .map(|l| l.split(',').take(12).map(|c| c.chars().take(40).collect()).collect())
        .collect()
}

fn render_run(app: &App, share: &ShareRow, token: &str, run_id: &str) -> Response {
    let Ok(record) = phx_app::history::record(&app.exp, run_id) else {
        return refuse(StatusCode::GONE, "the shared run is no longer in the store");
    };
    let run = &record.run;
    // A sweep of many instances is one row and a few of its artifacts, not
    // a row and a figure an instance.
    let families = phx_app::history::summarise_families(
        record.nodes.iter().map(|(e, _)| phx_app::history::InstanceFacts {
            id: &e.vertex,
            status: &e.status,
            cached: e.cached,
            duration_ms: e.duration_ms.and_then(|d| u64::try_from(d).ok()),
            device: e.device.as_deref(),
            error: e.error.as_deref(),
        }),
        pages::SHOWN_INSTANCES,
    );
    let mut listed: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let shown: Vec<pages::Shown> = record
        .nodes
        .iter()
        .filter(|(e, _)| {
            let family = phx_app::history::family_of(&e.vertex);
            if !families.contains_key(family) {
                return true;
            }
            let n = listed.entry(family).or_default();
            *n += 1;
            *n <= pages::SHOWN_INSTANCES
        })
        .map(|(e, outputs)| {
            let previews = outputs
                .iter()
                .filter(|o| o.kind == "Series")
                .map(|o| (o.sha256.clone(), preview(app, &o.sha256)))
                .collect();
            pages::Shown { exec: e, outputs: outputs.clone(), previews }
        })
        .collect();
    let svg = dag_of(app, &run.id).map(|d| phx_graph_draw::to_svg_with_states(&d, &states(app, &run.id)));
    let has_report = app.exp.store.run_dir(&run.id).join("report.pdf").is_file();
    let notebook = phx_app::notebook::entries_about(&app.exp, &run.id).unwrap_or_default();
    let comments = phx_app::share::comments(&app.exp, &run.id).unwrap_or_default();
    let base = format!("/s/{token}/run/{}", run.id);
    html(
        StatusCode::OK,
        pages::run_page(
            &base,
            &format!("/s/{token}"),
            run,
            &shown,
            &families,
            svg.as_deref(),
            has_report,
            &notebook,
            &comments,
            share.access == "write",
            &share.participants,
        ),
    )
}

async fn dag_svg(State(app): State<Shared>, UrlPath((token, run)): UrlPath<(String, String)>) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !covers_run(&app, &share, &run) {
        return not_found();
    }
    let Some(dag) = dag_of(&app, &run) else { return not_found() };
    let svg = phx_graph_draw::to_svg_with_states(&dag, &states(&app, &run));
    secure(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

async fn events(State(app): State<Shared>, UrlPath((token, run)): UrlPath<(String, String)>) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !covers_run(&app, &share, &run) {
        return not_found();
    }
    // One state message whenever a node's state changes; `done` when the
    // run has ended (then the stream closes).
    let stream = futures_util::stream::unfold((app, run, String::new(), false), |(app, run, last, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let status = app.exp.run(&run).map(|r| r.status).unwrap_or_default();
            let now = serde_json::to_string(&phx_app::history::node_states(&app.exp, &run).unwrap_or_default())
                .unwrap_or_default();
            if status != "running" {
                let ev = Event::default().event("done").data(status);
                return Some((Ok::<Event, std::convert::Infallible>(ev), (app, run, now, true)));
            }
            if now != last {
                let ev = Event::default().event("state").data(now.clone());
                return Some((Ok(ev), (app, run, now, false)));
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    secure(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

async fn report_pdf(
    State(app): State<Shared>,
    UrlPath((token, run)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !covers_run(&app, &share, &run) {
        return not_found();
    }
    let path = app.exp.store.run_dir(&run).join("report.pdf");
    match files::stream(&path, &headers, Some("application/pdf"), "").await {
        Some(r) => secure(r),
        None => not_found(),
    }
}

#[derive(Deserialize)]
struct DownloadQuery {
    download: Option<String>,
}

async fn artifact(
    State(app): State<Shared>,
    UrlPath((token, sha)): UrlPath<(String, String)>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A hash, nothing else: no path can be smuggled in.
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return refuse(StatusCode::BAD_REQUEST, "an artifact is named by its SHA-256 (64 hex digits)");
    }
    let producers = phx_app::artifacts::producers(&app.exp, &sha).unwrap_or_default();
    let Some((exec, name)) = producers.into_iter().find(|(e, _)| covers_run(&app, &share, &e.run_id)) else {
        return not_found();
    };
    let kind = phx_app::artifacts::kind_of(&app.exp, &sha).ok().flatten().unwrap_or_default();
    let path = phx_app::artifacts::object_path(&app.exp, &sha);
    let Some(mut r) = files::stream(&path, &headers, None, &kind).await else { return not_found() };
    let h = r.headers_mut();
    // Artifacts are data, never a page: no scripts even in an SVG.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        // `sandbox`: opened as a page (an SVG), it has no origin, so a form
        // in it cannot post to this server as the page's own.
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; sandbox"),
    );
    if q.download.is_some() {
        // Named as in results/ (`slice.image.png`), so it opens by its extension.
        let named = phx_app::results::file_name_of(&name, &kind, &path);
        let file: String = format!("{}.{}", exec.vertex, named)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    secure(r)
}

async fn bundle_download(State(app): State<Shared>, UrlPath(token): UrlPath<String>, headers: HeaderMap) -> Response {
    let share = match check(&app, &token) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if share.resource_kind != "bundle" {
        return not_found();
    }
    // Still a whole, signed bundle: a file put in its place is not served.
    let path = PathBuf::from(&share.resource_id);
    let checked = {
        let (app, path) = (app.clone(), path.clone());
        tokio::task::spawn_blocking(move || app.verified_bundle(&path)).await
    };
    if !matches!(checked, Ok(Some(_))) {
        return refuse(StatusCode::GONE, "the shared bundle is no longer there, or is no longer a signed bundle");
    }
    match files::stream(&path, &headers, Some("application/octet-stream"), "").await {
        Some(mut r) => {
            r.headers_mut()
                .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"run.phxb\""));
            secure(r)
        }
        None => refuse(StatusCode::GONE, "the shared bundle is no longer there"),
    }
}

#[derive(Deserialize)]
struct CommentForm {
    author: Option<String>,
    body: String,
}

fn who(share: &ShareRow, given: Option<&str>) -> String {
    let given = given.map(str::trim).filter(|s| !s.is_empty());
    let name = given.or(share.participants.first().map(String::as_str)).unwrap_or("guest");
    format!("{} (via share link {})", name.chars().take(100).collect::<String>(), &share.id[..8])
}

/// Whether a write comes from a page of this server: a browser names the
/// page's site (`Sec-Fetch-Site`) or origin (`Origin`) on every form post,
/// so a page elsewhere cannot post with a link it learnt. Clients that are
/// not browsers send neither, and hold the token themselves.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}").to_string());
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match text(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = text(header::HOST).unwrap_or_default();
            let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            !host.is_empty() && origin_host == Some(host.as_str())
        }
    }
}

fn write_access(app: &App, headers: &HeaderMap, token: &str, run: &str) -> Result<ShareRow, Response> {
    if !same_origin(headers) {
        return Err(refuse(StatusCode::FORBIDDEN, "a write from another site is refused; open the link itself"));
    }
    let share = check(app, token)?;
    if !covers_run(app, &share, run) {
        return Err(not_found());
    }
    if share.access != "write" {
        return Err(refuse(StatusCode::FORBIDDEN, "this link is read-only"));
    }
    Ok(share)
}

async fn add_comment(
    State(app): State<Shared>,
    UrlPath((token, run)): UrlPath<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CommentForm>,
) -> Response {
    let share = match write_access(&app, &headers, &token, &run) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let author = who(&share, form.author.as_deref());
    match phx_app::share::add_comment(&app.exp, &share.id, &run, &author, &form.body) {
        Ok(()) => {}
        Err(e) if e.kind == phx_app::ErrorKind::Usage => return refuse(StatusCode::BAD_REQUEST, &e.message),
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the comment could not be saved; try again"),
    }
    after_post(&headers, &token, &run)
}

/// Forms go back to the page; API clients get 201.
fn after_post(headers: &HeaderMap, token: &str, run: &str) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html {
        secure(Redirect::to(&format!("/s/{token}/run/{run}#comments")).into_response())
    } else {
        secure((StatusCode::CREATED, "saved\n").into_response())
    }
}

#[derive(Deserialize)]
struct EntryForm {
    title: String,
    markdown: String,
}

async fn add_entry(
    State(app): State<Shared>,
    UrlPath((token, run)): UrlPath<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<EntryForm>,
) -> Response {
    let share = match write_access(&app, &headers, &token, &run) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (title, markdown) = (form.title.trim(), form.markdown.trim());
    if title.is_empty() || title.chars().count() > 200 || markdown.is_empty() || markdown.chars().count() > 8000 {
        return refuse(StatusCode::BAD_REQUEST, "an entry has a title (up to 200 characters) and text (up to 8000)");
    }
    let Some(key_path) = app.notebook_key.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "this server has no notebook key");
    };
    let entry = phx_app::notebook::EntryRequest {
        title: title.to_string(),
        markdown: markdown.to_string(),
        attach: vec![run.clone()],
        run_id: None,
        author: Some(who(&share, None)),
        key: Some(key_path),
    };
    // A link's holder attaches nothing but the run itself.
    match phx_app::notebook::add(&app.exp, entry, &phx_app::trust::Grants::default()) {
        Ok(_) => {}
        Err(e) if e.code == "phx::notebook-key" => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "this server's notebook key cannot be used");
        }
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the entry could not be added; try again"),
    }
    after_post(&headers, &token, &run)
}
