//! The synchronous door: a Function URL or API Gateway HTTP API request -> status, headers and a
//! JSON body, with the stream's feature decoding, transforms and model, and no IO.
//!
//! Lambda Function URLs and API Gateway HTTP APIs (payload format 2.0) send the same event:
//! `version: "2.0"`, `rawPath`, `requestContext.http.method`, `headers`, `body` and
//! `isBase64Encoded`. The event is read in one pass (unused fields skipped), the routes are
//! matched on the method and path, and `POST /predict` reads each instance where it stands in the
//! body, through the stream's feature reader, straight into the rows of
//! [`pipeline`](crate::pipeline)'s one model evaluation per request; a bad instance is answered
//! in its place with the stream's reason code rather than failing the request. Only an event that
//! is not an HTTP request at all is an invocation error.
//!
//! The response is built once as the JSON text the runtime posts, the answer written straight
//! into its escaped `body` string (see [`Answers`]); serde_json's two passes (the body, then the
//! response around it) are kept in the tests as the reference it is compared with.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use base64::Engine;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::Instrument as _;

use crate::app::App;
use crate::config::Door;
use crate::handler::Call;
use crate::metrics::Request;
use crate::model::Label;
use crate::model::Model;
use crate::pipeline::{self, Verdict};
use crate::reason::Reason;
use crate::sink::line;
use crate::sink::{ModelRef, Predicted};
use crate::source::Text;

/// The routes, for 404 messages.
const ROUTES: &str = "POST /predict, GET /model, GET /health";

/// Why an invocation of the HTTP door failed as a whole: the event is not an HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not a Function URL / HTTP API payload 2.0 event.
    #[error(
        "event is not a Function URL or API Gateway HTTP API (payload format 2.0) request: {detail}"
    )]
    NotHttpEvent {
        /// What was wrong with it.
        detail: String,
    },
}

impl HttpError {
    /// A stable error type for Lambda's error report.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::NotHttpEvent { .. } => "NotHttpEvent",
        }
    }
}

/// The response, as a Function URL or HTTP API expects it from the function: every body is
/// JSON, sent as text with `content-type: application/json`. Held as the response's JSON text,
/// built once with the body escaped as it is written, which is what the runtime posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status, also written in `json`.
    status: u16,
    /// `{"statusCode":…,"headers":{…},"body":"…","isBase64Encoded":false,"cookies":[]}`.
    json: String,
}

impl HttpResponse {
    /// A response whose body is already JSON text.
    fn new(status: u16, allow: Option<&'static str>, body: &str) -> HttpResponse {
        HttpResponse::written(status, allow, body.len() + 16, |out| {
            line::string(out, body)
        })
    }

    /// The response's JSON text, with `body` writing the body's JSON string (quotes included).
    fn written(
        status: u16,
        allow: Option<&'static str>,
        capacity: usize,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> HttpResponse {
        // The bytes serde_json writes for a map of these entries, in this order.
        let mut out = Vec::with_capacity(capacity + 128);
        out.extend_from_slice(b"{\"statusCode\":");
        out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        out.extend_from_slice(b",\"headers\":{\"content-type\":\"application/json\"");
        if let Some(allow) = allow {
            out.extend_from_slice(b",\"allow\":");
            line::string(&mut out, allow);
        }
        out.extend_from_slice(b"},\"body\":");
        body(&mut out);
        // `cookies` is part of the response format; cargo-lambda's Function URL emulator
        // requires it.
        out.extend_from_slice(b",\"isBase64Encoded\":false,\"cookies\":[]}");
        HttpResponse {
            status,
            json: String::from_utf8(out).expect("JSON text built from `str`s is UTF-8"),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The whole response as JSON text: what the runtime posts for this invocation.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// The response's parts, read back from its text for the tests.
#[cfg(test)]
impl HttpResponse {
    /// The body.
    fn body(&self) -> String {
        self.read_back().body
    }

    /// The `Allow` header (a 405 answer's).
    fn allow(&self) -> Option<String> {
        self.read_back().headers.allow
    }

    fn read_back(&self) -> ReadBack {
        serde_json::from_str(&self.json).expect("a response's JSON text has headers and a body")
    }
}

/// What [`HttpResponse`]'s tests read back from its text.
#[cfg(test)]
#[derive(Deserialize)]
struct ReadBack {
    headers: ReadBackHeaders,
    body: String,
}

#[cfg(test)]
#[derive(Deserialize)]
struct ReadBackHeaders {
    allow: Option<String>,
}

/// The response's text as it is: lambda_runtime serializes the handler's answer with
/// serde_json, and serde_json writes a value that serializes as this struct and field name
/// (its `RawValue`'s) without a second pass, where a `String` body would be escaped again and
/// a `Box<RawValue>` would cost a validating parse of the text to build. The tests check the
/// bytes serde_json writes for it.
impl Serialize for HttpResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        const RAW_VALUE: &str = "$serde_json::private::RawValue";
        let mut raw = serializer.serialize_struct(RAW_VALUE, 1)?;
        raw.serialize_field(RAW_VALUE, self.json.as_str())?;
        raw.end()
    }
}

/// One request as the door answered it: the response, and what the log line and the metrics
/// document say about it.
#[derive(Debug, Clone)]
pub struct Answered {
    pub response: HttpResponse,
    /// The request's method and path (after any API Gateway stage).
    pub method: String,
    pub path: String,
    /// Instances in a `POST /predict` (0 for other routes and refused requests).
    pub instances: usize,
    /// The instances answered with an error, by reason.
    pub rejected: BTreeMap<Reason, usize>,
}

impl Answered {
    /// How many instances were answered with an error.
    pub fn rejected_count(&self) -> usize {
        self.rejected.values().sum()
    }
}

/// Why a whole request is refused: the `reason` of its error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Refusal {
    /// The body is not JSON (or a base64 body is not valid base64 of JSON).
    NotJson,
    /// A base64-encoded body that is not valid base64.
    NotBase64,
    /// JSON of the wrong shape: not an object, or `instances` not an array.
    WrongShape,
    /// More instances than `HTTP_MAX_INSTANCES`.
    TooManyInstances,
    /// No such route.
    NotFound,
    /// The route exists, under another method.
    MethodNotAllowed,
}

impl Refusal {
    fn status(self) -> u16 {
        match self {
            Refusal::NotJson | Refusal::NotBase64 | Refusal::WrongShape => 400,
            Refusal::TooManyInstances => 413,
            Refusal::NotFound => 404,
            Refusal::MethodNotAllowed => 405,
        }
    }
}

/// `{"error":{"reason":…,"message":…}}`, for a refused request and for a rejected instance.
#[derive(Serialize)]
struct ErrorBody<'a, R: Serialize> {
    error: ErrorDetail<'a, R>,
}

