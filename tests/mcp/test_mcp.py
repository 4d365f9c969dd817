"""`phx mcp` driven by the official MCP Python SDK (PyPI `mcp`) as the
client: the agent's flow in a folder made by `phx init` (every method
referring to the same run, progress notifications, `phx runs` seeing it),
the same with the program in a sub-folder, every method of both tools and
every legacy name with good and bad arguments, structured results checked
against the declared output schemas, the sampling path with a client model
that answers wrong first, cancellation, and cluster jobs on Slurm and on
Kubernetes (against the API server double)."""

import base64
import json
import os
import select
import subprocess
import time
import uuid

import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

PHX = os.environ.get("PHX_BIN", "phx")

PROGRAM = """experiment small {
  title   = "small"
  authors = ["T. Ester"]
}

node density = quantum.orbital(n = 2, l = 1, m = 0, grid = 24, extent = 20 bohr) {
  emit = [static, series]
}

node slice = plot.heatmap(field = density.density, plane = "xz", resolution = 48) {
  emit = [static]
}
"""

BROKEN = PROGRAM.replace("plane = \"xz\"", "plane = \"xz\", colour = 3")
# An error the compiler cannot fix itself (it removes an unknown argument):
# the client's model has to.
UNFIXABLE = PROGRAM.replace("plane = \"xz\"", "plane = 3")


def server(folder, config=None, grants=()):
    config = config or folder
    return StdioServerParameters(command=PHX, args=["mcp", "--dir", str(folder), *grants], env={**os.environ, "XDG_CONFIG_HOME": str(config / "config"), "PHX_AUTHOR": "An Agent"})


def phx(*args, **kw):
    return subprocess.run([PHX, *args], capture_output=True, text=True, **kw)


def init_folder(tmp_path, name="exp"):
    folder = tmp_path / name
    made = phx("init", str(folder))
    assert made.returncode == 0, made.stderr
    return folder


class Checked:
    """Calls tools and checks every structured result against its schema."""

    def __init__(self, session, tools):
        self.session = session
        self.schemas = {t.name: t.outputSchema for t in tools}

    async def call(self, name, args, expect_error=False, progress=None):
        r = await self.session.call_tool(name, args, progress_callback=progress)
        assert r.isError == expect_error, (name, args, r.content)
        assert r.content and r.content[0].type == "text" and r.content[0].text
        assert r.structuredContent is not None
        jsonschema.validate(r.structuredContent, self.schemas[name])
        return r.structuredContent


