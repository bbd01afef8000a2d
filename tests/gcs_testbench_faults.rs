//! GCS through the storage-testbench's own fault injection (its Retry Test API): 503s on upload and broken download streams are retried. Its own test binary, so its own testbench: the faults hit whichever request comes first.

mod support;

use support::*;

/// Creates a retry test with `instructions` and has the shim send its id with every request.
fn inject(server: &servers::GcsServer, instructions: &str) -> String {
    let body = format!(r#"{{"instructions": {instructions}, "transport": "HTTP"}}"#);
    let (status, answer) = servers::http_request(
        server.addr,
        "POST",
        "/retry_test",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "creating a retry test: {answer}");
    let created: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let (status, answer) = servers::http_request(
        server.addr,
        "PUT",
        "/walden-shim/retry-test-id",
        &[],
        id.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    id
}

/// Whether every injected failure was served.
fn completed(server: &servers::GcsServer, id: &str) -> bool {
    let (status, answer) =
        servers::http_request(server.addr, "GET", &format!("/retry_test/{id}"), &[], b"").unwrap();
    assert_eq!(status, 200, "{answer}");
    let test: serde_json::Value = serde_json::from_str(&answer).unwrap();
    test["completed"].as_bool().unwrap_or(false)
}

#[test]
fn testbench_faults_are_retried() {
    let Some(server) = servers::gcs_server() else {
        return;
    };
    let scratch = Scratch::new();
    let repo = TestRepo::new(RepoKind::Gcs, &scratch, "testbench-faults").unwrap();
    let (name, bytes) = fixture_segment(None);
    let segment = scratch.path().join(&name);
    std::fs::write(&segment, &bytes).unwrap();

    let id = inject(
        server,
        r#"{"storage.objects.insert": ["return-503", "return-503"],
            "storage.objects.get": ["return-broken-stream-after-256K", "return-503"]}"#,
    );
    let out = run(repo
        .apply(walden().arg("wal-push"))
        .args(["--compression", "none"])
        .arg(&segment));
    assert!(
        out.status.success(),
        "wal-push through 503s: {}",
        stderr(&out)
    );
    let dest = scratch.path().join("fetched");
    let out = run(repo.apply(walden().arg("wal-fetch")).arg(&name).arg(&dest));
    assert!(
        out.status.success(),
        "wal-fetch through a broken stream: {}",
        stderr(&out)
    );
    assert!(
        std::fs::read(&dest).unwrap() == bytes,
        "fetched bytes differ"
    );
    assert!(
        completed(server, &id),
        "not every injected failure was hit: the test proved less than it says"
    );
    servers::http_request(
        server.addr,
        "DELETE",
        "/walden-shim/retry-test-id",
        &[],
        b"",
    )
    .unwrap();
}