#[derive(Serialize)]
struct ErrorDetail<'a, R: Serialize> {
    reason: R,
    message: Cow<'a, str>,
}

fn refuse(refusal: Refusal, message: &str) -> HttpResponse {
    refuse_with(refusal, None, message)
}

fn refuse_with(refusal: Refusal, allow: Option<&'static str>, message: &str) -> HttpResponse {
    let body = to_json(&ErrorBody {
        error: ErrorDetail {
            reason: refusal,
            message: Cow::Borrowed(message),
        },
    });
    HttpResponse::new(refusal.status(), allow, &body)
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("a response body always serializes")
}

/// The part of the payload 2.0 event the door reads; every other field is skipped unread.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default)]
    version: Option<Text<'a>>,
    #[serde(rename = "rawPath", borrow)]
    raw_path: Text<'a>,
    #[serde(rename = "requestContext", borrow)]
    request_context: RequestContext<'a>,
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: bool,
}

#[derive(Deserialize)]
struct RequestContext<'a> {
    #[serde(borrow)]
    http: HttpContext<'a>,
    /// API Gateway's stage: a named stage prefixes `rawPath`, `$default` does not.
    #[serde(borrow, default)]
    stage: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct HttpContext<'a> {
    #[serde(borrow)]
    method: Text<'a>,
}

/// Answers one Function URL / HTTP API event. Pure: the model is already loaded, nothing is
/// written.
pub fn respond(app: &App, event: &[u8]) -> Result<Answered, HttpError> {
    let event: Event<'_> = serde_json::from_slice(event).map_err(|e| HttpError::NotHttpEvent {
        detail: e.to_string(),
    })?;
    if let Some(version) = &event.version
        && version.0 != "2.0"
    {
        return Err(HttpError::NotHttpEvent {
            detail: format!(
                "payload format version {:?}; configure the integration with payload format version 2.0",
                version.0
            ),
        });
    }
    let method = event.request_context.http.method.0.into_owned();
    let path = route_path(&event.raw_path.0, event.request_context.stage.as_ref()).to_owned();
    let mut instances = 0;
    let mut rejected = BTreeMap::new();
    let response = 'response: {
        let allowed = match path.as_str() {
            "/predict" => "POST",
            "/model" | "/health" => "GET",
            other => {
                break 'response refuse(
                    Refusal::NotFound,
                    &format!("no route {method} {other}; the routes are {ROUTES}"),
                );
            }
        };
        if method != allowed {
            break 'response refuse_with(
                Refusal::MethodNotAllowed,
                Some(allowed),
                &format!("{method} is not allowed on {path}; use {allowed}"),
            );
        }
        let model = app.model();
        match path.as_str() {
            "/model" => ok(to_json(&model.describe())),
            "/health" => ok(to_json(&Health {
                status: "ok",
                model: model_ref(model),
            })),
            _ => {
                let max_instances = match app.door() {
                    Door::Http { max_instances } => max_instances,
                    Door::Stream => crate::config::DEFAULT_HTTP_MAX_INSTANCES,
                };
                match body(event.body.as_ref(), event.is_base64_encoded) {
                    Err(refused) => refused,
                    Ok(bytes) => predict(app, &bytes, max_instances, &mut instances, &mut rejected),
                }
            }
        }
    };
    Ok(Answered {
        response,
        method,
        path,
        instances,
        rejected,
    })
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    model: ModelRef<'a>,
}

fn ok(body: String) -> HttpResponse {
    HttpResponse::new(200, None, &body)
}

fn model_ref(model: &Model) -> ModelRef<'_> {
    ModelRef {
        name: model.name(),
        version: model.version(),
    }
}

/// The path the routes are matched on: without an API Gateway stage prefix (a named stage puts
/// `/<stage>` before the route) and without a trailing slash.
fn route_path<'p>(raw: &'p str, stage: Option<&Text<'_>>) -> &'p str {
    let path = match stage.map(|s| s.0.as_ref()) {
        Some(stage) if stage != "$default" => raw
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(stage))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(raw),
        _ => raw,
    };
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

/// The request body's bytes, base64-decoded when the event says so.
fn body<'b>(body: Option<&'b Text<'_>>, base64: bool) -> Result<Cow<'b, [u8]>, HttpResponse> {
    let text = body.map_or("", |b| b.0.as_ref());
    if !base64 {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Cow::Owned)
        .map_err(|e| {
            refuse(
                Refusal::NotBase64,
                &format!("the body is marked base64-encoded but is not valid base64: {e}"),
            )
        })
}