@pytest.mark.asyncio
async def test_every_method_with_good_and_bad_arguments(tmp_path):
    async with stdio_client(server(tmp_path, grants=["--allow-cluster"])) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "phx"
            tools = (await session.list_tools()).tools
            names = {t.name for t in tools}
            assert {"experiment_orchestrator", "distributed_collaboration"} <= names
            legacy = {"define_dag", "validate_dag", "run_dag", "publish_report", "collaborate_share",
                      "job_submit", "session_share", "lab_notebook", "artifact_versioning"}
            assert legacy <= names
            for t in tools:
                assert t.inputSchema["type"] == "object" and t.outputSchema["type"] == "object"
            c = Checked(session, tools)

            # define_dag from source, then validate it by id.
            d = await c.call("experiment_orchestrator", {"method": "define_dag", "source": PROGRAM})
            assert d["ok"] and len(d["nodes"]) == 2 and d["edges"][0]["from"] == "density"
            dag_id = d["dag_id"]
            v = await c.call("experiment_orchestrator", {"method": "validate_dag", "dag_id": dag_id})
            assert v["ok"] and v["diagnostics"] == []

            # A broken program: diagnostics with codes, lines and help.
            bad = await c.call("validate_dag", {"source": BROKEN})
            assert not bad["ok"]
            diag = bad["diagnostics"][0]
            assert diag["code"] == "phx::unknown-arg" and diag["line"] == 10 and diag["severity"] == "error"

            # From the JSON form of the DAG.
            src = tmp_path / "p.phx"
            src.write_text(PROGRAM)
            spec = json.loads(subprocess.run([PHX, "export", "--json", str(src)], capture_output=True, text=True, check=True).stdout)
            s = await c.call("define_dag", {"spec": spec})
            assert s["ok"] and {n["id"] for n in s["nodes"]} == {"density", "slice"}

            # Run it: nodes, artifacts, cache hits, devices, figures with thumbnails.
            r = await c.call("experiment_orchestrator", {"method": "run_dag", "dag_id": dag_id, "parallelism": 2})
            assert r["ok"] and r["status"] == "succeeded" and r["cache_hits"] == 0
            assert sum(r["device_mix"].values()) == 2
            figures = r["reportable"]["figures"]
            assert any(f["node"] == "slice" for f in figures)
            png = base64.b64decode(figures[0]["png_b64"])
            assert png.startswith(b"\x89PNG") and os.path.exists(figures[0]["png"])
            assert r["reportable"]["tables"], r["reportable"]
            again = await c.call("run_dag", {"dag_id": dag_id})
            assert again["cache_hits"] == 2

            # The report, with a title, authors and a bibliography entry.
            p = await c.call("experiment_orchestrator", {"method": "publish_report", "run_id": r["run_id"], "title": "Agent report",
                                                          "authors": ["An Agent"], "bibliography": ["@book{g2018, title = {QM}, author = {Griffiths, D.}, year = {2018}}"]})
            assert p["ok"] and open(p["report"], "rb").read(5) == b"%PDF-"
            text = subprocess.run(["pdftotext", p["report"], "-"], capture_output=True, text=True).stdout
            assert "Agent report" in text and "QM" in text

            # The notebook and artifact history.
            n = await c.call("distributed_collaboration", {"method": "lab_notebook", "title": "First run", "markdown": "It *works*.", "attach": [r["run_id"]]})
            assert n["entry"]["seq"] == 1 and n["entry"]["refs"][0]["run_id"] == r["run_id"]
            sha = next(a["sha256"] for a in r["artifacts"] if a["node"] == "slice" and a["output"] == "image")
            a = await c.call("distributed_collaboration", {"method": "artifact_versioning", "artifact": sha[:12]})
            assert a["artifact"]["sha256"] == sha and a["lineage"]["ancestors"]
            h = await c.call("artifact_versioning", {"node": "density"})
            assert len(h["history"]["artifacts"]) >= 2

            # A job on the real Slurm cluster: environment, resources, an
            # output file, braces that must not be read as interpolation.
            j = await c.call("distributed_collaboration", {"method": "job_submit", "backend": "slurm", "job": {
                "command": "echo on-the-cluster-$GREETING > out.txt; echo '{braces} kept'",
                "env": {"GREETING": "hello world"},
                "resources": {"cpus": 1, "mem_mb": 100, "time_s": 120},
                "outputs": ["out.txt"]}})
            assert j["status"] == "succeeded" and j["job_id"].isdigit(), j
            assert j["provenance"]["backend"] == "slurm" and "backend = slurm" in j["provenance"]["placement"]
            made = next(a for a in j["artifacts"] if a["output"] == "files#0")
            assert open(made["path"]).read() == "on-the-cluster-hello world\n"
            assert "{braces} kept" in open(j["log"]["stdout"]).read()
            bad = await c.call("job_submit", {"backend": "slurm", "job": {"command": "exit 4"}})
            assert bad["status"] == "failed" and "exited with 4" in bad["error"], bad
            await c.call("job_submit", {"backend": "slurm", "job": {"command": "true", "env": {"1X": "y"}}}, expect_error=True)
            # Kubernetes with no cluster configured or reachable: an error that says so.
            j = await c.call("job_submit", {"backend": "k8s", "job": {"command": "true"}}, expect_error=True)
            assert j["code"] == "phx::backend-unreachable", j
            await c.call("job_submit", {"backend": "local", "job": {"command": "true"}}, expect_error=True)
            await c.call("job_submit", {"backend": "slurm", "job": {"command": "true", "mounts": [{"path": "data", "claim": "x"}]}}, expect_error=True)
            # Share links: to the run, and to a signed bundle for participants.
            s = await c.call("session_share", {"run_id": r["run_id"], "access": "write", "participants": ["Ada"], "expires": "2h"})
            assert s["url"].startswith("http://127.0.0.1:8470/s/phx1.") and s["access"] == "write"
            b = await c.call("experiment_orchestrator", {"method": "collaborate_share", "run_id": r["run_id"], "participants": ["Ada", "Grace"]})
            assert b["bundle"].endswith(".phxb") and os.path.getsize(b["bundle"]) > 1000 and b["url"] != s["url"]
            await c.call("session_share", {"run_id": r["run_id"], "expires": "10y"}, expect_error=True)
            await c.call("session_share", {"run_id": "../x"}, expect_error=True)

            # Bad arguments: results with isError and a message, never a crash.
            for name, args, words in [
                ("experiment_orchestrator", {}, "needs `method`"),
                ("experiment_orchestrator", {"method": "fly"}, "no method `fly`"),
                ("define_dag", {"source": PROGRAM, "natural_language": "x"}, "exactly one"),
                ("validate_dag", {"dag_id": "../../etc"}, "not a dag_id"),
                ("validate_dag", {"dag_id": "0123456789abcdef"}, "no DAG"),
                ("run_dag", {"dag_id": dag_id, "parallelism": 0}, "parallelism"),
                ("run_dag", {"dag_id": dag_id, "policy": "fastest"}, "policy"),
                ("publish_report", {"run_id": "nope"}, "no run"),
                ("lab_notebook", {"markdown": "no title"}, "title"),
                ("artifact_versioning", {}, "give `artifact`"),
                ("define_dag", {"spec": {"nodes": "wrong"}}, "spec"),
                ("run_dag", {"dag_id": dag_id, "parallelisme": 2}, "parallelisme"),
                ("run_dag", {"path": "../outside.phx"}, "cannot read"),
                ("job_submit", {"backend": "slurm", "job": {"command": "true", "resources": {"cpu": 1}}}, "cpu"),
            ]:
                e = await c.call(name, args, expect_error=True)
                assert words in e["error"], (name, e["error"])
            # Still alive.
            assert (await c.call("validate_dag", {"dag_id": dag_id}))["ok"]


