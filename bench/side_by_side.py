#!/usr/bin/env python3
"""phx side by side with Snakemake, numpy and openssl, in one run.

Each measurement alternates the tools (A B, B A, ...), several runs each,
and reports the median, min and max and the ratio of the medians. Called by
`bench/run`, which sets up the virtual environment and builds phx; writes
the section between the side-by-side markers of bench/RESULTS.md.

  side_by_side.py --phx PATH --snakemake PATH --python PATH [--quick]
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "side_by_side"
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache" / "phx-target"))


def run_measured(cmd, cwd):
    """Wall time (s) and peak RSS (MB) of one run of `cmd` in `cwd`."""
    # stderr to a file: a pipe nobody reads fills up and blocks the child.
    with open(OUT / "last-stderr.txt", "w+b") as errf:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errf)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({code}) in {cwd}:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def snakefile(n):
    return f'''N = {n}

rule all:
    input: "total.txt"

rule touch:
    output: "parts/{{i}}.txt"
    shell: "echo {{wildcards.i}} > {{output}}"

rule gather:
    input: expand("parts/{{i}}.txt", i=range(N))
    output: "total.txt"
    shell: "cat {{input}} | awk '{{{{ t += $1 }}}} END {{{{ print t }}}}' > {{output}}"
'''


def phx_program(n):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "gen.py"), "commands", str(n)], capture_output=True, text=True, check=True).stdout


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def alternate(runs, cases):
    """cases: {name: (prepare, cmd, cwd)}; returns {name: {wall: [...], rss: [...]}}."""
    names = list(cases)
    out = {n: {"wall": [], "rss": []} for n in names}
    for r in range(runs):
        order = names if r % 2 == 0 else list(reversed(names))
        for n in order:
            prepare, cmd, cwd = cases[n]
            prepare()
            wall, rss = run_measured(cmd, cwd)
            out[n]["wall"].append(wall)
            out[n]["rss"].append(rss)
    return out


def workflow(phx, snakemake, sizes, runs):
    rows = []
    # Dry run / DAG construction.
    for n in sizes["dry"]:
        pd, sd = fresh(OUT / f"dry{n}" / "phx"), fresh(OUT / f"dry{n}" / "smk")
        (pd / "b.phx").write_text(phx_program(n))
        (sd / "Snakefile").write_text(snakefile(n))
        res = alternate(runs if n < 50000 else max(2, runs - 1), {
            "phx": (lambda: shutil.rmtree(pd / ".phx", ignore_errors=True), [phx, "run", "b.phx", "--dry-run"], pd),
            "snakemake": (lambda: shutil.rmtree(sd / ".snakemake", ignore_errors=True), [snakemake, "-n", "--cores", "1", "--quiet", "all"], sd),
        })
        rows.append((f"dry run (DAG construction), {n:,} jobs", res))
    # Full run from scratch, 2 parallel jobs.
    for n in sizes["full"]:
        pd, sd = fresh(OUT / f"full{n}" / "phx"), fresh(OUT / f"full{n}" / "smk")
        (pd / "b.phx").write_text(phx_program(n))
        (sd / "Snakefile").write_text(snakefile(n))

        def clean_smk(sd=sd):
            for p in ["parts", "total.txt", ".snakemake"]:
                q = sd / p
                shutil.rmtree(q, ignore_errors=True) if q.is_dir() else q.unlink(missing_ok=True)

        res = alternate(runs, {
            "phx": (lambda pd=pd: shutil.rmtree(pd / ".phx", ignore_errors=True), [phx, "run", "b.phx", "--jobs", "2"], pd),
            "snakemake": (clean_smk, [snakemake, "--cores", "2", "--quiet", "all"], sd),
        })
        rows.append((f"full run from scratch, {n:,} jobs + gather, 2 at a time", res))
    # No-op re-run, everything up to date.
    for n in sizes["noop"]:
        base = fresh(OUT / f"noop{n}")
        pd = base / "phx"
        pd.mkdir()
        (pd / "b.phx").write_text(phx_program(n))
        # One full run, then one re-run that verifies every object once (a
        # copied store would not do: copies get new inodes, so their
        # fingerprints no longer match and every hit would be re-hashed).
        for _ in range(2):
            subprocess.run([phx, "run", "b.phx", "--jobs", "2"], cwd=pd, check=True, capture_output=True)
        sd = base / "smk"
        sd.mkdir()
        (sd / "Snakefile").write_text(snakefile(n))
        # Snakemake's outputs made directly (running 10,000 jobs through it
        # would take a quarter of an hour): parts first, the gather after.
        (sd / "parts").mkdir()
        for i in range(n):
            (sd / "parts" / f"{i}.txt").write_text(f"{i}\n")
        time.sleep(1.1)
        (sd / "total.txt").write_text(f"{n * (n - 1) // 2}\n")
        check = subprocess.run([snakemake, "--cores", "2", "all"], cwd=sd, capture_output=True, text=True)
        if "Nothing to be done" not in check.stdout + check.stderr:
            sys.exit(f"snakemake does not see the {n}-job workflow as up to date:\n{check.stderr[-1500:]}")

        res = alternate(runs, {
            "phx": (lambda: None, [phx, "run", "b.phx", "--jobs", "2"], pd),
            "snakemake": (lambda: None, [snakemake, "--cores", "2", "--quiet", "all"], sd),
        })
        rows.append((f"no-op re-run, {n:,} jobs up to date", res))
    return rows


def criterion_samples(group, bench):
    """Per-iteration times (s) of a criterion benchmark's last run."""
    path = TARGET / "criterion" / group / bench / "new" / "sample.json"
    data = json.loads(path.read_text())
    return [t / i / 1e9 for t, i in zip(data["times"], data["iters"])]


