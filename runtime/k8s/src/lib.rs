//! The Kubernetes backend: a Job per node (`phx worker SPEC` in the
//! configured image, resources with `nvidia.com/gpu`, labels for the run and
//! the node, `ttlSecondsAfterFinished` as a safety net), watched through one
//! resumable watch per run (no call per poll), its pod's log streamed into
//! the node's folder as it comes, the exit code and reason read from the
//! pod, and the Job deleted with its pods once its results are safe.
//! The working folders travel on a PersistentVolumeClaim mounted at the
//! same path in the pod as here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::batch::v1::{Job, JobSpec as K8sJobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, Pod, PodSpec,
    PodTemplateSpec, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use phx_backends::{Backend, BackendError, BoxFuture, JobSpec, JobState, K8sConfig, LogChunk, MountSource};

/// The label every object phx makes carries.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=phx";

/// A Kubernetes cluster.
pub struct K8s {
    client: Client,
    namespace: String,
    config: K8sConfig,
    /// The experiment folder here (the default mount path).
    experiment_dir: String,
    /// Each job's last known state, kept by the watch.
    states: Arc<Mutex<HashMap<String, JobState>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Each job's log follower, by job name: a finished job's log is read
    /// only once its follower has written all of it.
    followers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    watching: Mutex<bool>,
}

impl Drop for K8s {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        if let Ok(followers) = self.followers.lock() {
            for t in followers.values() {
                t.abort();
            }
        }
    }
}

fn unreachable(message: String) -> BackendError {
    BackendError::Unreachable {
        message,
        hint: "check [k8s] in phx.toml (kubeconfig, context), `kubectl get ns`, or run with `--backend local`".into(),
    }
}

fn other(message: String) -> BackendError {
    BackendError::Other { message, hint: "see the Kubernetes API's answer above".into() }
}

/// A name Kubernetes accepts (DNS-1123 label, at most 63 characters).
pub fn job_name(run_id: &str, dir_name: &str) -> String {
    let raw = format!("phx-{run_id}-{dir_name}").to_ascii_lowercase();
    let mut s: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    if s.len() > 63 {
        // Keep it unique: the end of the name (attempt, index) matters most.
        let tail = s[s.len() - 40..].to_string();
        s = format!(
            "phx-{}-{}",
            &run_id.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "")[..15.min(run_id.len())],
            tail
        );
        s.truncate(63);
    }
    s.trim_matches('-').to_string()
}

/// A label value Kubernetes accepts.
fn label_value(s: &str) -> String {
    let v: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let v = v.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    v.chars().take(63).collect()
}

impl K8s {
    /// Checks that the configuration can run jobs (it names an image), then
    /// connects ([`K8s::connect_only`]).
    pub async fn connect(config: K8sConfig, experiment_dir: &Path) -> Result<K8s, BackendError> {
        if config.image.is_none() {
            return Err(BackendError::Other {
                message: "[k8s] has no `image`: the jobs need one that holds this phx".into(),
                hint: "add `image = \"registry/phx:VERSION\"` to [k8s] in phx.toml".into(),
            });
        }
        K8s::connect_only(config, experiment_dir).await
    }

