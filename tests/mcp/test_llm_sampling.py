"""`phx mcp` sampling answered by a real small model: the client's sampling
callback asks a llama.cpp server (PHX_LLM_LOCAL_URL, started by
tests/llm_local.rs with SmolLM2-135M-Instruct from PyPI) with the grammar
phx sends in the request's metadata. Skipped when no such server is given."""

import json
import os
import urllib.request

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

PHX = os.environ.get("PHX_BIN", "phx")
URL = os.environ.get("PHX_LLM_LOCAL_URL")


def local_model(asked):
    """A sampling callback that forwards the request to the local model,
    with the grammar phx put in its metadata."""

    async def sampling(context, params: types.CreateMessageRequestParams):
        asked.append(params)
        messages = [{"role": "system", "content": params.systemPrompt or ""}]
        messages += [{"role": m.role, "content": m.content.text} for m in params.messages]
        body = {"model": "smollm2", "messages": messages, "max_tokens": params.maxTokens, "temperature": 0.2}
        body.update(params.metadata or {})
        req = urllib.request.Request(URL + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            answer = json.loads(r.read())["choices"][0]
        stop = "maxTokens" if answer.get("finish_reason") == "length" else "endTurn"
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=answer["message"]["content"]), model="smollm2", stopReason=stop)

    return sampling


@pytest.mark.skipif(not URL, reason="no local model server (PHX_LLM_LOCAL_URL)")
@pytest.mark.asyncio
async def test_a_real_small_model_writes_a_program_through_sampling(tmp_path):
    asked = []
    server = StdioServerParameters(command=PHX, args=["mcp", "--dir", str(tmp_path), "--sampling-constrain", "gbnf"], env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, sampling_callback=local_model(asked)) as session:
            await session.initialize()
            r = await session.call_tool("experiment_orchestrator", {"method": "define_dag", "natural_language": "Compute the hydrogen 1s orbital density on a 64 grid and plot an xz slice"})
            d = r.structuredContent
            assert d["ok"], d
            v = (await session.call_tool("experiment_orchestrator", {"method": "validate_dag", "dag_id": d["dag_id"]})).structuredContent
            assert v["ok"], v
    assert asked and "grammar" in (asked[0].metadata or {}), asked[0]
    assert "quantum.orbital" in d["program"] and "plot.heatmap" in d["program"], d["program"]