def numerics(python, runs):
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    subprocess.run(["cargo", "bench", "--quiet", "-p", "phx-codegen", "--bench", "field", "--", "--noplot", "jit|hand_written"], cwd=ROOT, env=env, check=True, capture_output=True)
    rows = []
    for g in [128, 160]:
        group = f"field_evaluate_2p_{g}cubed_2_threads"
        jit = criterion_samples(group, "jit")
        hand = criterion_samples(group, "hand_written_rust_loop")
        numpy_times = []
        for _ in range(max(1, runs // 2)):
            out = subprocess.run([python, str(ROOT / "bench" / "field_evaluate_numpy.py"), str(g), "--json"], capture_output=True, text=True, check=True).stdout
            numpy_times.extend(json.loads(out)["times_s"])
        rows.append((g, summary(jit), summary(hand), summary(numpy_times)))
    # Hashing: the store's SHA-256 against openssl's, one core each.
    subprocess.run(["cargo", "bench", "--quiet", "-p", "phx-store", "--bench", "hash", "--", "--noplot", "sha256_like_openssl_speed"], cwd=ROOT, env=env, check=True, capture_output=True)
    ours = [(1 << 20) / t / 1e9 for t in criterion_samples("sha256_like_openssl_speed", "digest_1MiB")]
    theirs = []
    for _ in range(runs):
        out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "1048576", "-seconds", "2"], capture_output=True, text=True).stdout
        line = [l for l in out.splitlines() if l.lower().startswith("sha256")][-1]
        theirs.append(float(line.split()[-1].rstrip("k")) * 1000 / 1e9)
    return rows, summary(ours), summary(theirs)


def compiler(phx, runs):
    rows = []
    for n in [1000, 10000, 50000]:
        d = fresh(OUT / f"check{n}")
        (d / "p.phx").write_text(subprocess.run([sys.executable, str(ROOT / "bench" / "gen.py"), "explicit", str(n)], capture_output=True, text=True, check=True).stdout)
        walls, rss = [], []
        for _ in range(runs):
            w, r = run_measured([phx, "check", "p.phx"], d)
            walls.append(w)
            rss.append(r)
        rows.append((n, summary(walls), max(rss)))
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    subprocess.run(["cargo", "bench", "--quiet", "-p", "phx-lsp", "--bench", "latency", "--", "--noplot"], cwd=ROOT, env=env, check=True, capture_output=True)
    lsp = []
    for lines in [1000, 5000, 20000]:
        edit = summary(criterion_samples("lsp/edit_to_diagnostics", str(lines)))
        moving = summary(criterion_samples("lsp/edit_to_diagnostics_moving", str(lines)))
        comp = summary(criterion_samples("lsp/completion", str(lines)))
        hover = summary(criterion_samples("lsp/hover", str(lines)))
        lsp.append((lines, edit, moving, comp, hover))
    return rows, lsp


def fmt_s(s, unit="s", scale=1.0, digits=3):
    return f"{s['median'] * scale:.{digits}f} ({s['min'] * scale:.{digits}f}–{s['max'] * scale:.{digits}f}) {unit}"


