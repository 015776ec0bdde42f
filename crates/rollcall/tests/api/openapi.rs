//! The API contract (issue 16, SPEC §12): `/openapi.json` is an OpenAPI 3.1
//! document generated from the handlers; every route the server registers is in
//! it; schemathesis finds no server error and no answer that differs from it;
//! `/docs` is an interactive reference served from embedded assets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::TestServer;

/// The server crate's sources whose `.route(…)` calls make the router, each
/// with whether it is the dashboard's (`src/ui/`). The dashboard's HTML pages
/// are not part of the API document (cookie-authenticated pages for browsers);
/// every other route must be documented.
fn server_sources() -> Vec<(PathBuf, bool)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rollcall-server/src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let dashboard = path.starts_with(root.join("ui"));
                files.push((path, dashboard));
            }
        }
    }
    files.sort();
    files
}

/// The text of the balanced parenthesised argument list starting at `open`
/// (the index of its `(`), without the parentheses.
fn balanced(text: &str, open: usize) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses after byte {open}");
}

/// Every `(path, method)` the router registers, read from the `.route(path,
/// method_router)` calls of the server's sources: the path is a string literal
/// or a `const` of the same file; the methods are the `get(`/`post(`/… calls of
/// the method router. Axum offers no way to list a router's routes, so the
/// sources are the list: a new `.route` without docs fails the coverage test.
/// `(path, method)` pairs.
type Routes = BTreeSet<(String, String)>;

/// Returns the API's routes and the dashboard's.
fn registered_routes() -> (Routes, Routes) {
    let (mut api, mut dashboard) = (BTreeSet::new(), BTreeSet::new());
    for (file, is_dashboard) in server_sources() {
        let routes = if is_dashboard {
            &mut dashboard
        } else {
            &mut api
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        let mut from = 0;
        while let Some(at) = text[from..].find(".route(") {
            let open = from + at + ".route".len();
            let args = balanced(&text, open);
            from = open + args.len();
            let (first, rest) = args.split_once(',').unwrap_or_else(|| {
                panic!("{}: .route({args}) without a method router", file.display())
            });
            let first = first.trim();
            let path = if let Some(literal) = first.strip_prefix('"') {
                literal.trim_end_matches('"').to_string()
            } else {
                const_value(&text, first).unwrap_or_else(|| {
                    panic!("{}: cannot resolve route path {first}", file.display())
                })
            };
            let methods = method_calls(rest);
            assert!(
                !methods.is_empty(),
                "{}: no method in .route({args})",
                file.display()
            );
            for method in methods {
                routes.insert((path.clone(), method));
            }
        }
    }
    (api, dashboard)
}

/// The value of `const NAME: &str = "…";` in `text`.
fn const_value(text: &str, name: &str) -> Option<String> {
    let name = name.rsplit("::").next()?;
    let decl = format!("const {name}: &str = \"");
    let start = text.find(&decl)? + decl.len();
    let end = text[start..].find('"')?;
    Some(text[start..start + end].to_string())
}

/// The HTTP methods of a method router expression (`get(a).post(b)`,
/// `axum::routing::delete(c)`).
fn method_calls(expr: &str) -> BTreeSet<String> {
    let mut methods = BTreeSet::new();
    let bytes = expr.as_bytes();
    for method in ["get", "post", "put", "patch", "delete"] {
        let mut from = 0;
        while let Some(at) = expr[from..].find(&format!("{method}(")) {
            let start = from + at;
            let before = start.checked_sub(1).map(|i| bytes[i]);
            // A whole word: `get(` or `.get(` or `routing::get(`, not `budget(`.
            if before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_')) {
                methods.insert(method.to_string());
            }
            from = start + method.len();
        }
    }
    methods
}

/// The `(path, method)` operations of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.insert((path.clone(), method.to_string()));
            }
        }
    }
    ops
}

async fn fetch_document(server: &TestServer) -> Value {
    let response = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.json().await.expect("JSON document")
}

#[tokio::test]
async fn every_registered_route_is_documented_and_nothing_else() {
    let server = TestServer::start().await;
    let doc = fetch_document(&server).await;
    let (routes, dashboard) = registered_routes();
    // The scan itself must see the routes we know exist (a broken scan would
    // otherwise pass vacuously).
    for known in [
        ("/healthz", "get"),
        ("/oauth2/token", "post"),
        ("/admin/v1/credentials/{id}", "delete"),
        ("/services/push/v1/customer/apps/{app_id}/users", "delete"),
    ] {
        assert!(
            routes.contains(&(known.0.to_string(), known.1.to_string())),
            "the route scan missed {known:?}"
        );
    }
    let ops = documented(&doc);
    let missing: Vec<String> = routes
        .difference(&ops)
        .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let all: BTreeSet<_> = routes.union(&dashboard).cloned().collect();
    let extra: Vec<String> = ops
        .difference(&all)
        .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} routes are not in /openapi.json; annotate each handler with #[utoipa::path] \
         and list it in its module's doc():\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
    assert!(
        extra.is_empty(),
        "/openapi.json documents operations the router does not have:\n  {}",
        extra.join("\n  ")
    );
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_security_schemes_and_the_error_body() {
    let server = TestServer::start().await;
    let doc = fetch_document(&server).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        "/oauth2/token"
    );
    assert!(schemes["oauth2"]["flows"]["clientCredentials"]["scopes"]["report.read"].is_string());
    assert_eq!(schemes["writeKey"]["scheme"], "basic");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    let required: BTreeSet<&str> = error["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message", "success"]));
    // Every operation answers its errors with the error body, and a public one
    // says so by an empty security requirement.
    let mut seen = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let unprocessable = &op["responses"]["422"]["content"]["application/json"]["schema"];
            assert_eq!(
                unprocessable["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path}: 422 without the error body"
            );
            seen.insert(format!("{method} {path}"), op["security"].clone());
        }
    }
    assert_eq!(seen["get /healthz"], serde_json::json!([{}]));
    assert_eq!(seen["post /oauth2/token"], serde_json::json!([{}]));
    // An authenticated operation inherits the document's requirements.
    assert!(seen["get /admin/v1/settings"].is_null());
    assert_eq!(doc["security"].as_array().map(Vec::len), Some(3));
}