/// What the top of a `POST /predict` body is: one instance, or a batch.
enum Shape<'b> {
    /// An object without an `instances` field: the instance itself.
    One(&'b RawValue),
    /// `{"instances":[…]}`: each element, unparsed.
    Many(Vec<&'b RawValue>),
}

/// Answers a `POST /predict` body, counting its instances (once its top level is read) and the
/// instances it rejects, by reason.
fn predict(
    app: &App,
    bytes: &[u8],
    max_instances: usize,
    count: &mut usize,
    rejected: &mut BTreeMap<Reason, usize>,
) -> HttpResponse {
    let shape = match shape(bytes) {
        Ok(shape) => shape,
        Err((refusal, message)) => return refuse(refusal, &message),
    };
    let instances = match shape {
        Shape::One(instance) => vec![instance],
        Shape::Many(instances) => instances,
    };
    *count = instances.len();
    if instances.len() > max_instances {
        return refuse(
            Refusal::TooManyInstances,
            &format!(
                "{} instances in one request; at most {max_instances} are allowed (HTTP_MAX_INSTANCES)",
                instances.len()
            ),
        );
    }
    // Each instance is read where it stands in the body, straight into its row.
    let payloads: Vec<&[u8]> = instances.iter().map(|i| i.get().as_bytes()).collect();
    let model = app.model();
    let verdicts = pipeline::score_payloads(&payloads, app.spec(), model);
    let classes = model
        .typed_model()
        .map_or(&[][..], |typed| typed.scorer().classes());
    let answers = Answers {
        classes,
        model: model_ref(model),
    };
    HttpResponse::written(200, None, 64 * verdicts.len(), |out| {
        out.push(b'"');
        answers.write(out, verdicts.iter(), rejected);
        out.push(b'"');
    })
}

/// The body of a `POST /predict` answer, `{"predictions":[…],"model":{…}}`, written as the
/// contents of the response's `body` string: the bytes serde_json writes for the body, escaped
/// as serde_json escapes a string, in one pass (the structure's quotes are written `\"`, the
/// numbers as they are, and each string escaped twice). Entries have the field names of the
/// stream's prediction line; a rejected instance is `{"error":{"reason":…,"message":…}}`. The
/// tests compare it with serde_json's two passes over generated answers, byte for byte.
struct Answers<'m> {
    classes: &'m [Label],
    model: ModelRef<'m>,
}

