#!/usr/bin/env python3
"""The editor's latency through the real binary: `phx lsp` over stdio, as an
editor runs it (JSON-RPC framing, pipes, the release build's allocator).

For programs of about 1,000, 5,000 and 20,000 lines (`gen.py lines N`), it
opens the file, then types a number into the middle node's `grid` argument
and deletes it again, one character per `didChange`, and times each change
until the server publishes the diagnostics of that version. It also times a
hover and a completion in the same node. Prints medians and the 90th
percentile.

  bench/lsp_stdio.py [--phx PATH] [--edits N] [--sizes 1000,5000,20000]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A `phx lsp` process and a minimal JSON-RPC client."""

    def __init__(self, phx: str):
        self.proc = subprocess.Popen([phx, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, msg: dict) -> None:
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("phx lsp closed its output")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        return json.loads(self.proc.stdout.read(length))

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            msg = self.read()
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result")

    def wait_diagnostics(self, uri: str, version: int) -> list:
        while True:
            msg = self.read()
            if msg.get("method") == "textDocument/publishDiagnostics" and msg["params"].get("uri") == uri and msg["params"].get("version") == version:
                return msg["params"]["diagnostics"]

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.proc.wait(timeout=10)


def summary(samples: list) -> str:
    ms = sorted(s * 1e3 for s in samples)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{statistics.median(ms):.2f} ms (p90 {p90:.2f})"


def measure(phx: str, lines: int, edits: int) -> dict:
    text = subprocess.run([sys.executable, str(ROOT / "bench" / "gen.py"), "lines", str(lines)], capture_output=True, text=True, check=True).stdout
    all_lines = text.split("\n")
    middle = len(all_lines) // 2
    target = next(i for i in range(middle, len(all_lines)) if "grid = " in all_lines[i])
    col = all_lines[target].index("grid = ") + len("grid = ")
    uri = f"file:///bench/lsp-stdio-{lines}.phx"
    server = Server(phx)
    server.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    server.notify("initialized", {})
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "phx", "version": 1, "text": text}})
    assert server.wait_diagnostics(uri, 1) == [], "the generated program checks clean"
    version, typed, samples = 1, 0, []
    for i in range(edits):
        version += 1
        # Type up to two digits ("grid = 4" -> "grid = 124"), then delete them.
        if (i // 2) % 2 == 0:
            change = {"range": {"start": {"line": target, "character": col + typed}, "end": {"line": target, "character": col + typed}}, "text": "1"}
            typed += 1
        else:
            typed -= 1
            change = {"range": {"start": {"line": target, "character": col + typed}, "end": {"line": target, "character": col + typed + 1}}, "text": ""}
        start = time.perf_counter()
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
        server.wait_diagnostics(uri, version)
        samples.append(time.perf_counter() - start)
    hover, completion = [], []
    for _ in range(max(20, edits // 4)):
        start = time.perf_counter()
        result = server.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": target, "character": col - 3}})
        hover.append(time.perf_counter() - start)
        assert result, "hover on `grid` answers"
        start = time.perf_counter()
        result = server.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": target, "character": col - len("grid = ")}})
        completion.append(time.perf_counter() - start)
        assert result and result["items"], "completion offers the arguments"
    server.close()
    return {"lines": len(all_lines), "edit": samples, "hover": hover, "completion": completion}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phx", default=str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/phx-target")) / "release" / "phx"))
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--sizes", default="1000,5000,20000", help="comma-separated line counts")
    args = ap.parse_args()
    print("| lines | edit → published diagnostics | hover | completion |")
    print("| --- | --- | --- | --- |")
    for n in (int(x) for x in args.sizes.split(",")):
        r = measure(args.phx, n, args.edits)
        print(f"| {r['lines']:,} | {summary(r['edit'])} | {summary(r['hover'])} | {summary(r['completion'])} |", flush=True)


if __name__ == "__main__":
    main()
