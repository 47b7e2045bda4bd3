//! The HTTP API, versioned under `/v1`, JSON; errors as RFC 9457 `application/problem+json`
//! with a stable `type` per error kind. Mutations need the operator's bearer token; reads are
//! open. The OpenAPI 3.1 description at `/openapi.json` is generated from these handlers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::B256;
use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::OpenApi;

use crate::Error;
use crate::metrics::Metrics;
use crate::runner::Runner;
use crate::store::{Job, JobError, Progress, State as JobState};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The runner (and through it the store and the launcher).
    pub runner: Arc<Runner>,
    /// The operator's bearer token.
    pub token: Arc<String>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Whether the runner has started (for `/readyz`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

/// An RFC 9457 problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The kind of problem: `urn:assay:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly is wrong.
    pub detail: String,
}

const PROBLEM_JSON: &str = "application/problem+json";

fn problem(status: StatusCode, kind: &str, detail: String) -> Response {
    let body = Problem {
        kind: crate::error::problem_type(kind),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        serde_json::to_vec(&body).expect("a problem serialises"),
    )
        .into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(kind = self.kind(), error = %self, "request failed");
        }
        problem(status, self.kind(), self.to_string())
    }
}

/// A job, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// The JobSpec's hash (what HOST_DATA, key release and the signed result bind).
    pub job_hash: String,
    /// The Forge.
    pub forge_id: String,
    /// When it was submitted (RFC 3339).
    pub created_at: String,
    /// When its enclave last started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How often its enclave was started (more than once after a restart).
    pub attempts: u32,
    /// Its progress.
    pub progress: Progress,
    /// Why it failed (or, for a succeeded job, why its bundle did not verify).
    pub error: Option<JobError>,
    /// Whether its bundle passed the host's own verification.
    pub verified: bool,
}

impl From<Job> for JobRecord {
    fn from(j: Job) -> Self {
        JobRecord {
            id: j.id,
            state: j.state,
            job_hash: j.job_hash,
            forge_id: j.forge_id,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            attempts: j.attempts,
            progress: j.progress,
            error: j.error,
            verified: j.verified,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobPage {
    /// Jobs in submission order.
    pub jobs: Vec<JobRecord>,
    /// The id to pass as `after` for the next page, if there is one.
    pub next: Option<String>,
}

/// What a relayer submits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Calldata {
    /// The contract function (`submitEvalResultV2`, or `submitEvalResult` for a version-1 bundle).
    pub function: String,
    /// The ABI-encoded call, hex with `0x`.
    pub calldata: String,
}

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "assay-host",
        description = "The host daemon of an Assay compute provider: enclave jobs, their progress and bundles, and the latest verified attestation of each Forge."
    ),
    paths(
        create_job,
        list_jobs,
        get_job,
        cancel_job,
        job_events,
        job_bundle,
        job_chain,
        job_calldata,
        forge_attestation,
        healthz,
        readyz,
        metrics
    ),
    components(schemas(Problem, JobRecord, JobPage, Calldata, JobEvent, JobEventFrame, Progress, JobError, JobState)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Checks the operator's bearer token (constant-time comparison).
fn authorised(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Error::Unauthorised(
                "this needs the operator's token: Authorization: Bearer <DATA/operator-token>"
                    .into(),
            )
        })?;
    aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), state.token.as_bytes())
        .map_err(|_| Error::Unauthorised("the token is not the operator's".into()))
}

/// Submit a job: the JobSpec and its `run` table (inputs by path inside the host's inputs
/// folder; see docs/jobspec.md), as JSON or TOML.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    request_body(content = Object, description = "A job file: the JobSpec and `run` (recipe, model, contributions, holdout, key_service)", content_type = "application/json"),
    responses(
        (status = 201, description = "Queued", body = JobRecord),
        (status = 400, description = "A malformed job, naming the field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or another token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json")
    ),
    security(("operator" = []))
)]
async fn create_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, Error> {
    authorised(&state, &headers)?;
    let runner = state.runner.clone();
    let job = tokio::task::spawn_blocking(move || runner.submit(&body))
        .await
        .map_err(|e| Error::Config(format!("the submission task failed: {e}")))??;
    let location = format!("/v1/jobs/{}", job.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(JobRecord::from(job)),
    )
        .into_response())
}

/// A positive page size, at most 500 (default 50).
fn page_size(params: &HashMap<String, String>) -> Result<usize, Error> {
    match params.get("limit") {
        None => Ok(50),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| Error::BadJob {
                field: "limit".into(),
                reason: format!("{s:?} is not a page size from 1 to 500"),
            }),
    }
}

