//! The storage conformance suite against real servers: SeaweedFS for S3 and Google's storage-testbench for GCS.

mod support;

use std::time::{Duration, Instant};

use support::servers;
use walden::storage::{conformance, GcsOptions, GcsStore, RetryPolicy, S3Options, S3Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn s3_options(server: &servers::S3Server) -> S3Options {
    // The SDK reads credentials from the environment, as walden does.
    std::env::set_var("AWS_ACCESS_KEY_ID", server.access_key);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", server.secret_key);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    S3Options {
        endpoint: Some(server.endpoint.clone()),
        path_style: true,
        io_timeout: Duration::from_secs(10),
        // Small pages, so listings need many continuation requests.
        list_page_size: Some(7),
        part_retry: RetryPolicy::default(),
        ..S3Options::default()
    }
}

#[test]
fn s3_passes_the_conformance_suite() {
    let Some(server) = servers::s3_server() else {
        return;
    };
    let bucket = servers::unique_bucket("s3-conformance");
    server.create_bucket(&bucket);
    let store = S3Store::new(&bucket, "some/prefix", s3_options(server));
    let started = Instant::now();
    runtime().block_on(conformance::run(&store));
    eprintln!(
        "S3 conformance suite: {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Failed and refused multipart uploads were aborted, not left to be billed.
    let (status, body) = server
        .signed_request("GET", &format!("/{bucket}?uploads"), b"")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("<Upload>"),
        "multipart uploads left behind: {body}"
    );
}

#[test]
fn gcs_passes_the_conformance_suite() {
    let Some(server) = servers::gcs_server() else {
        return;
    };
    let bucket = servers::unique_bucket("gcs-conformance");
    server.create_bucket(&bucket);
    let store = GcsStore::new(
        bucket,
        "some/prefix".into(),
        GcsOptions {
            endpoint: Some(server.endpoint.clone()),
            grpc_endpoint: Some(server.grpc_endpoint.clone()),
            credentials_file: None,
            // Small pages, so listings need many continuation requests.
            list_page_size: Some(7),
            io_timeout: Duration::from_secs(10),
        },
    );
    let started = Instant::now();
    runtime().block_on(conformance::run(&store));
    eprintln!(
        "GCS conformance suite: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
