//! The kubelet client and pod cache against the kubelet test server: TLS and
//! tokens as in production, the fixture's pods field by field, and the cache's
//! behaviour when pods come late, misses flood in, the kubelet goes away, answers
//! garbage, or stops listing a pod. Needs no root.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sensor::context::kubelet::{
    ContainerKind, FailureReason, KubeletClient, KubeletConfig, KubeletError, PodCache, PodInfo,
    WorkloadKind,
};
use sensor_tests::kubelet::{
    Answer, FIXTURE, KubeletServer, NODE_NAME, TestPod, fixture_pods, write_unrelated_ca,
};

/// Container ids of the fixture (see `tests/fixtures/kubelet-pods.json`).
const WEB_APP: &str = "26255d88c5e11090057099d5a81f89f65b0470b3d08d4cf80c1fae84746b0a9c";
const WEB_APP_PREVIOUS: &str = "28ab81a9b5aa23c79b07f7ded793a09bd60c4207ad030773cd653cd63b0bc155";
const WEB_MIGRATE: &str = "e3d658edfc9ce1eab41365b6730244d0e506cfe872b0a9a711f91b8160b105af";
const DEBUG_SHELL: &str = "8b4f90c32c4465d2eae897d1d532921bdca25c1dc2e0ac7979ce3744a5c97660";
const LEGACY_NGINX: &str = "ab3678f60d7bba0c83dc1adc5120a92690adbfa389c9a8d2acfc605ed394a452";

/// A container id made from a number, as a runtime would write it.
fn id(n: u32) -> String {
    format!("{n:064x}")
}

/// The server's production settings with the short intervals of a test.
fn fast(server: &KubeletServer) -> KubeletConfig {
    KubeletConfig {
        refresh_interval: Duration::from_millis(100),
        min_fetch_interval: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..server.config()
    }
}

/// Polls `done` every 10 ms until it holds or `timeout` passes.
async fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

fn pod_named<'a>(pods: &'a [PodInfo], name: &str) -> &'a PodInfo {
    pods.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no pod {name}"))
}

async fn fetch(config: &KubeletConfig) -> Result<Vec<PodInfo>, KubeletError> {
    let client = KubeletClient::new(config)?;
    let pods = client.fetch().await?;
    Ok(pods.into_iter().filter_map(PodInfo::from_pod).collect())
}