/// List jobs in submission order, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 500 (default 50)", minimum = 1, maximum = 500),
        ("after" = Option<String>, Query, description = "The `next` of the previous page")
    ),
    responses(
        (status = 200, body = JobPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`after` names no job", body = Problem, content_type = "application/problem+json")
    )
)]
async fn list_jobs(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<JobPage>, Error> {
    let limit = page_size(&params)?;
    let (jobs, more) = state
        .runner
        .store()
        .list(params.get("after").map(String::as_str), limit)?;
    let next = more.then(|| jobs.last().map(|j| j.id.clone())).flatten();
    Ok(Json(JobPage {
        jobs: jobs.into_iter().map(JobRecord::from).collect(),
        next,
    }))
}

/// A job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, body = JobRecord),
        (status = 404, body = Problem, content_type = "application/problem+json")
    )
)]
async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Error> {
    Ok(Json(state.runner.store().get(&id)?.into()))
}

/// Cancel a job that is queued or running.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Cancelled", body = JobRecord),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is over", body = Problem, content_type = "application/problem+json")
    ),
    security(("operator" = []))
)]
async fn cancel_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Error> {
    authorised(&state, &headers)?;
    Ok(Json(state.runner.cancel(&id)?.into()))
}

/// Seconds left, estimated from the time the computed trainings took.
fn eta(job: &Job, p: &Progress) -> Option<f64> {
    let started = job.started_at.as_deref().and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })?;
    let elapsed = (time::OffsetDateTime::now_utc() - started).as_seconds_f64();
    (p.done > 0 && p.done < p.total)
        .then(|| elapsed / f64::from(p.done) * f64::from(p.total - p.done))
}

/// One server-sent event of a job's progress (its `data`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobEvent {
    /// The job.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// Trainings done.
    pub run: u32,
    /// Trainings in all.
    pub runs: u32,
    /// The last training's final loss.
    pub loss: Option<f64>,
    /// Seconds left, estimated.
    pub eta_seconds: Option<f64>,
}

/// One server-sent event as it is framed: its name and its data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobEventFrame {
    /// `progress` while the job is queued or running, `end` once it is over (the last event).
    #[schema(pattern = "^(progress|end)$")]
    pub event: String,
    /// A [`JobEvent`] as JSON.
    pub data: String,
}

fn event_of(job: &Job) -> SseEvent {
    let data = serde_json::to_string(&JobEvent {
        id: job.id.clone(),
        state: job.state,
        run: job.progress.done,
        runs: job.progress.total,
        loss: job.progress.loss,
        eta_seconds: eta(job, &job.progress),
    })
    .expect("an event serialises");
    SseEvent::default()
        .event(if job.state.is_final() {
            "end"
        } else {
            "progress"
        })
        .data(data)
}

/// The job's progress as Server-Sent Events: `progress` events (`run` of `runs` trainings
/// done, the last one's `loss`, `eta_seconds`), then one `end` event with the final state.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "An event stream: each event is a JobEventFrame, its data a JobEvent", content_type = "text/event-stream", body = JobEventFrame),
        (status = 404, body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let changes = state.runner.subscribe();
    let first = state.runner.store().get(&id)?;
    let runner = state.runner.clone();
    // The first event says where the job is; then one per change, and the stream ends right
    // after the event that says it is over.
    let stream = futures_util::stream::unfold(
        (Some(first), changes, false),
        move |(pending, mut changes, ended)| {
            let runner = runner.clone();
            let id = id.clone();
            async move {
                if ended {
                    return None;
                }
                let job = match pending {
                    Some(job) => job,
                    None => loop {
                        match changes.recv().await {
                            Ok(c) if c.id == id => break runner.store().get(&id).ok()?,
                            Ok(_) => {}
                            // Lagged behind: say where the job is now.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                break runner.store().get(&id).ok()?;
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        }
                    },
                };
                let over = job.state.is_final();
                Some((Ok::<_, Infallible>(event_of(&job)), (None, changes, over)))
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The representation `Accept` asks for: CBOR, or JSON (the default).
fn wants_cbor(headers: &HeaderMap) -> Result<bool, Error> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(false);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    if types.contains(&"application/cbor") {
        return Ok(true);
    }
    if types
        .iter()
        .any(|t| matches!(*t, "application/json" | "application/*" | "*/*" | ""))
    {
        return Ok(false);
    }
    Err(Error::NotAcceptable {
        offered: "application/json or application/cbor",
    })
}

fn bundle_response(
    cbor_wanted: bool,
    json: axum::body::Bytes,
    cbor: axum::body::Bytes,
) -> Response {
    if cbor_wanted {
        (
            [(header::CONTENT_TYPE, "application/cbor")],
            Body::from(cbor),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(json),
        )
            .into_response()
    }
}

/// A succeeded job's attestation bundle (docs/attestation.md), as JSON or CBOR.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/bundle",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The bundle", content(
            (Object = "application/json"),
            (Vec<u8> = "application/cbor")
        )),
        (status = 404, description = "No such job, or no bundle yet", body = Problem, content_type = "application/problem+json"),
        (status = 406, body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let cbor_wanted = wants_cbor(&headers)?;
    let (json, cbor) = state
        .runner
        .store()
        .bundle(&id)?
        .ok_or_else(|| Error::Absent {
            what: format!("job {id} has no bundle (yet)"),
        })?;
    Ok(bundle_response(cbor_wanted, json.into(), cbor.into()))
}

/// A succeeded job's alloy chain (`docs/alloy.md`): the chain file its enclave signed (the
/// dataset, adapter and eval links), checked against the bundle before it was kept.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/chain",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The chain file (one part, deterministic CBOR)", content(
            (Vec<u8> = "application/cbor")
        )),
        (status = 404, description = "No such job, or no chain (yet, or a bundle before version 3)", body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_chain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let chain = state
        .runner
        .store()
        .chain(&id)?
        .ok_or_else(|| Error::Absent {
            what: format!(
                "job {id} has no alloy chain (yet, or its bundle is older than version 3)"
            ),
        })?;
    Ok((
        [(header::CONTENT_TYPE, "application/cbor")],
        Body::from(chain),
    )
        .into_response())
}

