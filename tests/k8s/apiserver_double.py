#!/usr/bin/env python3
"""A Kubernetes API server double for phx's tests (no cluster can run on
these machines: there is no container runtime).

It speaks the real API paths and objects for what phx uses: Jobs (create,
get, list, watch with resourceVersion and resumption, delete with
propagation) and Pods (list, log with follow). A Job's pod is "run" the way
a kubelet would run its container, as a local process: the container's
command, args, env and workingDir, after its init containers: persistent
volumes are taken to be the same paths here, each emptyDir volume is a
fresh folder that the pod's paths under its mountPath are redirected to, and
a hostPath volume is a symbolic link from its mountPath (made only where
nothing is, and removed with the pod) to the host's folder. Pod phases, container exit codes and reasons, Job conditions
(Complete, Failed, DeadlineExceeded for activeDeadlineSeconds) and
ttlSecondsAfterFinished follow the Kubernetes API's semantics.

Test switches (environment):
  K8S_DOUBLE_LOG        append every request (method, path, query, body) as JSON lines
  K8S_DOUBLE_DROP_WATCH close every watch stream after this many events, so
                        that clients must resume from their last resourceVersion
  K8S_DOUBLE_TLS_CERT, K8S_DOUBLE_TLS_KEY
                        serve HTTPS with this certificate chain and key (PEM), as
                        an in-cluster API server does

Prints the port on its first line of stdout (with TLS, then a second port
that serves the same in plain HTTP, for the test's own requests).
"""

import json
import shutil
import tempfile
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Condition()
RV = [100]
JOBS = {}  # (ns, name) -> job
PODS = {}  # (ns, name) -> pod
PROCS = {}  # (ns, pod) -> Popen
LOGS = {}  # (ns, pod) -> bytearray
EVENTS = []  # (rv, kind, type, object)
LOG_FILE = os.environ.get("K8S_DOUBLE_LOG")
DROP_AFTER = int(os.environ.get("K8S_DOUBLE_DROP_WATCH", "0") or 0)
STATS = {"watches": 0, "resumed_watches": 0, "lists": 0}


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bump(kind, typ, obj):
    """Records a change; the caller holds LOCK."""
    RV[0] += 1
    obj["metadata"]["resourceVersion"] = str(RV[0])
    EVENTS.append((RV[0], kind, typ, json.loads(json.dumps(obj))))
    LOCK.notify_all()


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def matches(obj, selector):
    labels = obj["metadata"].get("labels") or {}
    for part in [p for p in (selector or "").split(",") if p]:
        k, _, v = part.partition("=")
        if labels.get(k) != v:
            return False
    return True


def set_job_done(ns, name, ok, reason=None, message=""):
    job = JOBS.get((ns, name))
    if not job:
        return
    st = job.setdefault("status", {})
    st["active"] = 0
    if ok:
        st["succeeded"] = 1
        st["completionTime"] = now()
        cond = {"type": "Complete", "status": "True", "lastTransitionTime": now()}
    else:
        st["failed"] = 1
        cond = {"type": "Failed", "status": "True", "reason": reason or "BackoffLimitExceeded",
                "message": message or "Job has reached the specified backoff limit", "lastTransitionTime": now()}
    st["conditions"] = [cond]
    bump("Job", "MODIFIED", job)
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is not None:
        threading.Timer(ttl, lambda: delete_job(ns, name)).start()


def pod_paths(pod_spec, scratch):
    """emptyDir mount paths -> folders of their own under scratch."""
    empty = {v["name"] for v in pod_spec.get("volumes") or [] if "emptyDir" in v}
    mapping = {}
    for c in (pod_spec.get("initContainers") or []) + pod_spec["containers"]:
        for m in c.get("volumeMounts") or []:
            if m["name"] in empty:
                d = os.path.join(scratch, m["name"])
                os.makedirs(d, exist_ok=True)
                mapping[m["mountPath"]] = d
    return mapping


