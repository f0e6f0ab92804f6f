//! The admin API's OpenAPI document (`GET /api/v1/openapi.json`): served
//! without a token, a valid OpenAPI 3.1 document (checked against the
//! official schema, vendored in `tests/data/`), naming exactly the routes
//! the server registers, each error answer with its stable codes, and
//! describing the answers the server really gives.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;

/// The official OpenAPI 3.1 schema, version 2022-10-07, as published in
/// OAI/OpenAPI-Specification `schemas/v3.1/schema.json` at commit
/// 157a4c81ae537ef793b2bee368bc00d88b461de8 (Apache-2.0). It checks the
/// document's structure; the schemas inside are checked by compiling them.
const OAS_3_1_SCHEMA: &str = include_str!("../data/openapi-3.1-schema-2022-10-07.json");
const OAS_3_1_SCHEMA_ID: &str = "https://spec.openapis.org/oas/3.1/schema/2022-10-07";

/// Where the tests file the document for `$ref`s (never fetched).
const DOC_URL: &str = "http://lnurld.invalid/openapi.json";

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The document, fetched without a token.
async fn document(app: &TestApp) -> Value {
    let res = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "served without a token");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.expect("JSON document")
}

/// Every documented operation: (METHOD, path pattern).
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// `pattern` with each `{param}` filled by a value of the right shape that
/// names nothing.
fn fill(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{payment_hash}" => "00".repeat(32),
            s if s.starts_with('{') => "wl_000000000000000000000000".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn routes_and_document_agree(db: TestDb) {
    // Without limits: the probe below sends many requests without a token.
    let app = TestApp::start_with(&db, Node::Dev, |c| c.limits.enabled = false).await;
    let doc = document(&app).await;

    let registered: BTreeSet<(String, String)> = lnurld::web::admin::routes()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    let documented = documented(&doc);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert!(registered.len() > 20, "{registered:?}");

    // Each documented operation reaches a handler of the running server
    // (the router's own 404/405 have no JSON body), and asks for a token
    // exactly when the document says it does.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let needs_token = op["security"] == json!([{"bearer": []}]);
        let url = app.url(&fill(path));
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let with_body = |rb: reqwest::RequestBuilder| {
            if m == Method::POST || m == Method::PATCH {
                rb.json(&json!({}))
            } else {
                rb
            }
        };
        let res = with_body(app.http.request(m.clone(), &url).bearer_auth(&app.token))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Result<Value, _> = res.json().await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && body.is_ok(),
            "{method} {path}: {status}, not a handler's answer"
        );
        let anonymous = with_body(app.http.request(m.clone(), &url))
            .send()
            .await
            .unwrap();
        if needs_token {
            assert_eq!(anonymous.status(), 401, "{method} {path}");
            let body: Value = anonymous.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        } else {
            assert_eq!(op["security"], json!([{}]), "{method} {path}");
            assert_eq!(anonymous.status(), 200, "{method} {path}");
        }
    }
    app.stop(true).await;
}