/// Operations that would cut the run's own credential off (revoking it,
/// removing or demoting its web user, a rate limit of one request a second):
/// fuzzed after everything else, each group with a fresh key.
const SELF_HARMING: &str = "^/admin/v1/(credentials/\\{id\\}|consumers/\\{id\\}|settings)$";
const SELF_HARMING_GROUPS: [&str; 2] = [
    "^/admin/v1/(consumers/\\{id\\}|settings)$",
    "^/admin/v1/credentials/\\{id\\}$",
];

/// Most examples schemathesis generates per operation and phase: bounds the
/// run's time (about 45 s on two cores for the whole API, ~6,000 requests).
const MAX_EXAMPLES: &str = "12";

/// Runs schemathesis against `base` with `key`; returns its exit status and output.
pub(crate) async fn schemathesis(base: &str, key: &str, filter: &[&str]) -> (bool, String) {
    let python = crate::common::python();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi");
    let st = python.with_file_name("st");
    // Schemathesis keeps a cache of past failures in its working directory; a
    // fresh one per run keeps runs independent and the checkout clean.
    let work = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(&st);
    command
        .current_dir(work.path())
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        // One worker: Hypothesis describes strategies with `ast.parse`, and on
        // CPython 3.11 two threads parsing at once can corrupt the ast module's
        // shared recursion counter ("AST constructor recursion depth mismatch"),
        // a crash of the tool reported as a runtime error, not a finding.
        .args(["--workers", "1"])
        .args(["--seed", "16"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(filter)
        .env("PYTHONPATH", &here)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The SUMMARY section of a schemathesis report.
pub(crate) fn summary(report: &str) -> &str {
    report
        .find("SUMMARY")
        .map(|at| &report[report[..at].rfind('\n').unwrap_or(0)..])
        .unwrap_or(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let server = TestServer::start().await;
    let account = server.account().await;
    // A full-scope key; the account's rate limit out of the way of a fuzzer.
    account.unthrottle().await;
    let key = account.creds.api_key.clone();
    let (ok, report) =
        schemathesis(&server.base, &key, &["--exclude-path-regex", SELF_HARMING]).await;
    eprintln!(
        "schemathesis, every operation but the self-harming ones:\n{}",
        summary(&report)
    );
    assert!(ok, "schemathesis found problems:\n{report}");
    assert!(
        report.contains("Tested: "),
        "schemathesis tested nothing:\n{report}"
    );
    for group in SELF_HARMING_GROUPS {
        // A new account for each group: what one group does to its credential
        // or web user (revoking, removing) cannot touch the next one's.
        let account = server.account().await;
        account.unthrottle().await;
        let key = account.creds.api_key.clone();
        let (ok, report) = schemathesis(&server.base, &key, &["--include-path-regex", group]).await;
        eprintln!("schemathesis, {group}:\n{}", summary(&report));
        assert!(ok, "schemathesis found problems:\n{report}");
    }
}

#[tokio::test]
async fn docs_is_an_embedded_reference_that_loads_only_from_this_server() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/docs", server.base))
        .send()
        .await
        .expect("GET /docs");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(
        !csp.contains("http"),
        "the policy names no other host: {csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script: {html}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"] {
        assert!(html.contains(&format!("/docs/{asset}")), "{html}");
        let response = http
            .get(format!("{}/docs/{asset}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset}");
    }
    let (status, body) = crate::common::Client::new(&server.base, "")
        .get("/docs/nothing.js")
        .await;
    crate::common::assert_error(status, &body, StatusCode::NOT_FOUND);

    // In a browser: the reference renders every operation of the document, and
    // every resource the page loaded came from this server.
    let doc = fetch_document(&server).await;
    let operations = documented(&doc).len();
    let w = crate::ui::webdriver::Browser::start().await;
    w.goto(&format!("{}/docs", server.base)).await;
    let mut rendered = 0;
    for _ in 0..100 {
        rendered = w
            .script(
                "return document.querySelectorAll('.opblock').length",
                serde_json::json!([]),
            )
            .await
            .as_u64()
            .unwrap_or(0) as usize;
        if rendered >= operations {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(rendered, operations, "operations rendered by /docs");
    let loaded = w
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            serde_json::json!([]),
        )
        .await;
    let loaded: Vec<&str> = loaded
        .as_array()
        .expect("resource list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        loaded.iter().any(|u| u.ends_with("/openapi.json")),
        "{loaded:?}"
    );
    for url in &loaded {
        assert!(
            url.starts_with(&server.base),
            "a request left the server: {url}"
        );
    }
    w.quit().await;
}