def process_of(container, mapping):
    """The argv, cwd and env a container runs with, its emptyDir paths redirected."""
    def local(text):
        for mount, d in mapping.items():
            text = text.replace(mount, d)
        return text
    cmd = [local(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    env = dict(os.environ)
    for e in container.get("env") or []:
        env[e["name"]] = e.get("value", "")
    cwd = container.get("workingDir")
    return cmd, (local(cwd) if cwd else None), env


def fail_pod(ns, job_name, key, container, code, reason, message, init=False):
    """The caller holds LOCK."""
    pod = PODS.get(key)
    if not pod:
        return
    st = {"name": container["name"], "ready": False, "restartCount": 0, "image": container.get("image", ""),
          "imageID": "", "state": {"terminated": {"exitCode": code, "reason": reason, "message": message}}}
    pod["status"] = {"phase": "Failed", ("initContainerStatuses" if init else "containerStatuses"): [st]}
    bump("Pod", "MODIFIED", pod)
    set_job_done(ns, job_name, False)


def host_path_links(pod_spec):
    """hostPath volumes: a link at each mountPath to the host folder (where
    nothing is there yet); returns the links made."""
    hosts = {v["name"]: v["hostPath"]["path"] for v in pod_spec.get("volumes") or [] if "hostPath" in v}
    made = []
    for c in pod_spec["containers"]:
        for m in c.get("volumeMounts") or []:
            target = hosts.get(m["name"])
            path = m["mountPath"]
            if target and not os.path.lexists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.symlink(target, path)
                made.append(path)
    return made


def run_pod(ns, job_name, pod_name, pod_spec, deadline):
    scratch = tempfile.mkdtemp(prefix="k8s-double-pod-")
    links = host_path_links(pod_spec)
    try:
        run_pod_in(ns, job_name, pod_name, pod_spec, deadline, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for link in links:
            os.unlink(link)


def run_pod_in(ns, job_name, pod_name, pod_spec, deadline, scratch):
    key = (ns, pod_name)
    mapping = pod_paths(pod_spec, scratch)
    time.sleep(0.1)  # scheduling
    for init in pod_spec.get("initContainers") or []:
        cmd, cwd, env = process_of(init, mapping)
        try:
            done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=60)
            code, message = done.returncode, done.stderr.decode(errors="replace")[-500:]
        except (OSError, subprocess.TimeoutExpired) as e:
            code, message = 128, str(e)
        if code != 0:
            with LOCK:
                fail_pod(ns, job_name, key, init, code, "Error", message, init=True)
            return
    container = pod_spec["containers"][0]
    cmd, cwd, env = process_of(container, mapping)
    with LOCK:
        pod = PODS.get(key)
        if not pod:
            return
        LOGS[key] = bytearray()
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            fail_pod(ns, job_name, key, container, 128, "StartError", str(e))
            return
        PROCS[key] = proc
        pod["status"] = {"phase": "Running", "startTime": now(), "containerStatuses": [{
            "name": container["name"], "ready": True, "restartCount": 0, "image": container.get("image", ""),
            "imageID": "", "state": {"running": {"startedAt": now()}}}]}
        bump("Pod", "MODIFIED", pod)
        job = JOBS.get((ns, job_name))
        if job:
            job.setdefault("status", {})["active"] = 1
            job["status"]["startTime"] = now()
            bump("Job", "MODIFIED", job)
    timed_out = [False]
    if deadline:
        def kill():
            if proc.poll() is None:
                timed_out[0] = True
                os.killpg(proc.pid, signal.SIGKILL)
        threading.Timer(deadline, kill).start()
    for chunk in iter(lambda: proc.stdout.read1(4096), b""):
        with LOCK:
            LOGS[key].extend(chunk)
            LOCK.notify_all()
    code = proc.wait()
    with LOCK:
        PROCS.pop(key, None)
        pod = PODS.get(key)
        if not pod:  # deleted meanwhile
            LOCK.notify_all()
            return
        exit_code = code if code >= 0 else 128 - code
        reason = "Completed" if code == 0 else "Error"
        pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
        pod["status"]["containerStatuses"][0]["state"] = {"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": pod["status"]["startTime"], "finishedAt": now()}}
        pod["status"]["containerStatuses"][0]["ready"] = False
        bump("Pod", "MODIFIED", pod)
        if timed_out[0]:
            set_job_done(ns, job_name, False, "DeadlineExceeded", "Job was active longer than specified deadline")
        else:
            set_job_done(ns, job_name, code == 0)


def delete_pod(ns, name):
    """The caller holds LOCK."""
    pod = PODS.pop((ns, name), None)
    proc = PROCS.get((ns, name))
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if pod:
        pod["metadata"]["deletionTimestamp"] = now()
        bump("Pod", "DELETED", pod)


def delete_job(ns, name):
    with LOCK:
        job = JOBS.pop((ns, name), None)
        if not job:
            return None
        for (pns, pname), pod in list(PODS.items()):
            if pns == ns and (pod["metadata"].get("labels") or {}).get("job-name") == name:
                delete_pod(ns, pname)
        job["metadata"]["deletionTimestamp"] = now()
        bump("Job", "DELETED", job)
        return job


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        if LOG_FILE:
            with LOCK, open(LOG_FILE, "a") as f:
                u = urlparse(self.path)
                f.write(json.dumps({"method": self.command, "path": u.path, "query": u.query, "body": body,
                                    "auth": self.headers.get("Authorization")}) + "\n")

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def route(self):
        u = urlparse(self.path)
        parts = [p for p in u.path.split("/") if p]
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        return parts, q

    def do_GET(self):
        self.record(None)
        parts, q = self.route()
        if parts == ["phx-double", "stats"]:
            with LOCK:
                return self.send_json(200, {**STATS, "jobs": sorted(n for _, n in JOBS), "pods": sorted(n for _, n in PODS),
                                            "running": sum(1 for k in PROCS if k in PODS)})
        if parts == ["version"]:
            return self.send_json(200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0-phx-double",
                                        "platform": "linux/amd64"})
        if len(parts) >= 6 and parts[:3] == ["apis", "batch", "v1"] and parts[3] == "namespaces" and parts[5] == "jobs":
            ns = parts[4]
            if len(parts) == 7:
                with LOCK:
                    job = JOBS.get((ns, parts[6]))
                if not job:
                    return self.send_json(404, status(404, "NotFound", f'jobs.batch "{parts[6]}" not found'))
                return self.send_json(200, job)
            return self.list_or_watch("Job", ns, q, "batch/v1", "JobList", JOBS)
        if len(parts) >= 5 and parts[:2] == ["api", "v1"] and parts[2] == "namespaces" and parts[4] == "pods":
            ns = parts[3]
            if len(parts) == 7 and parts[6] == "log":
                return self.pod_log(ns, parts[5], q)
            if len(parts) == 5:
                return self.list_or_watch("Pod", ns, q, "v1", "PodList", PODS)
        self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def list_or_watch(self, kind, ns, q, api_version, list_kind, table):
        selector = q.get("labelSelector", "")
        if q.get("watch") in ("1", "true"):
            return self.watch(kind, ns, q, selector)
        with LOCK:
            STATS["lists"] += 1
            items = [json.loads(json.dumps(o)) for (ons, _), o in sorted(table.items()) if ons == ns and matches(o, selector)]
            rv = str(RV[0])
        self.send_json(200, {"apiVersion": api_version, "kind": list_kind, "metadata": {"resourceVersion": rv}, "items": items})

    def watch(self, kind, ns, q, selector):
        since = int(q.get("resourceVersion") or 0)
        timeout = float(q.get("timeoutSeconds") or 290)
        with LOCK:
            STATS["watches"] += 1
            if since:
                STATS["resumed_watches"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.time() + timeout
        sent = 0
        last = since
        try:
            while time.time() < end:
                with LOCK:
                    batch = [(rv, t, o) for rv, k, t, o in EVENTS
                             if rv > last and k == kind and o["metadata"].get("namespace") == ns and matches(o, selector)]
                    if not batch:
                        LOCK.wait(0.5)
                        continue
                for rv, t, o in batch:
                    self.chunk((json.dumps({"type": t, "object": o}) + "\n").encode())
                    last = rv
                    sent += 1
                    if DROP_AFTER and sent >= DROP_AFTER:
                        # A dropped connection: no final chunk.
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def pod_log(self, ns, name, q):
        key = (ns, name)
        with LOCK:
            if key not in PODS:
                return self.send_json(404, status(404, "NotFound", f'pods "{name}" not found'))
        follow = q.get("follow") in ("1", "true")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pos = 0
        try:
            while True:
                with LOCK:
                    buf = bytes(LOGS.get(key, b""))
                    running = key in PROCS or (key in PODS and (PODS[key].get("status") or {}).get("phase") in ("Pending", "Running"))
                    if len(buf) == pos and follow and running:
                        LOCK.wait(0.5)
                        continue
                if len(buf) > pos:
                    self.chunk(buf[pos:])
                    pos = len(buf)
                if not follow or not running:
                    break
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def do_POST(self):
        body = self.read_body()
        self.record(body)
        parts, _ = self.route()
        if len(parts) == 6 and parts[:3] == ["apis", "batch", "v1"] and parts[3] == "namespaces" and parts[5] == "jobs":
            ns = parts[4]
            if not body or body.get("kind") != "Job" or body.get("apiVersion") != "batch/v1":
                return self.send_json(400, status(400, "BadRequest", "the body is not a batch/v1 Job"))
            name = (body.get("metadata") or {}).get("name")
            containers = (((body.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            if not name or not containers:
                return self.send_json(422, status(422, "Invalid", "Job.batch is invalid: a name and a container are required"))
            for c in containers:
                lim = ((c.get("resources") or {}).get("limits") or {})
                if "nvidia.com/gpu" in lim:
                    return self.send_json(422, status(422, "Invalid", f'Job.batch "{name}" is invalid: no node has nvidia.com/gpu'))
            with LOCK:
                if (ns, name) in JOBS:
                    return self.send_json(409, status(409, "AlreadyExists", f'jobs.batch "{name}" already exists'))
                job = json.loads(json.dumps(body))
                uid = str(uuid.uuid4())
                job["metadata"].update({"namespace": ns, "uid": uid, "creationTimestamp": now(), "generation": 1})
                job["status"] = {}
                JOBS[(ns, name)] = job
                bump("Job", "ADDED", job)
                tmpl = body["spec"]["template"]
                labels = dict(((tmpl.get("metadata") or {}).get("labels") or {}))
                labels.update({"job-name": name, "batch.kubernetes.io/job-name": name, "controller-uid": uid})
                pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": pod_name, "namespace": ns, "uid": str(uuid.uuid4()), "labels": labels,
                                    "creationTimestamp": now(),
                                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
                                                         "controller": True, "blockOwnerDeletion": True}]},
                       "spec": tmpl["spec"], "status": {"phase": "Pending"}}
                PODS[(ns, pod_name)] = pod
                bump("Pod", "ADDED", pod)
            deadline = body["spec"].get("activeDeadlineSeconds")
            threading.Thread(target=run_pod, args=(ns, name, pod_name, tmpl["spec"], deadline), daemon=True).start()
            return self.send_json(201, job)
        self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def do_DELETE(self):
        body = self.read_body()
        self.record(body)
        parts, _ = self.route()
        if len(parts) == 7 and parts[:3] == ["apis", "batch", "v1"] and parts[5] == "jobs":
            job = delete_job(parts[4], parts[6])
            if job is None:
                return self.send_json(404, status(404, "NotFound", f'jobs.batch "{parts[6]}" not found'))
            return self.send_json(200, job)
        if len(parts) == 6 and parts[:2] == ["api", "v1"] and parts[4] == "pods":
            with LOCK:
                pod = PODS.get((parts[3], parts[5]))
                if not pod:
                    return self.send_json(404, status(404, "NotFound", f'pods "{parts[5]}" not found'))
                delete_pod(parts[3], parts[5])
            return self.send_json(200, pod)
        self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    cert = os.environ.get("K8S_DOUBLE_TLS_CERT")
    ports = [server.server_address[1]]
    if cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, os.environ["K8S_DOUBLE_TLS_KEY"])
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        # The same API in plain HTTP on a second port, for the test's own
        # look at the state (/phx-double/stats).
        control = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        control.daemon_threads = True
        threading.Thread(target=control.serve_forever, daemon=True).start()
        ports.append(control.server_address[1])
    print(" ".join(map(str, ports)), flush=True)

    def stats(*_):
        with LOCK:
            sys.stderr.write(json.dumps({**STATS, "jobs": len(JOBS), "pods": len(PODS)}) + "\n")
            sys.stderr.flush()
    signal.signal(signal.SIGUSR1, stats)
    server.serve_forever()


if __name__ == "__main__":
    main()