def render(meta, wf, num, comp):
    lines = ["<!-- side-by-side:start -->", "## Side by side (bench/run)", ""]
    lines.append(f"Measured {meta['date']} on {meta['machine']}; {meta['phx']}, Snakemake {meta['snakemake']}, "
                 f"numpy {meta['numpy']}, {meta['openssl']}, Python {meta['python']}. Medians with (min–max); "
                 f"each row alternates the tools, {meta['runs']} runs each (2 for Snakemake's 50,000-job dry run).")
    lines += ["", "### Workflow overhead", "",
              "| workflow | phx | Snakemake | phx faster by | phx peak RSS | Snakemake peak RSS | memory ratio |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, res in wf:
        p, s = summary(res["phx"]["wall"]), summary(res["snakemake"]["wall"])
        pr, sr = max(res["phx"]["rss"]), max(res["snakemake"]["rss"])
        lines.append(f"| {name} | {fmt_s(p)} | {fmt_s(s)} | {s['median'] / p['median']:.1f}x | {pr:.0f} MB | {sr:.0f} MB | {sr / pr:.1f}x |")
    rows, ours, theirs = num
    lines += ["", "### Numerics", "",
              "`field.evaluate` of the hydrogen 2p function (`z * exp(-r / 2)`), float64: the Cranelift JIT kernel and a hand-written Rust loop on the same two threads (criterion), numpy vectorised (one thread, as numpy runs it).", "",
              "| grid | phx JIT | hand-written loop | numpy | JIT vs numpy | JIT vs hand loop |", "| --- | --- | --- | --- | --- | --- |"]
    for g, jit, hand, npy in rows:
        lines.append(f"| {g}^3 | {fmt_s(jit, 'ms', 1e3, 1)} | {fmt_s(hand, 'ms', 1e3, 1)} | {fmt_s(npy, 'ms', 1e3, 1)} | {npy['median'] / jit['median']:.2f}x | {hand['median'] / jit['median']:.2f}x |")
    lines += ["", "| hashing, 1 MiB buffers, one core | GB/s | ratio |", "| --- | --- | --- |",
              f"| phx store (sha2) | {fmt_s(ours, 'GB/s', 1, 2)} | {ours['median'] / theirs['median']:.2f}x |",
              f"| `openssl speed -evp sha256` | {fmt_s(theirs, 'GB/s', 1, 2)} | 1x |"]
    checks, lsp = comp
    lines += ["", "### Compiler and editor", "", "| `phx check`, explicit nodes | wall | peak RSS |", "| --- | --- | --- |"]
    for n, s, rss in checks:
        lines.append(f"| {n:,} nodes | {fmt_s(s)} | {rss:.0f} MB |")
    lines += ["", "| LSP, lines | edit to published diagnostics, typing in one item | the same, each edit in another item | completion | hover |", "| --- | --- | --- | --- | --- |"]
    for n, e, m, c, h in lsp:
        lines.append(f"| {n:,} | {fmt_s(e, 'ms', 1e3, 2)} | {fmt_s(m, 'ms', 1e3, 2)} | {fmt_s(c, 'µs', 1e6, 1)} | {fmt_s(h, 'µs', 1e6, 1)} |")
    lines += ["", "<!-- side-by-side:end -->"]
    return "\n".join(lines)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--phx", required=True)
    ap.add_argument("--snakemake", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    a = ap.parse_args()
    sizes = {"dry": [1000, 10000, 50000], "full": [100, 1000], "noop": [1000, 10000]}
    if a.quick:
        sizes = {"dry": [200], "full": [20], "noop": [50]}
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "phx": subprocess.run([a.phx, "--version"], capture_output=True, text=True).stdout.strip(),
        "snakemake": subprocess.run([a.snakemake, "--version"], capture_output=True, text=True).stdout.strip(),
        "numpy": subprocess.run([a.python, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True).stdout.strip(),
        "openssl": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.split(" (")[0].strip(),
        "python": platform.python_version(),
        "runs": a.runs,
    }
    print("workflow overhead ...", file=sys.stderr)
    wf = workflow(a.phx, a.snakemake, sizes, a.runs)
    print("numerics ...", file=sys.stderr)
    num = numerics(a.python, a.runs)
    print("compiler and editor ...", file=sys.stderr)
    comp = compiler(a.phx, a.runs)
    section = render(meta, wf, num, comp)
    print(section)
    if not a.quick:
        results = ROOT / "bench" / "RESULTS.md"
        text = results.read_text()
        start, end = text.find("<!-- side-by-side:start -->"), text.find("<!-- side-by-side:end -->")
        if start >= 0 and end > start:
            text = text[:start] + section + text[end + len("<!-- side-by-side:end -->"):]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        results.write_text(text)


if __name__ == "__main__":
    main()