@pytest.mark.asyncio
async def test_natural_language_is_written_by_the_clients_model_and_repaired(tmp_path):
    answers = [f"Here it is:\n```phx\n{UNFIXABLE}```", f"Fixed:\n```phx\n{PROGRAM}```"]
    asked = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        asked.append(params)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=answers[len(asked) - 1]), model="test-model")

    async with stdio_client(server(tmp_path)) as (read, write):
        async with ClientSession(read, write, sampling_callback=sampling) as session:
            await session.initialize()
            c = Checked(session, (await session.list_tools()).tools)
            d = await c.call("experiment_orchestrator", {"method": "define_dag", "natural_language": "the 2p density and an xz slice of it"})
    assert d["ok"] and d["repairs"] == 1, d
    assert d["attempts"][0]["errors"] and "phx::type-mismatch" in d["attempts"][0]["errors"][0]
    assert len(asked) == 2
    # The system prompt is the language summary; the repair request carries the diagnostics.
    assert "quantum.orbital" in asked[0].systemPrompt
    assert "phx::type-mismatch" in asked[1].messages[-1].content.text
    assert d["program"].strip() == PROGRAM.strip()


@pytest.mark.asyncio
async def test_without_sampling_it_returns_prompt_material_and_a_skeleton(tmp_path):
    async with stdio_client(server(tmp_path)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            c = Checked(session, (await session.list_tools()).tools)
            d = await c.call("define_dag", {"natural_language": "hydrogen 1s"})
    assert d["ok"] is False and d["needs_model"] is True
    assert "hydrogen 1s" in d["prompt"] and "quantum.orbital" in d["program"]


def test_protocol_versions_and_unknown_methods(tmp_path):
    def exchange(messages):
        proc = subprocess.run([PHX, "mcp", "--dir", str(tmp_path)], input="".join(json.dumps(m) + "\n" for m in messages),
                              capture_output=True, text=True, timeout=60)
        return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]

    for asked, answered in [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"), ("2024-11-05", "2024-11-05"), ("1999-01-01", "2025-11-25")]:
        out = exchange([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}])
        assert out[0]["result"]["protocolVersion"] == answered
    out = exchange([{"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {}}, {"jsonrpc": "2.0", "id": 8, "method": "ping"}])
    assert out[0]["id"] == 7 and out[0]["error"]["code"] == -32601
    assert out[1]["id"] == 8 and out[1]["result"] == {}
    # Not JSON at all: a parse error, and the server keeps going.
    proc = subprocess.run([PHX, "mcp", "--dir", str(tmp_path)], input="{not json\n" + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}) + "\n",
                          capture_output=True, text=True, timeout=60)
    lines = [json.loads(l) for l in proc.stdout.splitlines()]
    assert lines[0]["error"]["code"] == -32700 and lines[1]["id"] == 2


def the_model_writes(program):
    """A sampling callback whose model answers with `program`."""
    async def sampling(context, params: types.CreateMessageRequestParams):
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=f"```phx\n{program}```"), model="test-model")
    return sampling


