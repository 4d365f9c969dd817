//! The Kubernetes backend, end to end against an API server double
//! (`tests/k8s/apiserver_double.py`: the real API paths and objects for
//! Jobs and Pods, watches with resumption, pod logs that follow, pods run
//! as local processes). No cluster can run on these machines (no container
//! runtime), so nothing here ran on a real cluster.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

mod common;

use common::{hashes, json_of, node, phx_in};

struct Double {
    child: Child,
    port: u16,
    /// Where the test asks for the double's state (plain HTTP).
    control_port: u16,
    log: PathBuf,
}

impl Drop for Double {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Double {
    /// A double whose watches drop every `drop_watch_every` events (0:
    /// never), with `dir`'s `phx.toml` and kubeconfig pointing at it.
    fn configured(dir: &Path, drop_watch_every: usize) -> Double {
        let double = Double::start_with(dir, drop_watch_every, &[]);
        double.configure(dir);
        double
    }

    fn start_with(dir: &Path, drop_watch_every: usize, env: &[(&str, &Path)]) -> Double {
        let log = dir.join("requests.jsonl");
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s/apiserver_double.py"))
            .envs(env.iter().copied())
            .env("K8S_DOUBLE_LOG", &log)
            .env("K8S_DOUBLE_DROP_WATCH", drop_watch_every.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the double");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ports: Vec<u16> =
            line.split_whitespace().map(|p| p.parse().unwrap_or_else(|_| panic!("no port: {line:?}"))).collect();
        let port = ports[0];
        let control_port = ports.get(1).copied().unwrap_or(port);
        Double { child, port, control_port, log }
    }

    fn stats(&self) -> Json {
        let body = ureq::get(&format!("http://127.0.0.1:{}/phx-double/stats", self.control_port))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    fn requests(&self) -> Vec<Json> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// An experiment folder whose phx.toml points at this double.
    fn configure(&self, dir: &Path) {
        std::fs::write(
            dir.join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: double\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: double\n  context:\n    cluster: double\n    user: tester\n    namespace: phx-test\ncurrent-context: double\nusers:\n- name: tester\n  user:\n    token: not-a-secret\n",
                self.port
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("phx.toml"),
            format!(
                "[k8s]\nkubeconfig = \"{}\"\nimage = \"registry.example/phx:0.1.0\"\nclaim = \"phx-store\"\nphx = \"{}\"\npoll_ms = 200\n",
                dir.join("kubeconfig").display(),
                env!("CARGO_BIN_EXE_phx")
            ),
        )
        .unwrap();
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("k8s", name)
}

/// Nothing of phx is left on the cluster.
fn assert_nothing_left(double: &Double) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = double.stats();
        if s["jobs"].as_array().unwrap().is_empty() && s["pods"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every object phx sent reads as the k8s-openapi type and writes back the
/// same: no unknown or misspelt field.
fn assert_objects_are_k8s_openapi(double: &Double) {
    let mut jobs = 0;
    for r in double.requests() {
        let body = &r["body"];
        if body.is_null() {
            continue;
        }
        match r["method"].as_str().unwrap() {
            "POST" => {
                let job: k8s_openapi::api::batch::v1::Job =
                    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("not a Job ({e}): {body}"));
                assert_eq!(serde_json::to_value(&job).unwrap(), *body, "fields k8s-openapi does not know");
                jobs += 1;
            }
            "DELETE" => {
                let d: k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions =
                    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("not DeleteOptions ({e}): {body}"));
                assert_eq!(serde_json::to_value(&d).unwrap(), *body);
                assert_eq!(d.propagation_policy.as_deref(), Some("Background"), "pods go with their Job");
            }
            other => panic!("a {other} with a body"),
        }
    }
    assert!(jobs > 0, "no Job was created");
}

const SWEEP: &str = r#"tool lab.square(x: Int) -> (table: Series) {
  run   = "echo x,y > {table}; echo {x},$(( {x} * {x} )) >> {table}; echo squaring {x}"
  emits = [series]
}

tool lab.gather(tables: List[Series]) -> (table: Series) {
  run   = "awk 'FNR > 1 || NR == 1' {tables} > {table}"
  image = "busybox:1.36"
  emits = [series]
}

node sq[x in [1, 2, 3, 4]] = lab.square(x = x) {
  emit      = [series]
  resources = { cpus = 1, mem = 256 MiB }
}

node all = lab.gather(tables = sq[*].table) {
  emit = [series]
}

node orbital = quantum.orbital(n = 2, l = 1, m = 0, grid = 24) {
  emit = [static, series]
}
"#;

#[test]
fn a_sweep_runs_as_jobs_through_watches_that_drop_and_resume() {
    let dir = fresh_dir("sweep");
    // Every watch drops after 3 events: the run must resume each time.
    let double = Double::configured(&dir, 3);
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    let doctor = json_of(&phx_in(&dir, &["doctor", "--format", "json"]));
    let k8s_line = doctor["backends"]["k8s"].as_str().unwrap();
    assert!(k8s_line.starts_with("available: kubernetes v1.37.0-phx-double"), "{k8s_line}");
    let out = phx_in(&dir, &["run", "sweep.phx", "--backend", "k8s", "--format", "json"]);
    let doc = json_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(doc["status"], "succeeded", "{doc}\n{stderr}");
    assert!(stderr.contains("kubernetes v1.37.0-phx-double (namespace phx-test)"), "{stderr}");
    for n in doc["nodes"].as_array().unwrap() {
        assert_eq!(n["backend"], "k8s");
        assert!(n["job_id"].as_str().unwrap().starts_with("phx-"), "{n}");
    }
    assert!(stderr.contains("sq[2] | squaring 3"), "the pod's log was streamed:\n{stderr}");
    let table =
        std::fs::read_to_string(dir.join(node(&doc, "all")["outputs"]["table"]["path"].as_str().unwrap())).unwrap();
    assert_eq!(table, "x,y\n1,1\n2,4\n3,9\n4,16\n");
    let stats = double.stats();
    assert!(stats["watches"].as_u64().unwrap() >= 3, "the watch dropped and was resumed: {stats}");
    assert_nothing_left(&double);
    assert_objects_are_k8s_openapi(&double);
    // The Jobs asked for what the nodes declared.
    let job = double
        .requests()
        .into_iter()
        .find(|r| r["method"] == "POST" && r["body"]["metadata"]["labels"]["phx.node"] == "sq_0")
        .unwrap();
    let c = &job["body"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["requests"]["memory"], "256Mi");
    assert_eq!(
        job["body"]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "phx-store"
    );
    assert_eq!(job["path"], "/apis/batch/v1/namespaces/phx-test/jobs");
    assert!(job["body"]["spec"]["template"]["spec"]["initContainers"].is_null());
    assert_eq!(c["image"], "registry.example/phx:0.1.0");
    // A tool with an image of its own runs in it, with phx copied in from
    // phx's image by an init container.
    let gather = double
        .requests()
        .into_iter()
        .find(|r| r["method"] == "POST" && r["body"]["metadata"]["labels"]["phx.node"] == "all")
        .unwrap();
    let pod = &gather["body"]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "busybox:1.36");
    assert_eq!(pod["containers"][0]["command"][0], "/opt/phx-bin/phx");
    assert_eq!(pod["initContainers"][0]["image"], "registry.example/phx:0.1.0");
    // The same artifacts as a run here.
    let here = fresh_dir("sweep-here");
    std::fs::write(here.join("sweep.phx"), SWEEP).unwrap();
    let local = json_of(&phx_in(&here, &["run", "sweep.phx", "--format", "json"]));
    assert_eq!(hashes(&local), hashes(&doc));
}

#[test]
fn failures_timeouts_and_refusals_come_back_with_their_reasons() {
    let dir = fresh_dir("fail");
    let double = Double::configured(&dir, 0);
    std::fs::write(
        dir.join("bad.phx"),
        r#"tool lab.doomed() -> (out: File) {
  run = "echo the-doom >&2; exit 3"
}

tool lab.slow() -> (out: File) {
  run = "sleep 30; touch {out}"
}

node doomed = lab.doomed()

node slow = lab.slow() {
  resources = { time = 2 s }
}

node greedy = lab.doomed() {
  resources = { gpus = 1 }
}
"#,
    )
    .unwrap();
    let started = Instant::now();
    let doc = json_of(&phx_in(&dir, &["run", "bad.phx", "--backend", "k8s", "--format", "json"]));
    assert_eq!(doc["status"], "failed");
    let doomed = node(&doc, "doomed");
    assert!(doomed["error"].as_str().unwrap().contains("exited with 3"), "{doomed}");
    assert!(doomed["error"].as_str().unwrap().contains("the-doom"), "{doomed}");
    let slow = node(&doc, "slow");
    assert!(slow["error"].as_str().unwrap().starts_with("TIMEOUT"), "{slow}");
    let greedy = node(&doc, "greedy");
    assert!(greedy["error"].as_str().unwrap().starts_with("Kubernetes refused the job"), "{greedy}");
    assert!(greedy["error"].as_str().unwrap().contains("nvidia.com/gpu"), "{greedy}");
    assert!(started.elapsed() < Duration::from_secs(25), "the deadline ended the slow pod: {:?}", started.elapsed());
    assert_nothing_left(&double);
    assert_objects_are_k8s_openapi(&double);
}