#[tokio::test]
async fn the_fixture_comes_out_field_by_field_over_tls() {
    let server = KubeletServer::start();
    server.answer(Answer::Raw(FIXTURE.into()));
    let pods = fetch(&server.config()).await.expect("fetching the fixture");
    assert_eq!(pods.len(), 7);
    assert_eq!(server.requests(), 1);

    let web = pod_named(&pods, "web-5d4f8b7c9-x2x7k");
    assert_eq!(web.namespace, "shop");
    assert_eq!(web.uid, "8d6f2a0e-3b7c-4f0e-9a51-2c4b7e9d1f30");
    assert_eq!(web.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(web.service_account.as_deref(), Some("web"));
    assert_eq!(web.node_name.as_deref(), Some(NODE_NAME));
    let workload = web.workload.as_ref().expect("a workload");
    assert_eq!(workload.kind, WorkloadKind::Deployment);
    assert_eq!(workload.name, "web");
    assert_eq!(workload.replicaset.as_deref(), Some("web-5d4f8b7c9"));
    let names: Vec<_> = web
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("migrate", ContainerKind::Init),
            ("app", ContainerKind::Regular),
            ("envoy", ContainerKind::Regular)
        ]
    );
    let app = web.container_named("app").unwrap();
    assert_eq!(app.ids, [WEB_APP, WEB_APP_PREVIOUS]);
    assert_eq!(app.runtime.as_deref(), Some("containerd"));
    assert_eq!(app.image, "registry:5000/shop/web:v2");
    assert_eq!(app.image_repository, "registry:5000/shop/web");
    assert_eq!(app.image_tag.as_deref(), Some("v2"));
    assert_eq!(
        app.image_digest.as_deref(),
        Some("sha256:83aedf28197ea477b9b02e8ebb42a7e1e20c7225874f57eea38a2d63c7d71fbd")
    );
    assert_eq!(app.restart_count, 2);
    assert!(!app.privileged);
    let migrate = web.container_named("migrate").unwrap();
    assert_eq!(migrate.ids, [WEB_MIGRATE]);
    assert_eq!(migrate.image_tag.as_deref(), Some("v2"));
    let envoy = web.container_named("envoy").unwrap();
    assert_eq!(envoy.image_repository, "docker.io/envoyproxy/envoy");
    assert_eq!(envoy.image_tag.as_deref(), Some("v1.29.1"));

    let db = pod_named(&pods, "db-0");
    let workload = db.workload.as_ref().unwrap();
    assert_eq!(
        (&workload.kind, workload.name.as_str()),
        (&WorkloadKind::StatefulSet, "db")
    );
    assert_eq!(
        db.container_named("postgres").unwrap().image_tag.as_deref(),
        Some("16.2")
    );

    let proxy = pod_named(&pods, "kube-proxy-8xq5z");
    let workload = proxy.workload.as_ref().unwrap();
    assert_eq!(
        (&workload.kind, workload.name.as_str()),
        (&WorkloadKind::DaemonSet, "kube-proxy")
    );
    assert_eq!(proxy.namespace, "kube-system");
    assert_eq!(proxy.service_account.as_deref(), Some("kube-proxy"));
    assert!(proxy.container_named("kube-proxy").unwrap().privileged);

    let backup = pod_named(&pods, "backup-28576140-7tq2m");
    let workload = backup.workload.as_ref().unwrap();
    assert_eq!(
        (&workload.kind, workload.name.as_str()),
        (&WorkloadKind::CronJob, "backup")
    );
    assert_eq!(workload.job.as_deref(), Some("backup-28576140"));
    let job = backup.container_named("backup").unwrap();
    assert_eq!(
        (job.image_repository.as_str(), job.image_tag.as_deref()),
        ("busybox", None)
    );
    assert_eq!(
        job.image_digest.as_deref(),
        Some("sha256:03fd02cef3b9d7792fc9d41fbda778267837672faeebc79202642fc1d27ea599")
    );
    assert_eq!(job.ids.len(), 1, "a finished container keeps its id");

    let etcd = pod_named(&pods, "etcd-node-1");
    let workload = etcd.workload.as_ref().unwrap();
    assert_eq!(
        (&workload.kind, workload.name.as_str()),
        (&WorkloadKind::Node, NODE_NAME)
    );
    assert_eq!(etcd.service_account, None);

    let shell = pod_named(&pods, "debug-shell");
    assert_eq!(shell.workload, None);
    let c = shell.container_named("shell").unwrap();
    assert_eq!(
        (c.ids.as_slice(), c.runtime.as_deref()),
        (&[DEBUG_SHELL.to_owned()][..], Some("cri-o"))
    );
    assert_eq!(
        c.image_repository,
        "registry.access.redhat.com/ubi9/ubi-minimal"
    );

    let legacy = pod_named(&pods, "legacy-frontend-m4k8p");
    let workload = legacy.workload.as_ref().unwrap();
    assert_eq!(
        (&workload.kind, workload.name.as_str()),
        (&WorkloadKind::ReplicationController, "legacy-frontend")
    );
    let nginx = legacy.container_named("nginx").unwrap();
    assert_eq!(
        (nginx.ids.as_slice(), nginx.runtime.as_deref()),
        (&[LEGACY_NGINX.to_owned()][..], Some("docker"))
    );
    assert_eq!(
        (nginx.image_repository.as_str(), nginx.image_tag.as_deref()),
        ("nginx", Some("latest"))
    );
    assert_eq!(
        nginx.image_digest.as_deref(),
        Some("sha256:71ffb785fad47b6fa6fb8bc0f794a4f72171592d8e406f450beb76771a8d1bae")
    );
}

#[tokio::test]
async fn the_cache_resolves_current_and_previous_ids_to_their_container() {
    let server = KubeletServer::start();
    // Served through k8s-openapi's types this time, as the builder's pods are.
    server.set_pods(fixture_pods());
    let cache = PodCache::new(&server.config()).unwrap();
    assert_eq!(cache.refresh_now().await.unwrap(), 7);
    let now = cache.container(WEB_APP).expect("the current id");
    let before = cache
        .container(&format!("containerd://{WEB_APP_PREVIOUS}"))
        .expect("the previous id, prefixed");
    assert!(Arc::ptr_eq(now.pod(), before.pod()));
    assert_eq!(now.container().name, "app");
    assert_eq!(before.container().name, "app");
    assert_eq!(
        cache.container(WEB_MIGRATE).unwrap().container().kind,
        ContainerKind::Init
    );
    let pod = cache.pod("8d6f2a0e-3b7c-4f0e-9a51-2c4b7e9d1f30").unwrap();
    assert_eq!(pod.name, "web-5d4f8b7c9-x2x7k");
    assert!(cache.container(&id(1)).is_none());
    let stats = cache.stats();
    assert_eq!(
        (stats.fetches, stats.successes, stats.pods_cached),
        (1, 1, 7)
    );
    assert_eq!(stats.containers_cached, 10);
    assert!(stats.last_fetch_ok);
}