@pytest.mark.asyncio
async def test_an_agents_flow_in_a_folder_made_by_phx_init(tmp_path):
    folder = init_folder(tmp_path)
    async with stdio_client(server(folder, tmp_path)) as (read, write):
        async with ClientSession(read, write, sampling_callback=the_model_writes(PROGRAM)) as session:
            init = await session.initialize()
            assert str(folder.resolve()) in init.instructions
            c = Checked(session, (await session.list_tools()).tools)
            d = await c.call("experiment_orchestrator", {"method": "define_dag", "natural_language": "the 2p density and an xz slice of it"})
            assert d["ok"] and d["repairs"] == 0, d
            v = await c.call("experiment_orchestrator", {"method": "validate_dag", "dag_id": d["dag_id"]})
            assert v["ok"]

            progress = []

            async def on_progress(value, total, message):
                progress.append((value, total, message))

            r = await c.call("experiment_orchestrator", {"method": "run_dag", "dag_id": d["dag_id"]}, progress=on_progress)
            assert r["ok"] and r["status"] == "succeeded", r
            run_id = r["run_id"]
            finished = [p for p in progress if p[2] and "succeeded in" in p[2]]
            assert len(finished) >= len(r["nodes"]) == 2, progress
            assert max(p[0] for p in progress) == 2 and all(p[1] == 2 for p in progress), progress

            p = await c.call("experiment_orchestrator", {"method": "publish_report", "run_id": run_id, "title": "Agent report"})
            assert p["run_id"] == run_id and open(p["report"], "rb").read(5) == b"%PDF-"
            n = await c.call("distributed_collaboration", {"method": "lab_notebook", "title": "The 2p run", "markdown": "- looks right\n- next: 3d", "run_id": run_id})
            entry = n["entry"]
            assert entry["refs"][0]["run_id"] == run_id, entry
            assert any(a["name"].endswith(".pdf") for a in entry["attachments"]), entry
            sha = next(a["sha256"] for a in r["artifacts"] if a["node"] == "slice")
            a = await c.call("distributed_collaboration", {"method": "artifact_versioning", "artifact": sha})
            assert a["artifact"]["produced_by"][0]["run_id"] == run_id
            s = await c.call("distributed_collaboration", {"method": "session_share", "run_id": run_id})
            assert s["run_id"] == run_id and s["url"].startswith("http://127.0.0.1:8470/s/")
            b = await c.call("experiment_orchestrator", {"method": "collaborate_share", "run_id": run_id, "participants": ["Ada"]})
            assert b["run_id"] == run_id and os.path.getsize(b["bundle"]) > 1000

    # The command line sees the same run in the same store.
    runs = json.loads(phx("runs", "--dir", str(folder), "--format", "json").stdout)["runs"]
    assert [x["run_id"] for x in runs] == [run_id]
    shown = json.loads(phx("show", run_id, "--dir", str(folder), "--format", "json").stdout)
    assert {x["id"] for x in shown["nodes"]} == {"density", "slice"}
    entries = json.loads(phx("notebook", "list", "--dir", str(folder), "--format", "json", env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}).stdout)["entries"]
    assert entries[0]["title"] == "The 2p run"
    assert not (folder / ".phx" / "mcp" / "dags" / ".phx").exists(), "one store, not one per program"