    /// Connects: reads the kubeconfig (or the in-cluster account) and asks
    /// the API server for its version; what `phx doctor` asks, whatever the
    /// rest of the configuration says.
    pub async fn connect_only(config: K8sConfig, experiment_dir: &Path) -> Result<K8s, BackendError> {
        let options = kube::config::KubeConfigOptions { context: config.context.clone(), ..Default::default() };
        let kube_config = match &config.kubeconfig {
            Some(path) => {
                let path = &expand_home(path);
                let kc = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| unreachable(format!("cannot read the kubeconfig `{path}`: {e}")))?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| unreachable(format!("the kubeconfig `{path}` cannot be used: {e}")))?
            }
            None if config.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| unreachable(format!("the kubeconfig cannot be used: {e}")))?,
            None => Config::infer().await.map_err(|e| unreachable(format!("no Kubernetes configuration: {e}")))?,
        };
        let namespace = config.namespace.clone().unwrap_or_else(|| kube_config.default_namespace.clone());
        let client = Client::try_from(kube_config).map_err(|e| unreachable(format!("cannot make a client: {e}")))?;
        client
            .apiserver_version()
            .await
            .map_err(|e| unreachable(format!("the Kubernetes API server does not answer: {e}")))?;
        Ok(K8s {
            client,
            namespace,
            config,
            experiment_dir: experiment_dir.display().to_string(),
            states: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(Vec::new()),
            followers: Mutex::new(HashMap::new()),
            watching: Mutex::new(false),
        })
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Job object for a node.
    pub fn job_object(&self, job: &JobSpec) -> Job {
        build_job(&self.config, &self.experiment_dir, job)
    }

    /// Starts the run's one watch, resumed by kube's watcher when it drops.
    fn ensure_watch(&self, run_id: &str) {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        if *watching {
            return;
        }
        *watching = true;
        let cfg = watcher::Config::default().labels(&format!("{MANAGED_BY},phx.run={}", label_value(run_id)));
        let states = self.states.clone();
        let pods = self.pods();
        let stream = watcher(self.jobs(), cfg);
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                // Errors are followed by kube's own recovery (resuming
                // from the last resource version): keep polling.
                let Ok(event) = event else {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                };
                match event {
                    watcher::Event::Apply(j) | watcher::Event::InitApply(j) => {
                        let name = j.metadata.name.clone().unwrap_or_default();
                        let mut state = state_of(&j);
                        if matches!(state, JobState::Failed { .. }) {
                            state = failure_detail(&pods, &name, state).await;
                        }
                        if let Ok(mut s) = states.lock() {
                            s.insert(name, state);
                        }
                    }
                    watcher::Event::Delete(j) => {
                        let name = j.metadata.name.clone().unwrap_or_default();
                        if let Ok(mut s) = states.lock() {
                            let entry = s.entry(name).or_insert(JobState::Cancelled);
                            if !entry.is_terminal() {
                                *entry = JobState::Cancelled;
                            }
                        }
                    }
                    _ => {}
                }
            }
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.push(task);
        }
    }

    /// Streams the job's pod log into `job.out` as it comes.
    fn follow_log(&self, job: &JobSpec, name: &str) {
        let pods = self.pods();
        let out = job.local_dir.join("job.out");
        let selector = format!("job-name={name}");
        let states = self.states.clone();
        let name = name.to_string();
        let follower_name = name.clone();
        let task = tokio::spawn(async move {
            // Wait for the pod (the Job controller makes it).
            let mut last_look = false;
            let pod = loop {
                if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await
                    && let Some(p) = list.items.into_iter().next()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|ph| ph != "Pending")
                {
                    break p.metadata.name.unwrap_or_default();
                }
                if last_look {
                    return;
                }
                // A job that ended since the pod was last seen pending: one
                // more look, for the log of a pod that ran quickly.
                if states.lock().ok().and_then(|s| s.get(&name).map(JobState::is_terminal)).unwrap_or(false) {
                    last_look = true;
                    continue;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            };
            let params = LogParams { follow: true, ..Default::default() };
            let Ok(stream) = pods.log_stream(&pod, &params).await else { return };
            let Ok(mut file) = tokio::fs::OpenOptions::new().create(true).append(true).open(&out).await else { return };
            let mut lines = stream.lines();
            use tokio::io::AsyncWriteExt;
            while let Some(Ok(line)) = lines.next().await {
                let _ = file.write_all(line.as_bytes()).await;
                let _ = file.write_all(b"\n").await;
                let _ = file.flush().await;
            }
        });
        if let Ok(mut f) = self.followers.lock() {
            f.insert(follower_name, task);
        }
    }

    /// Deletes every Job (and pod) phx left in the namespace; how many.
    pub async fn clean(&self) -> Result<usize, BackendError> {
        let list = self
            .jobs()
            .list(&ListParams::default().labels(MANAGED_BY))
            .await
            .map_err(|e| other(format!("cannot list jobs: {e}")))?;
        let mut n = 0;
        for j in list.items {
            if let Some(name) = j.metadata.name {
                self.jobs()
                    .delete(&name, &DeleteParams::background())
                    .await
                    .map_err(|e| other(format!("cannot delete job {name}: {e}")))?;
                n += 1;
            }
        }
        let pods = self
            .pods()
            .list(&ListParams::default().labels(MANAGED_BY))
            .await
            .map_err(|e| other(format!("cannot list pods: {e}")))?;
        for p in pods.items {
            if let Some(name) = p.metadata.name {
                let _ = self.pods().delete(&name, &DeleteParams::background()).await;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// `~/x` as a path under $HOME.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// Where the init container puts phx for a tool's own image.
pub const PHX_BIN_DIR: &str = "/opt/phx-bin";

/// `word` quoted for `/bin/sh` when it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The Job for a node: `phx worker SPEC` in the image, on the claim.
pub fn build_job(config: &K8sConfig, experiment_dir: &str, job: &JobSpec) -> Job {
    let name = job_name(&job.run_id, &job.dir_name);
    let dir = job.local_dir.display().to_string();
    let r = &job.resources;
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    requests.insert("cpu".to_string(), Quantity(r.cpus.max(1).to_string()));
    if let Some(mb) = r.mem_mb {
        requests.insert("memory".to_string(), Quantity(format!("{mb}Mi")));
        limits.insert("memory".to_string(), Quantity(format!("{mb}Mi")));
    }
    if r.gpus > 0 {
        limits.insert("nvidia.com/gpu".to_string(), Quantity(r.gpus.to_string()));
    }
    let mut labels = BTreeMap::new();
    labels.insert("app.kubernetes.io/managed-by".to_string(), "phx".to_string());
    labels.insert("phx.run".to_string(), label_value(&job.run_id));
    labels.insert("phx.node".to_string(), label_value(&job.vertex));
    let mount = config.mount_path.clone().unwrap_or_else(|| experiment_dir.to_string());
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(claim) = &config.claim {
        volumes.push(Volume {
            name: "store".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: None,
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount { name: "store".into(), mount_path: mount, ..Default::default() });
    }
    // The volumes the run asked for (validated by the caller: absolute
    // paths, one source each).
    for (i, m) in job.mounts.iter().enumerate() {
        let name = format!("mount-{i}");
        let mut volume = Volume { name: name.clone(), ..Default::default() };
        match &m.source {
            MountSource::Claim(claim) => {
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: m.read_only.then_some(true),
                });
            }
            MountSource::HostPath(path) => {
                volume.host_path = Some(HostPathVolumeSource { path: path.clone(), type_: Some("Directory".into()) });
            }
        }
        volumes.push(volume);
        mounts.push(VolumeMount {
            name,
            mount_path: m.path.clone(),
            read_only: m.read_only.then_some(true),
            ..Default::default()
        });
    }
    let phx = config.phx.clone().unwrap_or_else(|| "phx".into());
    // A tool with an image of its own runs in that image; phx itself comes
    // from the cluster's phx image, copied by an init container into a
    // volume the tool's container shares (the image need not know phx).
    let tool_image = job.image.clone().filter(|i| Some(i) != config.image.as_ref());
    let (image, phx, init_containers) = match tool_image {
        Some(image) => {
            volumes.push(Volume {
                name: "phx-bin".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
            let bin_mount =
                VolumeMount { name: "phx-bin".into(), mount_path: PHX_BIN_DIR.into(), ..Default::default() };
            mounts.push(bin_mount.clone());
            let copy = format!("cp \"$(command -v {})\" {PHX_BIN_DIR}/phx", shell_word(&phx));
            let init = Container {
                name: "phx-init".into(),
                image: config.image.clone(),
                command: Some(vec!["/bin/sh".into(), "-c".into(), copy]),
                volume_mounts: Some(vec![bin_mount]),
                ..Default::default()
            };
            (Some(image), format!("{PHX_BIN_DIR}/phx"), Some(vec![init]))
        }
        None => (config.image.clone(), phx, None),
    };
    let (volumes, mounts) = if volumes.is_empty() { (None, None) } else { (Some(volumes), Some(mounts)) };
    Job {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([("phx.vertex".to_string(), job.vertex.clone())])),
            ..Default::default()
        },
        spec: Some(K8sJobSpec {
            // phx resubmits by its own `retries`, so each try is an
            // attempt of its own in the provenance.
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(config.ttl_seconds.unwrap_or(3600)),
            active_deadline_seconds: r.time_s.map(|s| s as i64),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    init_containers,
                    containers: vec![Container {
                        name: "phx".into(),
                        image,
                        command: Some(vec![phx, "worker".into(), format!("{dir}/spec.json")]),
                        working_dir: Some(dir),
                        env: Some(
                            job.env
                                .iter()
                                .map(|(k, v)| EnvVar { name: k.clone(), value: Some(v.clone()), value_from: None })
                                .collect(),
                        ),
                        resources: Some(ResourceRequirements {
                            requests: Some(requests),
                            limits: if limits.is_empty() { None } else { Some(limits) },
                            ..Default::default()
                        }),
                        volume_mounts: mounts,
                        ..Default::default()
                    }],
                    volumes,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// A Job's state from its status and conditions.
pub fn state_of(j: &Job) -> JobState {
    let Some(status) = &j.status else { return JobState::Pending { reason: "created".into() } };
    for c in status.conditions.iter().flatten() {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return JobState::Completed,
            "Failed" => {
                let reason = c.reason.clone().unwrap_or_default();
                if reason == "DeadlineExceeded" {
                    return JobState::Timeout;
                }
                return JobState::Failed {
                    exit_code: None,
                    signal: None,
                    reason: format!("{reason}: {}", c.message.clone().unwrap_or_default()),
                };
            }
            _ => {}
        }
    }
    if status.succeeded.unwrap_or(0) > 0 {
        JobState::Completed
    } else if status.failed.unwrap_or(0) > 0 {
        JobState::Failed { exit_code: None, signal: None, reason: "the pod failed".into() }
    } else if status.active.unwrap_or(0) > 0 {
        JobState::Running
    } else {
        JobState::Pending { reason: "no pod yet".into() }
    }
}

/// The exit code and reason of a failed Job's pod.
async fn failure_detail(pods: &Api<Pod>, name: &str, state: JobState) -> JobState {
    let Ok(list) = pods.list(&ListParams::default().labels(&format!("job-name={name}"))).await else { return state };
    for p in list.items {
        let statuses = p.status.and_then(|s| s.container_statuses).unwrap_or_default();
        if let Some(t) = statuses.into_iter().find_map(|c| c.state.and_then(|s| s.terminated)) {
            let reason = t.reason.unwrap_or_default();
            if reason == "OOMKilled" {
                return JobState::OutOfMemory;
            }
            return JobState::Failed {
                exit_code: Some(t.exit_code),
                signal: t.signal,
                reason: format!("pod {reason}"),
            };
        }
    }
    state
}

impl Backend for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }

    fn check(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let v = self
                .client
                .apiserver_version()
                .await
                .map_err(|e| unreachable(format!("the Kubernetes API server does not answer: {e}")))?;
            Ok(format!("kubernetes {} (namespace {})", v.git_version, self.namespace))
        })
    }

    fn stage_in<'a>(&'a self, _job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>> {
        // The folder is on the claim, at the same path: nothing moves.
        Box::pin(async { Ok(()) })
    }

    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            self.ensure_watch(&job.run_id);
            let object = self.job_object(job);
            let name = object.metadata.name.clone().unwrap_or_default();
            self.jobs().create(&PostParams::default(), &object).await.map_err(|e| match &e {
                kube::Error::Api(s) if s.code == 422 || s.code == 403 => BackendError::Rejected {
                    message: format!("Kubernetes refused the job: {}", s.message),
                    hint: "check the node's resources and the namespace's quota".into(),
                },
                _ => other(format!("cannot create the job: {e}")),
            })?;
            self.follow_log(job, &name);
            Ok(name)
        })
    }

    fn poll<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<HashMap<String, JobState>, BackendError>> {
        Box::pin(async move {
            let s = self.states.lock().map_err(|_| other("the job states are poisoned".into()))?;
            Ok(ids
                .iter()
                .map(|id| {
                    (id.clone(), s.get(id).cloned().unwrap_or(JobState::Pending { reason: "not seen yet".into() }))
                })
                .collect())
        })
    }

    fn cancel<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            for id in ids {
                match self.jobs().delete(id, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(other(format!("cannot delete job {id}: {e}"))),
                }
                if let Ok(mut s) = self.states.lock() {
                    s.insert(id.clone(), JobState::Cancelled);
                }
            }
            Ok(())
        })
    }

    fn logs<'a>(&'a self, job: &'a JobSpec, offsets: (u64, u64)) -> BoxFuture<'a, Result<LogChunk, BackendError>> {
        Box::pin(async move {
            use std::io::{Read, Seek, SeekFrom};
            // A finished job: its follower writes the rest of the log (a
            // pod that ended before the follower first saw it is read
            // whole) before the log is read for the last time.
            let name = self.job_object(job).metadata.name.unwrap_or_default();
            let finished =
                self.states.lock().ok().and_then(|s| s.get(&name).map(JobState::is_terminal)).unwrap_or(false);
            if finished {
                let follower = self.followers.lock().ok().and_then(|mut f| f.remove(&name));
                if let Some(follower) = follower {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), follower).await;
                }
            }
            let mut chunk = LogChunk::default();
            if let Ok(mut f) = std::fs::File::open(job.local_dir.join("job.out"))
                && f.seek(SeekFrom::Start(offsets.0)).is_ok()
            {
                let _ = f.take(1 << 20).read_to_end(&mut chunk.stdout);
            }
            Ok(chunk)
        })
    }

    fn stage_out<'a>(&'a self, _job: &'a JobSpec) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.jobs().delete(id, &DeleteParams::background()).await;
        })
    }

    fn poll_interval(&self) -> std::time::Duration {
        phx_backends::config::poll_interval(self.config.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn names_and_labels_are_what_kubernetes_accepts() {
        assert_eq!(job_name("20261129T033050-359316", "scan_3_-1"), "phx-20261129t033050-359316-scan-3-1");
        let long = job_name("20261129T033050-359316", &"x".repeat(80));
        assert!(long.len() <= 63 && long.starts_with("phx-"), "{long}");
        assert_eq!(label_value("scan[3]"), "scan_3");
    }

    #[test]
    fn the_job_carries_the_resources_labels_and_claim() {
        let config =
            K8sConfig { image: Some("registry/phx:0.1".into()), claim: Some("phx-store".into()), ..Default::default() };
        let spec = JobSpec {
            name: "phx-scan[3]".into(),
            run_id: "r1".into(),
            vertex: "scan[3]".into(),
            local_dir: PathBuf::from("/exp/.phx/runs/r1/work/scan_3_-1"),
            dir_name: "scan_3_-1".into(),
            resources: phx_backends::Resources {
                cpus: 2,
                mem_mb: Some(512),
                time_s: Some(120),
                gpus: 1,
                ..Default::default()
            },
            image: None,
            env: vec![("PHX_NODE".into(), "scan[3]".into())],
            mounts: vec![],
        };
        let j = build_job(&config, "/exp", &spec);
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["spec"]["backoffLimit"], 0);
        assert_eq!(v["spec"]["activeDeadlineSeconds"], 120);
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"], serde_json::json!(["phx", "worker", "/exp/.phx/runs/r1/work/scan_3_-1/spec.json"]));
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(c["resources"]["requests"]["memory"], "512Mi");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/exp");
        assert_eq!(v["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "phx-store");
        assert_eq!(v["metadata"]["labels"]["phx.node"], "scan_3");
        assert!(v["spec"]["template"]["spec"]["initContainers"].is_null());
        // It reads back as the same Job.
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back, j);

        // A tool's own image runs the worker from phx's image.
        let tool = JobSpec { image: Some("python:3.12-slim".into()), ..spec };
        let v = serde_json::to_value(build_job(&config, "/exp", &tool)).unwrap();
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["image"], "python:3.12-slim");
        assert_eq!(pod["containers"][0]["command"][0], "/opt/phx-bin/phx");
        assert_eq!(pod["initContainers"][0]["image"], "registry/phx:0.1");
        assert_eq!(pod["initContainers"][0]["command"][2], "cp \"$(command -v phx)\" /opt/phx-bin/phx");
        assert_eq!(pod["volumes"][1]["emptyDir"], serde_json::json!({}));
        assert_eq!(pod["containers"][0]["volumeMounts"][1]["mountPath"], "/opt/phx-bin");
        assert_eq!(shell_word("/my phx"), "'/my phx'");
    }
}