async fn document_is_valid_openapi_3_1(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let doc = document(&app).await;
    app.stop(true).await;

    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let oas: Value = serde_json::from_str(OAS_3_1_SCHEMA).unwrap();
    compiler.add_resource(OAS_3_1_SCHEMA_ID, oas).unwrap();
    let index = compiler.compile(OAS_3_1_SCHEMA_ID, &mut schemas).unwrap();
    if let Err(e) = schemas.validate(&doc, index) {
        panic!("not a valid OpenAPI 3.1 document: {e:#}");
    }
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    // Every schema in it compiles as JSON Schema 2020-12 (OpenAPI 3.1's
    // dialect), with its `$ref`s resolved.
    let mut compiler = doc_compiler(&doc);
    let mut compiled = boon::Schemas::new();
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        compiler
            .compile(
                &format!("{DOC_URL}#/components/schemas/{name}"),
                &mut compiled,
            )
            .unwrap_or_else(|e| panic!("schema {name}: {e:#}"));
    }

    let ids: Vec<&str> = documented(&doc)
        .iter()
        .map(|(m, p)| {
            doc["paths"][p][m.to_lowercase()]["operationId"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "operationIds are unique: {ids:?}"
    );

    // The codes: the schema enum is the server's closed set, each error
    // answer lists some of them, and together they list every one.
    let all: BTreeSet<&str> = lnurld::service::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let in_enum: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(in_enum, all);
    let mut listed = BTreeSet::new();
    for (name, res) in doc["components"]["responses"].as_object().unwrap() {
        let codes = res["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
            ["properties"]["code"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} lists its codes: {res}"));
        assert!(!codes.is_empty(), "{name}");
        for c in codes {
            let c = c.as_str().unwrap();
            assert!(
                res["description"].as_str().unwrap().contains(c),
                "{name}: {c}"
            );
            listed.insert(c.to_owned());
        }
    }
    assert_eq!(
        listed.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        all
    );
    // Every error answer of every operation is one of those.
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        for (status, res) in op["responses"].as_object().unwrap() {
            if status.starts_with('2') {
                continue;
            }
            let r = res["$ref"].as_str().unwrap_or_default();
            assert!(
                r.starts_with("#/components/responses/"),
                "{method} {path} {status}: {res}"
            );
        }
        if op["security"] != json!([{}]) {
            for status in ["401", "429", "500", "503"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}

/// A compiler that knows the document, for its schemas' `$ref`s.
fn doc_compiler(doc: &Value) -> boon::Compiler {
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler.enable_format_assertions();
    compiler.add_resource(DOC_URL, doc.clone()).unwrap();
    compiler
}

/// JSON pointer escaping of one token.
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Checks `body`, answered with `status` by `method path`, against the
/// schema the document gives that answer.
fn check_answer(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let status = status.as_u16().to_string();
    let res = &doc["paths"][path][method]["responses"][&status];
    assert!(!res.is_null(), "{method} {path} documents no {status}");
    let pointer = match res["$ref"].as_str() {
        Some(r) => format!("{r}/content/application~1json/schema"),
        None => format!(
            "#/paths/{}/{method}/responses/{status}/content/application~1json/schema",
            esc(path)
        ),
    };
    let mut compiler = doc_compiler(doc);
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(&format!("{DOC_URL}{pointer}"), &mut schemas)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: {e:#}"));
    if let Err(e) = schemas.validate(body, index) {
        panic!("{method} {path} {status}: the answer does not match the document: {e:#}\n{body:#}");
    }
}

/// Checks a request body against the document's `requestBody` of `method
/// path`.
fn check_request(doc: &Value, method: &str, path: &str, body: &Value) {
    let pointer = format!(
        "#/paths/{}/{method}/requestBody/content/application~1json/schema",
        esc(path)
    );
    let mut compiler = doc_compiler(doc);
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(&format!("{DOC_URL}{pointer}"), &mut schemas)
        .unwrap_or_else(|e| panic!("{method} {path} request: {e:#}"));
    if let Err(e) = schemas.validate(body, index) {
        panic!("{method} {path}: the request does not match the document: {e:#}\n{body:#}");
    }
}

/// `api(method, path, body)` after checking `body` against the document.
async fn send(
    app: &TestApp,
    doc: &Value,
    method: Method,
    path: &str,
    pattern: &str,
    body: Value,
) -> (StatusCode, Value) {
    check_request(doc, &method.as_str().to_lowercase(), pattern, &body);
    app.api(method, path, Some(body)).await
}

async fn answers_match_the_document(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let doc = document(&app).await;

    let links = "/api/v1/withdraw-links";
    let (s, link) = send(
        &app,
        &doc,
        Method::POST,
        links,
        links,
        json!({"min_msat": 1000, "max_msat": 5000, "title": "t",
            "expires_at": "2099-01-01T00:00:00Z", "external_id": "x-1"}),
    )
    .await;
    check_answer(&doc, "post", "/api/v1/withdraw-links", s, &link);
    let id = link["id"].as_str().unwrap();
    let (s, v) = app
        .api(Method::GET, &format!("/api/v1/withdraw-links/{id}"), None)
        .await;
    check_answer(&doc, "get", "/api/v1/withdraw-links/{id}", s, &v);
    let (s, v) = app.api(Method::GET, "/api/v1/withdraw-links", None).await;
    check_answer(&doc, "get", "/api/v1/withdraw-links", s, &v);

    let batches = "/api/v1/withdraw-links/batch";
    let (s, v) = send(
        &app,
        &doc,
        Method::POST,
        batches,
        batches,
        json!({"count": 2, "min_msat": 1000, "max_msat": 1000, "uses": 1}),
    )
    .await;
    check_answer(&doc, "post", "/api/v1/withdraw-links/batch", s, &v);
    let batch = v["batch_id"].as_str().unwrap();
    let (s, v) = app
        .api(
            Method::GET,
            &format!("/api/v1/withdraw-links/batch/{batch}"),
            None,
        )
        .await;
    check_answer(
        &doc,
        "get",
        "/api/v1/withdraw-links/batch/{batch_id}",
        s,
        &v,
    );
    let (s, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/withdraw-links/batch/{batch}/sheet-url"),
            None,
        )
        .await;
    check_answer(
        &doc,
        "post",
        "/api/v1/withdraw-links/batch/{batch_id}/sheet-url",
        s,
        &v,
    );

    let pay_links = "/api/v1/pay-links";
    let (s, v) = send(
        &app,
        &doc,
        Method::POST,
        pay_links,
        pay_links,
        json!({"min_msat": 1000, "max_msat": 5000, "description": "d",
            "username": "alice", "success_action": {"tag": "message", "message": "hi"},
            "payer_data": {"name": {"mandatory": false}}}),
    )
    .await;
    check_answer(&doc, "post", pay_links, s, &v);
    let pay_id = v["id"].as_str().unwrap();
    let (s, v) = send(
        &app,
        &doc,
        Method::PATCH,
        &format!("{pay_links}/{pay_id}"),
        "/api/v1/pay-links/{id}",
        json!({"long_description": null, "comment_allowed": 100}),
    )
    .await;
    check_answer(&doc, "patch", "/api/v1/pay-links/{id}", s, &v);
    assert_eq!(v["comment_allowed"], 100, "{v}");
    let (s, v) = app.api(Method::GET, "/api/v1/pay-links", None).await;
    check_answer(&doc, "get", "/api/v1/pay-links", s, &v);
    let (s, v) = app.api(Method::GET, "/api/v1/node", None).await;
    check_answer(&doc, "get", "/api/v1/node", s, &v);
    let (s, v) = app.api(Method::GET, "/api/v1/tokens", None).await;
    check_answer(&doc, "get", "/api/v1/tokens", s, &v);

    // Errors: each against the answer of its status.
    let (s, v) = app
        .api(Method::POST, links, Some(json!({"min_msat": 1})))
        .await;
    assert_eq!(s, 400, "{v}");
    check_answer(&doc, "post", "/api/v1/withdraw-links", s, &v);
    let (s, v) = app
        .api(
            Method::GET,
            "/api/v1/pay-links/pl_000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    check_answer(&doc, "get", "/api/v1/pay-links/{id}", s, &v);
    let res = app
        .http
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .unwrap();
    let s = res.status();
    let v: Value = res.json().await.unwrap();
    check_answer(&doc, "get", "/api/v1/events", s, &v);
    app.stop(true).await;
}

crate::both_dbs!(
    routes_and_document_agree,
    document_is_valid_openapi_3_1,
    answers_match_the_document
);