@pytest.mark.asyncio
async def test_the_same_flow_with_the_program_in_a_sub_folder(tmp_path):
    folder = init_folder(tmp_path)
    (folder / "analysis").mkdir()
    (folder / "analysis" / "orbital.phx").write_text(PROGRAM)
    # The server is started in the sub-folder: it finds the experiment above.
    async with stdio_client(server(folder / "analysis", tmp_path)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            c = Checked(session, (await session.list_tools()).tools)
            d = await c.call("define_dag", {"path": "analysis/orbital.phx"})
            assert d["ok"] and d["dag_id"] is None, d
            r = await c.call("run_dag", {"path": "analysis/orbital.phx", "parallelism": 2})
            assert r["ok"], r
            p = await c.call("publish_report", {"run_id": r["run_id"]})
            assert p["run_id"] == r["run_id"]
            await c.call("run_dag", {"path": "/etc/hostname"}, expect_error=True)
    runs = json.loads(phx("runs", "--dir", str(folder), "--format", "json").stdout)["runs"]
    assert runs[0]["run_id"] == r["run_id"] and runs[0]["file"] == "analysis/orbital.phx"
    # `--dir` of the sub-folder is the same experiment, as for `phx mcp`.
    runs = json.loads(phx("runs", "--dir", str(folder / "analysis"), "--format", "json").stdout)["runs"]
    assert runs[0]["run_id"] == r["run_id"]


@pytest.mark.asyncio
async def test_a_large_sweep_comes_back_counted_not_listed(tmp_path):
    folder = init_folder(tmp_path)
    sweep = 'node u[i in 0..250] = units.convert(value = i * 1.0 eV, to = "J")\n'
    async with stdio_client(server(folder, tmp_path)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            c = Checked(session, (await session.list_tools()).tools)
            r = await c.call("run_dag", {"source": sweep, "parallelism": 2})
            assert r["ok"] and r["nodes"] == [] and r["artifacts"] == [], r
            [family] = r["families"]
            assert (family["node"], family["count"], family["lowest"], family["highest"]) == ("u", 250, 0, 249), family
            assert sum(g["count"] for g in family["groups"] if g["status"] == "succeeded") == 250, family
            assert r["device_mix"] == {"cpu": 250}, r["device_mix"]
            # Again: every instance from the cache, counted as such.
            again = await c.call("run_dag", {"source": sweep})
            assert again["cache_hits"] == 250 and again["families"][0]["groups"][0]["cached"], again
            # Asked for, every instance is listed.
            listed = await c.call("run_dag", {"source": sweep, "fold_sweeps": False})
            assert len(listed["nodes"]) == 250 and "families" not in listed, listed.keys()
            assert len(listed["artifacts"]) == 250


class Raw:
    """`phx mcp` over pipes, message by message."""

    def __init__(self, folder, home, grants=()):
        self.proc = subprocess.Popen([PHX, "mcp", "--dir", str(folder), *grants], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env={**os.environ, "XDG_CONFIG_HOME": str(home / "config")})
        self.buffer = b""

    def send(self, msg):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def read(self, timeout=60):
        deadline = time.time() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.time()
            assert left > 0, "no message in time"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, "the server closed its output"
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def until(self, pred, timeout=60):
        seen = []
        while True:
            m = self.read(timeout)
            seen.append(m)
            if pred(m):
                return m, seen

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


def test_cancelling_a_run_leaves_nothing_behind(tmp_path):
    folder = init_folder(tmp_path)
    # The command runs from a script file: its own argv is what pgrep finds.
    marker = f"sleep 299.{uuid.uuid4().int % 10**8:08d}"
    program = f'node wait = shell.run(command = "{marker}; echo done")\n'
    raw = Raw(folder, tmp_path, ["--allow-commands"])
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    raw.read()
    raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_dag", "arguments": {"source": program}, "_meta": {"progressToken": "p1"}}})
    started, _ = raw.until(lambda m: m.get("method") == "notifications/progress" and "started" in m["params"]["message"])
    assert started["params"]["progressToken"] == "p1"
    deadline = time.time() + 15
    while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0:
        assert time.time() < deadline, "the command never started"
        time.sleep(0.1)
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2, "reason": "the user changed their mind"}})
    # The server keeps serving, and the cancelled call gets no answer.
    raw.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    pong, seen = raw.until(lambda m: m.get("id") == 3)
    assert pong["result"] == {} and not any(m.get("id") == 2 for m in seen)
    deadline = time.time() + 15
    while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
        assert time.time() < deadline, "the command outlived its cancelled run"
        time.sleep(0.2)
    runs = []
    while time.time() < deadline and not (runs and runs[0]["status"] == "cancelled"):
        runs = json.loads(phx("runs", "--dir", str(folder), "--format", "json").stdout)["runs"]
        time.sleep(0.2)
    assert runs[0]["status"] == "cancelled", runs
    assert raw.close() == 0