#[tokio::test]
async fn the_certificate_is_valid_for_localhost_too() {
    let server = KubeletServer::start();
    server.add_pod(TestPod::new("ns", "p", "uid-1").container(
        "c",
        "busybox",
        &format!("containerd://{}", id(1)),
    ));
    let config = KubeletConfig {
        url: Some(server.localhost_url()),
        ..server.config()
    };
    assert_eq!(fetch(&config).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_ca_fails_with_a_tls_error() {
    let server = KubeletServer::start();
    let other_ca = server.dir().join("other-ca.crt");
    write_unrelated_ca(&other_ca);
    let cache = PodCache::new(&KubeletConfig {
        ca_file: Some(other_ca),
        ..server.config()
    })
    .unwrap();
    let err = cache.refresh_now().await.unwrap_err();
    assert!(matches!(err, KubeletError::Tls { .. }), "{err:?}");
    let stats = cache.stats();
    assert_eq!(stats.failures(FailureReason::Tls), 1);
    assert!(
        stats.last_error.as_deref().unwrap().contains("certificate"),
        "{:?}",
        stats.last_error
    );
    // Refused in the handshake: the request never reached the server.
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn insecure_skip_verify_needs_no_ca() {
    let server = KubeletServer::start();
    let config = KubeletConfig {
        ca_file: Some(server.dir().join("no-such-ca.crt")),
        insecure_skip_verify: true,
        ..server.config()
    };
    assert!(fetch(&config).await.unwrap().is_empty());
    // Without it, the missing CA file is refused up front.
    let strict = KubeletConfig {
        insecure_skip_verify: false,
        ..config
    };
    assert!(matches!(
        KubeletClient::new(&strict),
        Err(KubeletError::CaRead { .. })
    ));
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_auth_errors() {
    let server = KubeletServer::start();
    let wrong = server.dir().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").unwrap();
    let err = fetch(&KubeletConfig {
        token_file: Some(wrong),
        ..server.config()
    })
    .await
    .unwrap_err();
    match &err {
        KubeletError::Auth { status, body } => {
            assert_eq!(*status, 403);
            assert!(body.contains("Forbidden"), "{body}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert_eq!(err.reason(), FailureReason::Auth);

    // 401 is an auth error too.
    server.answer(Answer::Status(401));
    let err = fetch(&server.config()).await.unwrap_err();
    assert!(
        matches!(err, KubeletError::Auth { status: 401, .. }),
        "{err:?}"
    );

    // No token file: nothing is sent without a token.
    let before = server.requests();
    let err = fetch(&KubeletConfig {
        token_file: Some(server.dir().join("no-such-token")),
        ..server.config()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, KubeletError::TokenRead { .. }), "{err:?}");
    assert_eq!(err.reason(), FailureReason::Token);
    let empty = server.dir().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let err = fetch(&KubeletConfig {
        token_file: Some(empty),
        ..server.config()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, KubeletError::TokenInvalid { .. }), "{err:?}");
    assert_eq!(server.requests(), before);
}

#[tokio::test]
async fn the_token_is_read_again_at_each_fetch() {
    let server = KubeletServer::start();
    let token = server.dir().join("rotating-token");
    std::fs::write(&token, "old-token").unwrap();
    let cache = PodCache::new(&KubeletConfig {
        token_file: Some(token.clone()),
        ..server.config()
    })
    .unwrap();
    assert!(cache.refresh_now().await.is_err());
    std::fs::copy(server.token_file(), &token).unwrap();
    assert_eq!(cache.refresh_now().await.unwrap(), 0);
}

#[tokio::test]
async fn plain_http_works_and_carries_no_token() {
    let server = KubeletServer::start_plain_http();
    server.add_pod(TestPod::new("ns", "p", "uid-1"));
    let config = KubeletConfig {
        url: Some(server.url()),
        // Never read over plain HTTP.
        token_file: Some(server.dir().join("no-such-token")),
        ..server.config()
    };
    assert!(server.url().starts_with("http://"));
    assert_eq!(fetch(&config).await.unwrap()[0].uid, "uid-1");
}

#[tokio::test]
async fn a_hung_kubelet_times_out_and_a_huge_answer_is_refused() {
    let server = KubeletServer::start();
    let config = KubeletConfig {
        request_timeout: Duration::from_millis(300),
        max_body_bytes: 1 << 20,
        ..server.config()
    };
    server.answer(Answer::Hang);
    let started = Instant::now();
    let err = fetch(&config).await.unwrap_err();
    assert!(matches!(err, KubeletError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    for chunked in [true, false] {
        server.answer(Answer::Huge {
            bytes: 4 << 20,
            chunked,
        });
        let err = fetch(&config).await.unwrap_err();
        assert_eq!(
            err.reason(),
            FailureReason::BodyTooLarge,
            "chunked {chunked}: {err:?}"
        );
    }
    // Just under the limit is read (and then is no pod list).
    server.answer(Answer::Huge {
        bytes: (1 << 20) - 1,
        chunked: true,
    });
    assert_eq!(
        fetch(&config).await.unwrap_err().reason(),
        FailureReason::Parse
    );
}

#[tokio::test]
async fn a_pod_that_appears_late_is_found_after_a_refresh() {
    let server = KubeletServer::start();
    server.add_pod(TestPod::new("ns", "old", "uid-old").container(
        "c",
        "busybox",
        &format!("containerd://{}", id(1)),
    ));
    let config = KubeletConfig {
        // Only a request can bring the new pod within the test.
        refresh_interval: Duration::from_secs(60),
        ..fast(&server)
    };
    let cache = PodCache::new(&config).unwrap();
    let first = cache.wait_fresh(Instant::now() + Duration::from_secs(5));
    let task = tokio::spawn(cache.clone().run());
    assert!(first.await, "the first fetch");
    assert!(cache.container(&id(1)).is_some());

    server.add_pod(
        TestPod::new("shop", "web-5d4f8b7c9-abcde", "uid-new")
            .owner_replicaset("web-5d4f8b7c9", "5d4f8b7c9")
            .label("app", "web")
            .container("app", "nginx:1.25", &format!("containerd://{}", id(2)))
            .privileged(true),
    );
    assert!(cache.container(&id(2)).is_none(), "not fetched yet");
    assert!(
        cache
            .refresh_and_wait(Instant::now() + Duration::from_secs(5))
            .await
    );
    let found = cache.container(&id(2)).expect("the new container");
    assert_eq!(found.pod().name, "web-5d4f8b7c9-abcde");
    assert_eq!(found.pod().workload.as_ref().unwrap().name, "web");
    assert!(found.container().privileged);
    // A wait with no fetch in sight ends at its deadline.
    let started = Instant::now();
    assert!(
        !cache
            .wait_fresh(Instant::now() + Duration::from_millis(100))
            .await
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    task.abort();
}

#[tokio::test]
async fn a_flood_of_misses_causes_a_couple_of_fetches() {
    let server = KubeletServer::start();
    let config = KubeletConfig {
        refresh_interval: Duration::from_secs(60),
        min_fetch_interval: Duration::from_millis(500),
        ..fast(&server)
    };
    let cache = PodCache::new(&config).unwrap();
    let first = cache.wait_fresh(Instant::now() + Duration::from_secs(5));
    let task = tokio::spawn(cache.clone().run());
    assert!(first.await);
    let before = server.requests();
    let started = Instant::now();
    for burst in 0..100 {
        for _ in 0..10 {
            cache.request_refresh();
        }
        // Spread over a second, giving the cache's task its turns.
        let next = started + Duration::from_millis(10 * (burst + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    // Let a fetch asked for at the end start and finish.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fetches = server.requests() - before;
    assert!(
        (1..=3).contains(&fetches),
        "{fetches} fetches for 1,000 misses in {:?}",
        started.elapsed()
    );
    assert_eq!(cache.stats().refresh_requests, 1000);
    task.abort();
}

#[tokio::test]
async fn the_cache_outlives_a_kubelet_that_goes_away_and_comes_back() {
    let server = KubeletServer::start();
    server.add_pod(TestPod::new("ns", "a", "uid-a").container(
        "c",
        "busybox",
        &format!("containerd://{}", id(1)),
    ));
    let cache = PodCache::new(&fast(&server)).unwrap();
    let first = cache.wait_fresh(Instant::now() + Duration::from_secs(5));
    let task = tokio::spawn(cache.clone().run());
    assert!(first.await);

    server.stop();
    assert!(
        eventually(Duration::from_secs(5), || cache
            .stats()
            .failures(FailureReason::Connect)
            >= 2)
        .await,
        "{:?}",
        cache.stats()
    );
    // The last good pods still answer.
    assert_eq!(cache.container(&id(1)).unwrap().pod().uid, "uid-a");
    let stats = cache.stats();
    assert!(!stats.last_fetch_ok);
    assert!(stats.consecutive_failures >= 2);
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap()
            .contains("cannot connect"),
        "{:?}",
        stats.last_error
    );

    // Back, with a pod added while it was away: found without being asked.
    server.add_pod(TestPod::new("ns", "b", "uid-b").container(
        "c",
        "busybox",
        &format!("containerd://{}", id(2)),
    ));
    server.restart();
    assert!(
        eventually(Duration::from_secs(5), || cache.container(&id(2)).is_some()).await,
        "{:?}",
        cache.stats()
    );
    let stats = cache.stats();
    assert!(stats.last_fetch_ok);
    assert_eq!(stats.consecutive_failures, 0);
    assert!(cache.pod("uid-a").is_some());
    task.abort();
}

#[tokio::test]
async fn garbage_keeps_the_last_good_pods() {
    let server = KubeletServer::start();
    server.add_pod(TestPod::new("ns", "a", "uid-a").container(
        "c",
        "busybox",
        &format!("containerd://{}", id(1)),
    ));
    let cache = PodCache::new(&KubeletConfig {
        max_body_bytes: 1 << 20,
        ..server.config()
    })
    .unwrap();
    assert_eq!(cache.refresh_now().await.unwrap(), 1);
    let garbage = [
        (Answer::NotJson, FailureReason::Parse),
        (Answer::WrongShape, FailureReason::Parse),
        (Answer::Raw("{}".into()), FailureReason::Parse),
        (
            Answer::Raw(r#"{"kind":"PodList","apiVersion":"v1","items":7}"#.into()),
            FailureReason::Parse,
        ),
        (
            Answer::Huge {
                bytes: 2 << 20,
                chunked: true,
            },
            FailureReason::BodyTooLarge,
        ),
        (Answer::Status(500), FailureReason::HttpStatus),
    ];
    for (answer, reason) in garbage {
        server.answer(answer.clone());
        let before = cache.stats().failures(reason);
        let err = cache.refresh_now().await.unwrap_err();
        assert_eq!(err.reason(), reason, "{answer:?}: {err:?}");
        assert_eq!(cache.stats().failures(reason), before + 1);
        assert_eq!(
            cache.container(&id(1)).unwrap().pod().uid,
            "uid-a",
            "{answer:?}"
        );
    }
    let stats = cache.stats();
    assert_eq!(stats.failures(FailureReason::Parse), 4);
    assert_eq!(stats.total_failures(), 6);
    assert_eq!(stats.pods_cached, 1);
    server.answer(Answer::Pods);
    assert_eq!(cache.refresh_now().await.unwrap(), 1);
    assert!(cache.stats().last_fetch_ok);
}

#[tokio::test]
async fn a_removed_pod_stays_for_keep_deleted_then_goes() {
    let server = KubeletServer::start();
    server.set_pods([
        TestPod::new("ns", "a", "uid-a").container(
            "c",
            "busybox",
            &format!("containerd://{}", id(1)),
        ),
        TestPod::new("ns", "b", "uid-b").container(
            "c",
            "busybox",
            &format!("containerd://{}", id(2)),
        ),
    ]);
    let keep = Duration::from_millis(300);
    let cache = PodCache::new(&KubeletConfig {
        keep_deleted: keep,
        ..server.config()
    })
    .unwrap();
    assert_eq!(cache.refresh_now().await.unwrap(), 2);
    assert!(server.remove_pod("uid-b"));
    assert_eq!(cache.refresh_now().await.unwrap(), 1);
    // The cache marked it gone during that fetch, so no later than now.
    let seen_gone = Instant::now();
    assert_eq!(cache.container(&id(2)).unwrap().pod().uid, "uid-b", "kept");
    assert_eq!(cache.stats().pods_cached, 2);
    tokio::time::sleep_until((seen_gone + keep).into()).await;
    cache.refresh_now().await.unwrap();
    assert!(cache.pod("uid-b").is_none() && cache.container(&id(2)).is_none());
    assert!(cache.pod("uid-a").is_some());
    assert_eq!(cache.stats().pods_cached, 1);
}

#[test]
fn the_server_works_from_sync_code_and_stops_on_drop() {
    let server = KubeletServer::start();
    let addr = server.url().trim_start_matches("https://").to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    server.stop();
    assert!(std::net::TcpStream::connect(&addr).is_err(), "stopped");
    server.restart();
    assert!(
        std::net::TcpStream::connect(&addr).is_ok(),
        "same port again"
    );
    drop(server);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "dropped");
}