/// What a relayer submits to the Forge contract for a succeeded job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/calldata",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, body = Calldata),
        (status = 404, body = Problem, content_type = "application/problem+json")
    )
)]
async fn job_calldata(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Calldata>, Error> {
    let (json, _) = state
        .runner
        .store()
        .bundle(&id)?
        .ok_or_else(|| Error::Absent {
            what: format!("job {id} has no bundle (yet)"),
        })?;
    let bundle = assay_forge::Bundle::parse(json.as_bytes(), &id)?;
    Ok(Json(Calldata {
        function: if bundle.result.job.is_some() {
            "submitEvalResultV2"
        } else {
            "submitEvalResult"
        }
        .into(),
        calldata: format!("0x{}", hex::encode(assay_forge::calldata(&bundle))),
    }))
}

/// The latest attestation of a Forge that passed the host's own verification, as JSON or CBOR.
#[utoipa::path(
    get,
    path = "/v1/forges/{forge}/attestation",
    params(("forge" = String, Path, description = "The Forge id (0x and 64 hex digits)", pattern = "^0x[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The bundle", content(
            (Object = "application/json"),
            (Vec<u8> = "application/cbor")
        )),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No verified attestation for this Forge", body = Problem, content_type = "application/problem+json"),
        (status = 406, body = Problem, content_type = "application/problem+json")
    )
)]
async fn forge_attestation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(forge): Path<String>,
) -> Result<Response, Error> {
    let id: B256 = forge.parse().map_err(|_| Error::BadJob {
        field: "forge".into(),
        reason: format!("{forge:?} is not a Forge id (0x and 64 hex digits)"),
    })?;
    let cbor_wanted = wants_cbor(&headers)?;
    let latest = state
        .runner
        .latest_attestation(&id.to_string())?
        .ok_or_else(|| Error::Absent {
            what: format!("no verified attestation for Forge {id}"),
        })?;
    Ok(bundle_response(
        cbor_wanted,
        latest.json.clone(),
        latest.cbor.clone(),
    ))
}

/// Liveness: the daemon answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and the runner has started.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = String),
        (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json")
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    let started = state.ready.load(std::sync::atomic::Ordering::SeqCst);
    match state.runner.store().ping() {
        Ok(()) if started => "ready\n".into_response(),
        Ok(()) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the runner has not started".into(),
        ),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()),
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Metrics", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises"),
    )
        .into_response()
}

/// Any error answer that is not a problem yet (a rejection of axum's: a bad body, an unknown
/// route or method) becomes one, so that every error has one shape.
async fn problems_only(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes).trim().to_owned();
    let kind = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    problem(
        status,
        kind,
        if detail.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            detail
        },
    )
}

/// A request id: this process's random prefix and a counter (unique per process, and cheaper
/// than a random draw per request).
fn next_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        aws_lc_rs::rand::fill(&mut b).expect("the system RNG works");
        hex::encode(b)
    });
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Request ids, latency metrics and a log line per request.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let request_id = next_request_id();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %route);
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = response.status().as_u16();
    let took = start.elapsed();
    state.metrics.observe_http(&method, &route, status, took);
    span.in_scope(|| {
        tracing::info!(status, micros = took.as_micros() as u64, "served");
    });
    response.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&request_id).expect("hex is a valid header"),
    );
    response
}

/// The largest request body accepted: a job file (the inputs are on the host, by path).
pub const MAX_BODY: usize = 1 << 20;

/// How long a request may take to be answered (an event stream's answer starts at once; its
/// events then follow for as long as the job runs).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The router.
pub fn router(state: AppState) -> axum::Router {
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::TimeoutLayer;
    axum::Router::new()
        .route("/v1/jobs", post(create_job).get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/v1/jobs/{id}/events", get(job_events))
        .route("/v1/jobs/{id}/bundle", get(job_bundle))
        .route("/v1/jobs/{id}/chain", get(job_chain))
        .route("/v1/jobs/{id}/calldata", get(job_calldata))
        .route("/v1/forges/{forge}/attestation", get(forge_attestation))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(problems_only))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}