def squeue_names():
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else None


def test_cancelling_a_run_on_slurm_leaves_no_job_in_the_queue(tmp_path):
    folder = init_folder(tmp_path)
    node = f"wait{uuid.uuid4().hex[:6]}"
    program = f'node {node} = shell.run(command = "sleep 240")\n'
    raw = Raw(folder, tmp_path, ["--allow-commands", "--allow-cluster"])
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    raw.read()
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_dag", "arguments": {"source": program, "backend": "slurm"}, "_meta": {"progressToken": 7}}})
    raw.until(lambda m: m.get("method") == "notifications/progress" and "started" in m["params"]["message"])
    deadline = time.time() + 60
    while not any(node in n for n in (squeue_names() or [])):
        assert time.time() < deadline, f"the job never reached the queue: {squeue_names()}"
        time.sleep(0.3)
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}})
    deadline = time.time() + 60
    while any(node in n for n in (squeue_names() or [])):
        assert time.time() < deadline, f"the job outlived its cancelled run: {squeue_names()}"
        time.sleep(0.3)
    runs = []
    while time.time() < deadline and not (runs and runs[0]["status"] == "cancelled"):
        runs = json.loads(phx("runs", "--dir", str(folder), "--format", "json").stdout)["runs"]
        time.sleep(0.2)
    assert runs[0]["status"] == "cancelled", runs
    assert raw.close() == 0


def test_malformed_messages_and_a_client_that_goes_away(tmp_path):
    raw = Raw(tmp_path, tmp_path)
    raw.proc.stdin.write(b"\xff\xfe not utf-8\n42\nnull\n[1, 2]\n" + json.dumps({"jsonrpc": "2.0", "id": 5}).encode() + b"\n")
    raw.proc.stdin.flush()
    codes = [raw.read()["error"]["code"] for _ in range(5)]
    assert codes == [-32700, -32600, -32600, -32600, -32600], codes
    raw.send({"jsonrpc": "2.0", "id": 6, "method": "ping"})
    assert raw.read()["id"] == 6
    assert raw.close() == 0