#[test]
fn a_cancelled_run_and_a_killed_one_leave_no_pods() {
    let dir = fresh_dir("cancel");
    let double = Double::configured(&dir, 0);
    std::fs::write(
        dir.join("hold.phx"),
        r#"tool lab.hold(x: Int) -> (out: File) {
  run = "sleep 60; touch {out}"
}

node hold[x in [1, 2]] = lab.hold(x = x)
"#,
    )
    .unwrap();
    let wait_running = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let running = |s: &Json| s["running"].as_u64().unwrap() >= n as u64 && s["jobs"].as_array().unwrap().len() >= n;
        while !running(&double.stats()) {
            assert!(Instant::now() < deadline, "the pods never ran: {}", double.stats());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let child = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "hold.phx", "--backend", "k8s", "--format", "json"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_running(2);
    // SAFETY: sending SIGINT (Ctrl-C) to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let doc = json_of(&child.wait_with_output().unwrap());
    assert_eq!(doc["status"], "cancelled", "{doc}");
    assert_nothing_left(&double);
    // A run killed outright cannot clean up: `phx clean --k8s` does.
    let mut child = Command::new(env!("CARGO_BIN_EXE_phx"))
        .args(["run", "hold.phx", "--backend", "k8s", "--no-cache"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_running(2);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(double.stats()["jobs"].as_array().unwrap().len(), 2);
    let out = phx_in(&dir, &["clean", "--k8s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted"));
    assert_nothing_left(&double);
    assert_objects_are_k8s_openapi(&double);
}

#[test]
fn an_api_server_that_does_not_answer_stops_the_run_before_anything_runs() {
    let dir = fresh_dir("unreachable");
    let double = Double::configured(&dir, 0);
    drop(double); // nothing listens there now
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    let out = phx_in(&dir, &["run", "sweep.phx", "--backend", "k8s"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the Kubernetes API server does not answer"), "{err}");
    assert!(err.contains("help:"), "{err}");
    let doctor = json_of(&phx_in(&dir, &["doctor", "--format", "json"]));
    let k8s_line = doctor["backends"]["k8s"].as_str().unwrap();
    assert!(k8s_line.starts_with("configured in phx.toml but not reachable"), "{k8s_line}");
    // A [k8s] table with a typo is a usage error.
    std::fs::write(dir.join("phx.toml"), "[k8s]\nimage = \"x\"\nclaim_name = \"y\"\n").unwrap();
    let out = phx_in(&dir, &["run", "sweep.phx", "--backend", "k8s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `claim_name`"));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Inside a pod, phx finds the API server through the service account
/// (`/var/run/secrets/kubernetes.io/serviceaccount`: token, CA, namespace)
/// and `KUBERNETES_SERVICE_HOST`/`_PORT`, over TLS. The test gives phx a
/// private /run (a mount namespace) holding such an account.
#[test]
fn in_cluster_configuration_comes_from_the_service_account() {
    let dir = fresh_dir("incluster");
    // A cluster CA and the API server's certificate for 127.0.0.1.
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=phx-test-cluster-ca",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=kube-apiserver",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let double = Double::start_with(
        &dir,
        0,
        &[("K8S_DOUBLE_TLS_CERT", &dir.join("tls.crt")), ("K8S_DOUBLE_TLS_KEY", &dir.join("tls.key"))],
    );
    let account = dir.join("serviceaccount");
    std::fs::create_dir_all(&account).unwrap();
    std::fs::copy(dir.join("ca.crt"), account.join("ca.crt")).unwrap();
    std::fs::write(account.join("token"), "in-cluster-token-7c1e").unwrap();
    std::fs::write(account.join("namespace"), "phx-incluster").unwrap();
    // No kubeconfig anywhere: only the service account.
    std::fs::write(
        dir.join("phx.toml"),
        format!(
            "[k8s]\nimage = \"registry.example/phx:0.1.0\"\nclaim = \"phx-store\"\nphx = \"{}\"\npoll_ms = 200\n",
            env!("CARGO_BIN_EXE_phx")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("sweep.phx"), SWEEP).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let script = r#"mount -t tmpfs phx-test /run && mkdir -p /run/secrets/kubernetes.io \
        && ln -s "$ACCOUNT" /run/secrets/kubernetes.io/serviceaccount && exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.arg("--mount");
    if !root {
        cmd.arg("--map-root-user");
    }
    let out = cmd
        .args(["sh", "-c", script, "sh", env!("CARGO_BIN_EXE_phx"), "run", "sweep.phx", "--backend", "k8s"])
        .args(["--format", "json"])
        .current_dir(&dir)
        .env("ACCOUNT", &account)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", double.port.to_string())
        .env("HOME", &dir)
        .env_remove("KUBECONFIG")
        .output()
        .expect("unshare runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unshare:"),
        "this test needs a private mount namespace (root, or unprivileged user namespaces): {stderr}"
    );
    let doc = json_of(&out);
    assert_eq!(doc["status"], "succeeded", "{doc}\n{stderr}");
    assert!(stderr.contains("(namespace phx-incluster)"), "{stderr}");
    let requests = double.requests();
    assert!(requests.iter().any(|r| r["path"] == "/apis/batch/v1/namespaces/phx-incluster/jobs"));
    for r in &requests {
        assert_eq!(r["auth"], "Bearer in-cluster-token-7c1e", "every request carries the account's token: {r}");
    }
    assert_nothing_left(&double);
}
