"""`phx mcp` driven by the official MCP Python SDK (PyPI `mcp`) as the
client: every method of both tools and every legacy name, with good and bad
arguments, structured results checked against the declared output schemas,
and the sampling path with a client model that answers wrong first."""

import base64
import json
import os
import subprocess

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


def server(tmp_path):
    return StdioServerParameters(command=PHX, args=["mcp", "--dir", str(tmp_path)], env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PHX_AUTHOR": "An Agent"})


class Checked:
    """Calls tools and checks every structured result against its schema."""

    def __init__(self, session, tools):
        self.session = session
        self.schemas = {t.name: t.outputSchema for t in tools}

    async def call(self, name, args, expect_error=False):
        r = await self.session.call_tool(name, args)
        assert r.isError == expect_error, (name, args, r.content)
        assert r.content and r.content[0].type == "text" and r.content[0].text
        assert r.structuredContent is not None
        jsonschema.validate(r.structuredContent, self.schemas[name])
        return r.structuredContent


@pytest.mark.asyncio
async def test_every_method_with_good_and_bad_arguments(tmp_path):
    async with stdio_client(server(tmp_path)) as (read, write):
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
            j = await c.call("job_submit", {"backend": "k8s", "job": {"command": "true"}}, expect_error=True)
            assert "k8s" in j["error"]
            # What this build cannot do says so, as a tool error.
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
            ]:
                e = await c.call(name, args, expect_error=True)
                assert words in e["error"], (name, e["error"])
            # Still alive.
            assert (await c.call("validate_dag", {"dag_id": dag_id}))["ok"]


@pytest.mark.asyncio
async def test_natural_language_is_written_by_the_clients_model_and_repaired(tmp_path):
    answers = [f"Here it is:\n```phx\n{BROKEN}```", f"Fixed:\n```phx\n{PROGRAM}```"]
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
    assert d["attempts"][0]["errors"] and "phx::unknown-arg" in d["attempts"][0]["errors"][0]
    assert len(asked) == 2
    # The system prompt is the language summary; the repair request carries the diagnostics.
    assert "quantum.orbital" in asked[0].systemPrompt
    assert "phx::unknown-arg" in asked[1].messages[-1].content.text
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