def start_k8s_double(folder, host_paths=()):
    here = os.path.dirname(os.path.abspath(__file__))
    double = subprocess.Popen(["python3", os.path.join(here, "..", "k8s", "apiserver_double.py")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env={**os.environ, "K8S_DOUBLE_LOG": str(folder / "requests.jsonl")})
    port = int(double.stdout.readline().split()[0])
    (folder / "kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: http://127.0.0.1:{port}
contexts:
- name: double
  context:
    cluster: double
    user: tester
    namespace: phx-test
current-context: double
users:
- name: tester
  user:
    token: not-a-secret
""")
    with open(folder / "phx.toml", "a") as f:
        f.write(f'\n[k8s]\nkubeconfig = "{folder / "kubeconfig"}"\nimage = "registry.example/phx:0.1.0"\nclaim = "phx-store"\nphx = "{os.path.abspath(PHX)}"\npoll_ms = 200\nhost_paths = {json.dumps([str(p) for p in host_paths])}\n')
    return double


@pytest.mark.asyncio
async def test_job_submit_on_kubernetes_mounts_a_volume_and_streams_its_log(tmp_path):
    folder = init_folder(tmp_path)
    host = tmp_path / "host-data"
    host.mkdir()
    double = start_k8s_double(folder, [host])
    mount = tmp_path / "mnt" / "data"
    try:
        async with stdio_client(server(folder, tmp_path, ["--allow-cluster"])) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                c = Checked(session, (await session.list_tools()).tools)
                progress = []

                async def on_progress(value, total, message):
                    progress.append(message)

                j = await c.call("job_submit", {"backend": "k8s", "job": {
                    "command": f"echo line-one; echo from-the-pod > {mount}/made.txt; echo $GREETING > out.txt; echo line-two",
                    "env": {"GREETING": "hello pod"}, "resources": {"cpus": 1, "mem_mb": 64},
                    "outputs": ["out.txt"], "mounts": [{"path": str(mount), "host_path": str(host)}]}}, progress=on_progress)
                assert j["ok"] and j["status"] == "succeeded", j
                assert j["backend"] == "k8s" and j["job_id"], j
                made = next(a for a in j["artifacts"] if a["output"] == "files#0")
                assert open(made["path"]).read() == "hello pod\n"
                assert "line-two" in open(j["log"]["stdout"]).read()
                assert any("line-one" in (m or "") for m in progress), progress
                for bad in [{"path": str(mount), "claim": "Not_A_Name"}, {"path": str(mount)}, {"path": "/x", "claim": "a", "host_path": "/y"},
                            {"path": str(folder / "sub"), "claim": "over-the-store"}, {"path": "/", "claim": "root"}]:
                    e = await c.call("job_submit", {"backend": "k8s", "job": {"command": "true", "mounts": [bad]}}, expect_error=True)
                    assert e["code"] == "phx::usage", e
                # A host folder phx.toml does not list is not the client's to mount.
                for host_path in ["/", "/etc", "/var/run/docker.sock"]:
                    e = await c.call("job_submit", {"backend": "k8s", "job": {"command": "true", "mounts": [{"path": "/data", "host_path": host_path}]}}, expect_error=True)
                    assert e["code"] == "phx::not-granted" and "host_paths" in e["help"], e
        # The volume was declared on the Job and the pod wrote through it.
        assert (host / "made.txt").read_text() == "from-the-pod\n"
        posted = [json.loads(l)["body"] for l in open(folder / "requests.jsonl") if json.loads(l)["method"] == "POST"]
        pod = posted[0]["spec"]["template"]["spec"]
        assert {"name": "mount-0", "hostPath": {"path": str(host), "type": "Directory"}} in pod["volumes"], pod["volumes"]
        assert {"name": "mount-0", "mountPath": str(mount)} in pod["containers"][0]["volumeMounts"]
    finally:
        double.kill()
        double.wait()


@pytest.mark.asyncio
async def test_without_grants_an_agent_gets_no_shell_no_cluster_and_no_outside_files(tmp_path):
    """A prompt-injected model behind the client can do no more than the
    person who started the server allowed; with the grants the same calls work."""
    folder = init_folder(tmp_path)
    (folder / "data.csv").write_text("x,y\n1,2\n2,4\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the model\n")
    (folder / "link.csv").symlink_to(secret)
    shell = 'node a = shell.run(command = "id > pwned.txt")\n'
    outside = f'node d = data.load_csv(path = "{secret}") {{\n  emit = [series]\n}}\n'
    linked = 'node d = data.load_csv(path = "link.csv") {\n  emit = [series]\n}\n'
    inside = 'node d = data.load_csv(path = "data.csv") {\n  emit = [series]\n}\n'
    async with stdio_client(server(folder, tmp_path)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert "--allow-commands" in init.instructions and "--allow-cluster" in init.instructions
            c = Checked(session, (await session.list_tools()).tools)
            for args in [{"source": shell}, {"source": outside}, {"source": linked}, {"source": inside, "backend": "slurm"}]:
                e = await c.call("run_dag", args, expect_error=True)
                assert e["code"] == "phx::not-granted" and "phx mcp" in e["help"], e
            assert not (folder / "pwned.txt").exists()
            e = await c.call("job_submit", {"backend": "slurm", "job": {"command": "id"}}, expect_error=True)
            assert e["code"] == "phx::not-granted" and "--allow-cluster" in e["help"]
            e = await c.call("lab_notebook", {"title": "x", "attach": [str(secret)]}, expect_error=True)
            assert e["code"] == "phx::not-granted"
            e = await c.call("lab_notebook", {"title": "x", "attach": ["../secret.txt"]}, expect_error=True)
            assert e["code"] == "phx::not-granted"
            assert (await c.call("run_dag", {"source": inside}))["ok"]
            assert (await c.call("lab_notebook", {"title": "data", "attach": ["data.csv"]}))["ok"]
    async with stdio_client(server(folder, tmp_path, ["--allow-commands", "--allow-path", str(tmp_path)])) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            c = Checked(session, (await session.list_tools()).tools)
            assert (await c.call("run_dag", {"source": shell}))["ok"]
            assert (folder / ".phx").exists()
            assert (await c.call("run_dag", {"source": outside}))["ok"]
            assert (await c.call("lab_notebook", {"title": "y", "attach": [str(secret)]}))["ok"]