impl Answers<'_> {
    fn write<'v>(
        &self,
        out: &mut Vec<u8>,
        verdicts: impl Iterator<Item = &'v Verdict>,
        rejected: &mut BTreeMap<Reason, usize>,
    ) {
        out.extend_from_slice(br#"{\"predictions\":["#);
        for (i, verdict) in verdicts.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match verdict {
                Verdict::Predicted { key, value } => {
                    self.entry(out, key, Predicted::Value(*value), None, &[])
                }
                Verdict::Imputed {
                    key,
                    value,
                    imputed,
                } => self.entry(out, key, Predicted::Value(*value), None, imputed),
                Verdict::Classified {
                    key,
                    class,
                    probabilities,
                    imputed,
                } => self.entry(
                    out,
                    key,
                    Predicted::Label(&self.classes[*class]),
                    probabilities.as_deref(),
                    imputed,
                ),
                Verdict::Rejected(error) => {
                    *rejected.entry(error.reason()).or_default() += 1;
                    error_item(out, error.reason(), &error.to_string());
                }
                // A JSON instance is never skipped; answered rather than lost if that changes.
                Verdict::Skipped(skip) => {
                    *rejected.entry(Reason::Internal).or_default() += 1;
                    error_item(
                        out,
                        Reason::Internal,
                        &format!("the instance was skipped ({skip:?})"),
                    );
                }
            }
        }
        out.extend_from_slice(br#"],\"model\":{\"name\":"#);
        escaped_string(out, self.model.name);
        out.extend_from_slice(br#",\"version\":"#);
        escaped_string(out, self.model.version);
        out.extend_from_slice(br#"}}"#);
    }

    fn entry(
        &self,
        out: &mut Vec<u8>,
        key: &Option<String>,
        prediction: Predicted<'_>,
        probabilities: Option<&[f64]>,
        imputed: &[String],
    ) {
        out.push(b'{');
        if let Some(key) = key {
            out.extend_from_slice(br#"\"key\":"#);
            escaped_string(out, key);
            out.push(b',');
        }
        out.extend_from_slice(br#"\"prediction\":"#);
        match prediction {
            Predicted::Value(value) => line::float(out, value),
            Predicted::Label(label) => escaped_label(out, label, false),
        }
        if let Some(values) = probabilities {
            out.extend_from_slice(br#",\"probabilities\":{"#);
            for (i, (class, p)) in self.classes.iter().zip(values).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // A map key is always a string: an integer class is written quoted.
                escaped_label(out, class, true);
                out.push(b':');
                line::float(out, *p);
            }
            out.push(b'}');
        }
        if !imputed.is_empty() {
            out.extend_from_slice(br#",\"imputed\":["#);
            for (i, name) in imputed.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                escaped_string(out, name);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

/// `{"error":{"reason":…,"message":…}}`, escaped (a reason code is plain snake_case).
fn error_item(out: &mut Vec<u8>, reason: Reason, message: &str) {
    out.extend_from_slice(br#"{\"error\":{\"reason\":\""#);
    out.extend_from_slice(reason.as_str().as_bytes());
    out.extend_from_slice(br#"\",\"message\":"#);
    escaped_string(out, message);
    out.extend_from_slice(br#"}}"#);
}

/// A class label; an integer one quoted when it is a map key.
fn escaped_label(out: &mut Vec<u8>, label: &Label, key: bool) {
    let mut digits = itoa::Buffer::new();
    let digits = match label {
        Label::Str(s) => return escaped_string(out, s),
        Label::Int(v) => digits.format(*v),
        Label::UInt(v) => digits.format(*v),
    };
    if key {
        out.extend_from_slice(br#"\""#);
    }
    out.extend_from_slice(digits.as_bytes());
    if key {
        out.extend_from_slice(br#"\""#);
    }
}

/// A JSON string as it reads inside another: `\"…\"` around a string that needs no escape,
/// and serde_json's escape of serde_json's escape for any other.
fn escaped_string(out: &mut Vec<u8>, s: &str) {
    if !line::needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 4);
        out.extend_from_slice(br#"\""#);
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(br#"\""#);
    } else {
        let mut once = Vec::with_capacity(s.len() + 8);
        line::string(&mut once, s);
        let once = String::from_utf8(once).expect("an escaped `str` is UTF-8");
        let mut twice = Vec::with_capacity(once.len() + 8);
        line::string(&mut twice, &once);
        out.extend_from_slice(&twice[1..twice.len() - 1]);
    }
}

/// Reads the top of the body: an object with an `instances` field is a batch (each element kept
/// unparsed), any other object is one instance. A batch is read in one pass over the bytes; one
/// instance, and any body that pass refuses, is read by [`shape_checked`], the reference (for a
/// refusal, its exact words).
fn shape(bytes: &[u8]) -> Result<Shape<'_>, (Refusal, String)> {
    // A `&RawValue` must be UTF-8; `shape_checked` says where a body is not.
    if std::str::from_utf8(bytes).is_err() {
        return shape_checked(bytes);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match TopLevel::deserialize(&mut de).and_then(|top| de.end().map(|()| top)) {
        Ok(TopLevel::Object {
            instances: Some(Ok(instances)),
            other: None,
        }) => Ok(Shape::Many(instances)),
        _ => shape_checked(bytes),
    }
}

/// [`shape`] in two passes: the body is checked to be JSON first, then its top level read.
fn shape_checked(bytes: &[u8]) -> Result<Shape<'_>, (Refusal, String)> {
    let whole: &RawValue = serde_json::from_slice(bytes).map_err(|e| {
        let what = if bytes.iter().all(u8::is_ascii_whitespace) {
            "the body is empty".to_owned()
        } else {
            format!("the body is not JSON: {e}")
        };
        (
            Refusal::NotJson,
            format!("{what}; send one instance as a JSON object, or {{\"instances\":[…]}}"),
        )
    })?;
    let top = TopLevel::deserialize(whole).map_err(|e| (Refusal::WrongShape, e.to_string()))?;
    match top {
        TopLevel::NotObject(found) => Err((
            Refusal::WrongShape,
            format!(
                "the body is a JSON {found}; send one instance as a JSON object, or {{\"instances\":[…]}}"
            ),
        )),
        TopLevel::Object {
            instances: None, ..
        } => Ok(Shape::One(whole)),
        TopLevel::Object {
            instances: Some(Err(found)),
            ..
        } => Err((
            Refusal::WrongShape,
            format!("`instances` is a JSON {found}; it must be an array of objects"),
        )),
        TopLevel::Object {
            instances: Some(Ok(_)),
            other: Some(other),
        } => Err((
            Refusal::WrongShape,
            format!(
                "a batch has the `instances` field alone; found `{other}` beside it (to send one instance with a feature named `instances`, wrap it: {{\"instances\":[{{…}}]}})"
            ),
        )),
        TopLevel::Object {
            instances: Some(Ok(instances)),
            other: None,
        } => Ok(Shape::Many(instances)),
    }
}

/// The body's top level, read without parsing any value but `instances`.
enum TopLevel<'b> {
    NotObject(&'static str),
    Object {
        /// The `instances` array's elements, or what it was instead of an array.
        instances: Option<Result<Vec<&'b RawValue>, &'static str>>,
        /// The first other field's name.
        other: Option<String>,
    },
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

/// What a JSON value is, by the visitor method that saw it.
macro_rules! kinds {
    ($value:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Ok(self.found("boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$value, E> {
            Ok(self.found("number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$value, E> {
            Ok(self.found("number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$value, E> {
            Ok(self.found("number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$value, E> {
            Ok(self.found("string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Ok(self.found("null"))
        }
    };
}

impl TopVisitor {
    fn found(self, kind: &'static str) -> TopLevel<'static> {
        TopLevel::NotObject(kind)
    }
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    kinds!(TopLevel<'de>);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::NotObject("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let mut instances = None;
        let mut other = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.0 == "instances" {
                if instances.is_some() {
                    return Err(de::Error::custom(
                        "field `instances` appears more than once",
                    ));
                }
                instances = Some(map.next_value::<Instances<'de>>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
                other.get_or_insert_with(|| key.0.into_owned());
            }
        }
        Ok(TopLevel::Object { instances, other })
    }
}

/// The `instances` value: its elements unparsed, or the kind of value it was instead.
struct Instances<'b>(Result<Vec<&'b RawValue>, &'static str>);

impl<'de> Deserialize<'de> for Instances<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InstancesVisitor)
    }
}

struct InstancesVisitor;

impl InstancesVisitor {
    fn found(self, kind: &'static str) -> Instances<'static> {
        Instances(Err(kind))
    }
}

impl<'de> Visitor<'de> for InstancesVisitor {
    type Value = Instances<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of instances")
    }

    kinds!(Instances<'de>);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Instances<'de>, A::Error> {
        let mut instances = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(instance) = seq.next_element::<&'de RawValue>()? {
            instances.push(instance);
        }
        Ok(Instances(Ok(instances)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Instances<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Instances(Err("object")))
    }
}

/// Everything one invocation of the HTTP door does: [`respond`] inside the invocation span (as
/// the stream's), the `request done` log line, and the request's metrics document (when
/// `METRICS` is on), returned for the caller to print.
pub async fn handle_http(
    app: &App,
    event: &[u8],
    call: Call<'_>,
) -> Result<(HttpResponse, Option<String>), HttpError> {
    let started = Instant::now();
    let (cold_start, model_load) = app.take_cold_start();
    let (model, model_version) = (app.model().name(), app.model().version());
    let span = tracing::info_span!("invocation", cold_start, model, model_version);
    let answered = async { respond(app, event) }
        .instrument(span.clone())
        .await?;
    let latency = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            source = "http",
            method = answered.method,
            path = answered.path,
            status = answered.response.status(),
            instances = answered.instances,
            rejected = answered.rejected_count(),
            "request done"
        )
    });
    let document = app.metrics().map(|metrics| {
        let request = Request {
            request_id: call.request_id,
            trace_id: call.trace,
            model,
            model_version,
            method: &answered.method,
            path: &answered.path,
            status: answered.response.status(),
            instances: answered.instances,
            rejected: &answered.rejected,
            latency,
            cold_start,
            model_load,
        };
        metrics.request_document(&request, crate::metrics::now_ms())
    });
    Ok((answered.response, document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::{Value, json};

    fn app(vars: &[(&str, &str)]) -> App {
        let mut vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.push(("DOOR".into(), "http".into()));
        let config = Config::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        App::new(&config, Model::embedded(), None).unwrap()
    }

    fn event(method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
            "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
            "body": body, "isBase64Encoded": false,
        })
        .to_string()
        .into_bytes()
    }

    fn call(app: &App, method: &str, path: &str, body: Option<&str>) -> (Answered, Value) {
        let answered = respond(app, &event(method, path, body)).unwrap();
        let value = serde_json::from_str(&answered.response.body()).unwrap();
        (answered, value)
    }

    const GOOD: &str = r#"{"age":59,"sex":2,"bmi":32.1,"bp":101,"s1":157,"s2":93.2,"s3":38,"s4":4,"s5":4.8598,"s6":87}"#;

    fn expected(instance: &str) -> f64 {
        let x: serde_json::Map<String, Value> = serde_json::from_str(instance).unwrap();
        let model = Model::embedded();
        let row: Vec<f64> = model
            .features()
            .iter()
            .map(|f| x[f].as_f64().unwrap())
            .collect();
        model.predict(ndarray::Array2::from_shape_vec((1, row.len()), row).unwrap())[0]
    }

    #[test]
    fn one_instance_is_predicted_with_the_model_named() {
        let app = app(&[]);
        let (answered, body) = call(&app, "POST", "/predict", Some(GOOD));
        assert_eq!(answered.response.status(), 200);
        assert_eq!(answered.instances, 1);
        assert_eq!(
            body,
            json!({
                "predictions": [{"prediction": expected(GOOD)}],
                "model": {"name": app.model().name(), "version": app.model().version()},
            })
        );
    }

    #[test]
    fn a_batch_answers_each_instance_in_place_with_the_stream_reason_codes() {
        let app = app(&[]);
        let keyed = GOOD.replacen('{', r#"{"id":"p-7","#, 1);
        let missing = GOOD.replace(r#""age":59,"#, "");
        let text = GOOD.replace(r#""age":59"#, r#""age":"59""#);
        let body = format!(r#"{{"instances":[{keyed},{missing},[1,2],{text},{GOOD}]}}"#);
        let (answered, body) = call(&app, "POST", "/predict", Some(&body));
        assert_eq!(answered.response.status(), 200);
        assert_eq!(answered.instances, 5);
        assert_eq!(answered.rejected_count(), 3);
        let p = body["predictions"].as_array().unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], json!({"key": "p-7", "prediction": expected(GOOD)}));
        assert_eq!(p[1]["error"]["reason"], "feature_missing");
        assert_eq!(p[1]["error"]["message"], "feature `age` is missing");
        assert_eq!(p[2]["error"]["reason"], "not_object");
        assert_eq!(p[3]["error"]["reason"], "feature_string");
        assert_eq!(p[4], json!({"prediction": expected(GOOD)}));
        assert_eq!(
            answered.rejected,
            BTreeMap::from([
                (Reason::FeatureMissing, 1),
                (Reason::NotObject, 1),
                (Reason::FeatureString, 1)
            ])
        );
    }

    #[test]
    fn features_field_and_id_field_apply_as_on_the_stream() {
        let app = app(&[("FEATURES_FIELD", "features"), ("ID_FIELD", "patient")]);
        let body = format!(r#"{{"patient":12,"features":{GOOD}}}"#);
        let (_, body) = call(&app, "POST", "/predict", Some(&body));
        assert_eq!(
            body["predictions"][0],
            json!({"key": "12", "prediction": expected(GOOD)})
        );
    }

    #[test]
    fn a_base64_body_is_decoded() {
        let app = app(&[]);
        let mut event: Value = serde_json::from_slice(&event("POST", "/predict", None)).unwrap();
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(GOOD));
        event["isBase64Encoded"] = json!(true);
        let answered = respond(&app, event.to_string().as_bytes()).unwrap();
        assert_eq!(answered.response.status(), 200);
        let body: Value = serde_json::from_str(&answered.response.body()).unwrap();
        assert_eq!(body["predictions"][0]["prediction"], json!(expected(GOOD)));

        event["body"] = json!("%%% not base64");
        let answered = respond(&app, event.to_string().as_bytes()).unwrap();
        assert_eq!(answered.response.status(), 400);
        let body: Value = serde_json::from_str(&answered.response.body()).unwrap();
        assert_eq!(body["error"]["reason"], "not_base64");
    }

    #[test]
    fn bodies_that_are_not_json_or_of_the_wrong_shape_are_400() {
        let app = app(&[]);
        for (body, reason, says) in [
            (Some("not json"), "not_json", "the body is not JSON"),
            (None, "not_json", "the body is empty"),
            (Some("  "), "not_json", "the body is empty"),
            (Some("[1,2]"), "wrong_shape", "the body is a JSON array"),
            (Some("5"), "wrong_shape", "the body is a JSON number"),
            (
                Some(r#"{"instances":{"age":1}}"#),
                "wrong_shape",
                "`instances` is a JSON object",
            ),
            (
                Some(r#"{"instances":[],"extra":1}"#),
                "wrong_shape",
                "found `extra` beside it",
            ),
            (
                Some(r#"{"instances":[],"instances":[]}"#),
                "wrong_shape",
                "appears more than once",
            ),
        ] {
            let (answered, value) = call(&app, "POST", "/predict", body);
            assert_eq!(answered.response.status(), 400, "{body:?}");
            assert_eq!(value["error"]["reason"], reason, "{body:?}");
            let message = value["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{body:?}: {message}");
        }
    }

    #[test]
    fn more_instances_than_the_configured_limit_is_413() {
        let app = app(&[("HTTP_MAX_INSTANCES", "2")]);
        let two = format!(r#"{{"instances":[{GOOD},{GOOD}]}}"#);
        assert_eq!(
            call(&app, "POST", "/predict", Some(&two))
                .0
                .response
                .status(),
            200
        );
        let three = format!(r#"{{"instances":[{GOOD},{GOOD},{GOOD}]}}"#);
        let (answered, body) = call(&app, "POST", "/predict", Some(&three));
        assert_eq!(answered.response.status(), 413);
        assert_eq!(body["error"]["reason"], "too_many_instances");
        assert_eq!(
            body["error"]["message"],
            "3 instances in one request; at most 2 are allowed (HTTP_MAX_INSTANCES)"
        );
        let (answered, body) = call(&app, "POST", "/predict", Some(r#"{"instances":[]}"#));
        assert_eq!(
            (answered.response.status(), body["predictions"].clone()),
            (200, json!([]))
        );
    }

    #[test]
    fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
        let app = app(&[]);
        let (answered, body) = call(&app, "GET", "/nope", None);
        assert_eq!(
            (answered.response.status(), answered.response.allow()),
            (404, None)
        );
        assert_eq!(body["error"]["reason"], "not_found");
        assert!(body["error"]["message"].as_str().unwrap().contains(ROUTES));
        for (method, path, allow) in [
            ("GET", "/predict", "POST"),
            ("PUT", "/predict", "POST"),
            ("POST", "/model", "GET"),
            ("DELETE", "/health", "GET"),
        ] {
            let (answered, body) = call(&app, method, path, Some(GOOD));
            assert_eq!(answered.response.status(), 405, "{method} {path}");
            assert_eq!(
                answered.response.allow().as_deref(),
                Some(allow),
                "{method} {path}"
            );
            assert_eq!(body["error"]["reason"], "method_not_allowed");
        }
    }

    #[test]
    fn model_and_health_describe_the_loaded_model() {
        let app = app(&[]);
        let (answered, body) = call(&app, "GET", "/model", None);
        assert_eq!(answered.response.status(), 200);
        assert_eq!(body, app.model().describe());
        let (answered, body) = call(&app, "GET", "/health/", None);
        assert_eq!(answered.response.status(), 200);
        assert_eq!(answered.path, "/health");
        assert_eq!(
            body,
            json!({"status": "ok", "model": {"name": app.model().name(), "version": app.model().version()}})
        );
    }

    #[test]
    fn the_response_is_a_function_url_response_with_a_json_content_type() {
        let response = HttpResponse::new(405, Some("GET"), "{}");
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"statusCode": 405, "headers": {"content-type": "application/json", "allow": "GET"}, "body": "{}", "isBase64Encoded": false, "cookies": []})
        );
        assert_eq!(
            response.json(),
            r#"{"statusCode":405,"headers":{"content-type":"application/json","allow":"GET"},"body":"{}","isBase64Encoded":false,"cookies":[]}"#
        );
        // What lambda_runtime posts (serde_json::to_vec of the handler's answer): the text as it
        // is, not a string holding it.
        assert_eq!(
            serde_json::to_vec(&response).unwrap(),
            response.json().as_bytes()
        );
        let answer = crate::runtime::Answer::Http(response.clone());
        assert_eq!(
            serde_json::to_vec(&answer).unwrap(),
            response.json().as_bytes()
        );
        let ok = serde_json::to_value(ok("[]".into())).unwrap();
        assert_eq!(ok["headers"], json!({"content-type": "application/json"}));
    }

    /// The serde path the door answered with before [`Answers`], kept as the reference: the body
    /// by serde_json, then the response by serde_json again (as lambda_runtime serialized it),
    /// each instance a stream record.
    mod reference {
        use super::super::*;
        use crate::sink::Probabilities;
        use crate::source::{Input, Meta, Record};

        #[derive(Serialize)]
        struct Predictions<'a> {
            predictions: Vec<Item<'a>>,
            model: ModelRef<'a>,
        }

        #[derive(Serialize)]
        #[serde(untagged)]
        enum Item<'a> {
            Predicted(Entry<'a>),
            Error(ErrorBody<'a, Reason>),
        }

        #[derive(Serialize)]
        struct Entry<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            key: Option<&'a str>,
            prediction: Predicted<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            probabilities: Option<Probabilities<'a>>,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            imputed: &'a [String],
        }

        struct Response<'a> {
            status: u16,
            allow: Option<&'static str>,
            body: &'a str,
        }

        impl Serialize for Response<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                #[derive(Serialize)]
                struct Headers {
                    #[serde(rename = "content-type")]
                    content_type: &'static str,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    allow: Option<&'static str>,
                }
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("statusCode", &self.status)?;
                map.serialize_entry(
                    "headers",
                    &Headers {
                        content_type: "application/json",
                        allow: self.allow,
                    },
                )?;
                map.serialize_entry("body", &self.body)?;
                map.serialize_entry("isBase64Encoded", &false)?;
                map.serialize_entry("cookies", &Vec::<&str>::new())?;
                map.end()
            }
        }

        /// The bytes lambda_runtime posted for a response.
        pub fn response(status: u16, allow: Option<&'static str>, body: &str) -> Vec<u8> {
            serde_json::to_vec(&Response {
                status,
                allow,
                body,
            })
            .unwrap()
        }

        /// A `POST /predict` answer's body, and the rejected instances by reason.
        pub fn body(
            verdicts: &[Verdict],
            classes: &[Label],
            model: ModelRef<'_>,
        ) -> (String, BTreeMap<Reason, usize>) {
            let mut counts = BTreeMap::new();
            let mut rejected = |reason: Reason, message: String| {
                *counts.entry(reason).or_default() += 1;
                Item::Error(ErrorBody {
                    error: ErrorDetail {
                        reason,
                        message: Cow::Owned(message),
                    },
                })
            };
            fn entry<'a>(key: &'a Option<String>, prediction: Predicted<'a>) -> Entry<'a> {
                Entry {
                    key: key.as_deref(),
                    prediction,
                    probabilities: None,
                    imputed: &[],
                }
            }
            let predictions: Vec<Item<'_>> = verdicts
                .iter()
                .map(|verdict| match verdict {
                    Verdict::Predicted { key, value } => {
                        Item::Predicted(entry(key, Predicted::Value(*value)))
                    }
                    Verdict::Imputed {
                        key,
                        value,
                        imputed,
                    } => Item::Predicted(Entry {
                        imputed,
                        ..entry(key, Predicted::Value(*value))
                    }),
                    Verdict::Classified {
                        key,
                        class,
                        probabilities,
                        imputed,
                    } => Item::Predicted(Entry {
                        probabilities: probabilities
                            .as_deref()
                            .map(|values| Probabilities { classes, values }),
                        imputed,
                        ..entry(key, Predicted::Label(&classes[*class]))
                    }),
                    Verdict::Rejected(error) => rejected(error.reason(), error.to_string()),
                    Verdict::Skipped(skip) => rejected(
                        Reason::Internal,
                        format!("the instance was skipped ({skip:?})"),
                    ),
                })
                .collect();
            let body = to_json(&Predictions { predictions, model });
            (body, counts)
        }

        /// A `POST /predict` of `bytes`: the response's bytes, and the rejected instances.
        pub fn predict(
            app: &App,
            bytes: &[u8],
            max_instances: usize,
        ) -> (Vec<u8>, BTreeMap<Reason, usize>) {
            let refused = |refusal: Refusal, message: &str| {
                let body = to_json(&ErrorBody {
                    error: ErrorDetail {
                        reason: refusal,
                        message: Cow::Borrowed(message),
                    },
                });
                (response(refusal.status(), None, &body), BTreeMap::new())
            };
            let instances = match shape_checked(bytes) {
                Ok(Shape::One(instance)) => vec![instance],
                Ok(Shape::Many(instances)) => instances,
                Err((refusal, message)) => return refused(refusal, &message),
            };
            if instances.len() > max_instances {
                return refused(
                    Refusal::TooManyInstances,
                    &format!(
                        "{} instances in one request; at most {max_instances} are allowed (HTTP_MAX_INSTANCES)",
                        instances.len()
                    ),
                );
            }
            let records = instances
                .iter()
                .map(|instance| Record {
                    meta: Meta::default(),
                    input: Input::Json(instance.get().as_bytes().to_vec()),
                })
                .collect();
            let model = app.model();
            let scored = pipeline::score_records(records, app.spec(), model);
            let verdicts: Vec<Verdict> = scored.into_iter().map(|s| s.verdict).collect();
            let classes = model
                .typed_model()
                .map_or(&[][..], |typed| typed.scorer().classes());
            let (body, rejected) = self::body(&verdicts, classes, model_ref(model));
            (response(200, None, &body), rejected)
        }
    }

    /// Characters that exercise every escape serde_json knows, and none.
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', ' ', '-', '_', ':', '"', '\\', '/', '\u{0}', '\u{1}', '\u{8}', '\t', '\n',
        '\u{c}', '\r', '\u{1f}', '\u{7f}', 'é', '€', '\u{2028}', '😀',
    ];

    fn text(rng: &mut fastrand::Rng) -> String {
        let plain = rng.bool();
        (0..rng.usize(..24))
            .map(|_| match plain {
                true => ALPHABET[rng.usize(..6)],
                false => ALPHABET[rng.usize(..ALPHABET.len())],
            })
            .collect()
    }

    fn label(rng: &mut fastrand::Rng) -> Label {
        match rng.u8(..4) {
            0 => Label::Int(rng.i64(..)),
            1 => Label::UInt(rng.u64(i64::MAX as u64 + 1..)),
            _ => Label::Str(text(rng)),
        }
    }

    fn float(rng: &mut fastrand::Rng) -> f64 {
        match rng.u8(..6) {
            0 => [f64::NAN, f64::INFINITY, -0.0, 1e21, 5e-324][rng.usize(..5)],
            1 => f64::from_bits(rng.u64(..)),
            _ => (rng.f64() - 0.5) * 10f64.powi(rng.i32(-20..20)),
        }
    }

    fn verdict(rng: &mut fastrand::Rng, classes: usize) -> Verdict {
        let key = rng.bool().then(|| text(rng));
        let imputed: Vec<String> = (0..rng.usize(..3)).map(|_| text(rng)).collect();
        match rng.u8(..6) {
            0 => Verdict::Predicted {
                key,
                value: float(rng),
            },
            1 => Verdict::Imputed {
                key,
                value: float(rng),
                imputed,
            },
            2 if classes > 0 => Verdict::Classified {
                key,
                class: rng.usize(..classes),
                probabilities: rng
                    .bool()
                    .then(|| (0..classes).map(|_| float(rng)).collect()),
                imputed,
            },
            3 => {
                Verdict::Rejected(pipeline::RecordError::PredictionNotFinite { value: float(rng) })
            }
            4 => Verdict::Skipped(crate::source::SkipReason::Remove),
            _ => Verdict::Predicted {
                key,
                value: rng.f64() * 300.0,
            },
        }
    }

    #[test]
    fn answers_are_byte_identical_to_the_serde_path_on_generated_verdicts() {
        let mut rng = fastrand::Rng::with_seed(14);
        for _ in 0..20_000 {
            let classes: Vec<Label> = (0..rng.usize(..4)).map(|_| label(&mut rng)).collect();
            let verdicts: Vec<Verdict> = (0..rng.usize(..6))
                .map(|_| verdict(&mut rng, classes.len()))
                .collect();
            let (name, version) = (text(&mut rng), text(&mut rng));
            let model = ModelRef {
                name: &name,
                version: &version,
            };
            let (body, expected_rejected) = reference::body(&verdicts, &classes, model);
            let mut rejected = BTreeMap::new();
            let answers = Answers {
                classes: &classes,
                model,
            };
            let response = HttpResponse::written(200, None, 0, |out| {
                out.push(b'"');
                answers.write(out, verdicts.iter(), &mut rejected);
                out.push(b'"');
            });
            assert_eq!(
                response.json(),
                String::from_utf8(reference::response(200, None, &body)).unwrap(),
                "{verdicts:?}"
            );
            assert_eq!(response.body(), body);
            assert_eq!(rejected, expected_rejected);
            let allow = [None, Some("GET"), Some("POST")][rng.usize(..3)];
            let status = [200, 400, 404, 405, 413][rng.usize(..5)];
            assert_eq!(
                HttpResponse::new(status, allow, &body).json().as_bytes(),
                reference::response(status, allow, &body)
            );
        }
    }

    /// A generated instance for a model with these inputs: mostly valid, sometimes with a
    /// feature missing, null or of the wrong type, a key of any kind, extra fields, or not an
    /// object at all.
    fn instance(rng: &mut fastrand::Rng, inputs: &[(String, Value)]) -> String {
        if rng.u8(..24) == 0 {
            return ["[1,2]", "\"x\"", "5", "null", "{}"][rng.usize(..5)].to_owned();
        }
        let mut fields: Vec<String> = Vec::new();
        for (name, valid) in inputs {
            let value = match rng.u8(..30) {
                0 => continue,
                1 => "null".to_owned(),
                2 => serde_json::to_string(&text(rng)).unwrap(),
                3 => "true".to_owned(),
                4 => "1e400".to_owned(),
                5 => "[1]".to_owned(),
                _ => valid.to_string(),
            };
            fields.push(format!("\"{name}\":{value}"));
        }
        match rng.u8(..5) {
            0 => fields.push(format!(
                "\"id\":{}",
                serde_json::to_string(&text(rng)).unwrap()
            )),
            1 => fields.push(format!("\"id\":{}", rng.i64(..))),
            2 => fields.push(format!("\"id\":\"patient-{:06}\"", rng.u32(..1_000_000))),
            _ => {}
        }
        if rng.u8(..4) == 0 {
            fields.push(format!(
                "{}:{{\"a\":[1,2]}}",
                serde_json::to_string(&text(rng)).unwrap()
            ));
        }
        rng.shuffle(&mut fields);
        let space = [" ", "", "\n", ""][rng.usize(..4)];
        format!("{{{space}{}}}", fields.join(&format!(",{space}")))
    }

    fn body(rng: &mut fastrand::Rng, inputs: &[(String, Value)]) -> String {
        let n = rng.usize(..8);
        let instances: Vec<String> = (0..n).map(|_| instance(rng, inputs)).collect();
        let body = match rng.u8(..10) {
            0 => instance(rng, inputs),
            1 => format!(" {{ \"instances\" : [ {} ] }} ", instances.join(" , ")),
            2 => format!(r#"{{"instances":[{}],"extra":1}}"#, instances.join(",")),
            3 => format!(
                r#"{{"other":[1,{{"x":"y"}}],"instances":[{}]}}"#,
                instances.join(",")
            ),
            4 => format!(
                r#"{{"instances":[{}],"instances":[]}}"#,
                instances.join(",")
            ),
            _ => format!(r#"{{"instances":[{}]}}"#, instances.join(",")),
        };
        if rng.u8(..12) == 0 {
            // Cut short, or with something after the end.
            let cut = rng.usize(..=body.len());
            return match rng.bool() {
                true if body.is_char_boundary(cut) => body[..cut].to_owned(),
                _ => format!("{body} x"),
            };
        }
        body
    }

    fn fixture(name: &str) -> (Model, Vec<(String, Value)>) {
        let path = format!(
            "{}/tests/fixtures/model/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut artifact: crate::model::schema::Artifact =
            serde_json::from_value(fixture["artifact"].clone()).unwrap();
        // A fixture declares no version; a model file's is the hash of its contents.
        artifact.version = Some(crate::model::typed_content_hash(&artifact));
        let model = Model::from_json(&serde_json::to_string(&artifact).unwrap(), name).unwrap();
        let row = fixture["rows"][0].as_object().unwrap();
        (
            model,
            row.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        )
    }

    #[test]
    fn predict_answers_are_byte_identical_to_the_serde_path_on_generated_requests() {
        let config = Config::from_lookup(|name| (name == "DOOR").then(|| "http".into())).unwrap();
        let embedded: Vec<(String, Value)> = serde_json::from_str::<serde_json::Map<_, _>>(GOOD)
            .unwrap()
            .into_iter()
            .collect();
        let models = [
            (Model::embedded(), embedded),
            fixture("table_logistic"),
            fixture("table_regression"),
            fixture("iris_multinomial"),
        ];
        let mut rng = fastrand::Rng::with_seed(1000);
        for (model, inputs) in models {
            let app = App::new(&config, model, None).unwrap();
            for _ in 0..1_500 {
                let body = body(&mut rng, &inputs);
                let max = [1000, 3][rng.usize(..2)];
                let (expected, expected_rejected) = reference::predict(&app, body.as_bytes(), max);
                let (mut instances, mut rejected) = (0, BTreeMap::new());
                let response = predict(&app, body.as_bytes(), max, &mut instances, &mut rejected);
                assert_eq!(
                    response.json(),
                    String::from_utf8(expected).unwrap(),
                    "{body}"
                );
                assert_eq!(rejected, expected_rejected, "{body}");
            }
        }
    }

    #[test]
    fn an_api_gateway_stage_prefix_is_not_part_of_the_route() {
        let stage = Text(Cow::Borrowed("prod"));
        assert_eq!(route_path("/prod/predict", Some(&stage)), "/predict");
        assert_eq!(
            route_path("/production/predict", Some(&stage)),
            "/production/predict"
        );
        let default = Text(Cow::Borrowed("$default"));
        assert_eq!(route_path("/predict/", Some(&default)), "/predict");
        assert_eq!(route_path("/", None), "/");
    }

    #[test]
    fn an_event_that_is_not_an_http_request_is_an_invocation_error() {
        let app = app(&[]);
        let error = respond(&app, br#"{"Records":[]}"#).unwrap_err();
        assert_eq!(error.code(), "NotHttpEvent");
        assert!(
            error.to_string().contains("missing field `rawPath`"),
            "{error}"
        );
        let mut v1: Value = serde_json::from_slice(&event("POST", "/predict", Some(GOOD))).unwrap();
        v1["version"] = json!("1.0");
        let error = respond(&app, v1.to_string().as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("payload format version \"1.0\""),
            "{error}"
        );
    }
}
