"""End-to-end tests of `phx lsp` through pytest-lsp's client, once with VS
Code's capabilities (UTF-16 positions) and once with Neovim's (which offers
UTF-8: the server takes it)."""

import asyncio
import subprocess

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import PHX


def uri_of(path):
    return path.as_uri()


def position_of(text, needle, delta=0):
    """The LSP position of the first `needle` (ASCII lines, so UTF-8 and
    UTF-16 agree on this text)."""
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    character = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line=line, character=character)


async def open_doc(client: LanguageClient, path, text=None):
    text = path.read_text() if text is None else text
    uri = uri_of(path)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="phx", version=1, text=text)
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri, text


@pytest.mark.asyncio(loop_scope="function")
async def test_diagnostics_carry_the_spec_codes(client: LanguageClient, workdir):
    path = workdir / "hydrogen_2p.phx"
    text = path.read_text().replace("extent = extent)", "extent = 3 eV)")
    uri, _ = await open_doc(client, path, text)
    for _ in range(20):
        if client.diagnostics.get(uri):
            break
        await asyncio.sleep(0.05)
    codes = [d.code for d in client.diagnostics[uri]]
    assert "phx::unit-mismatch" in codes, codes
    d = next(d for d in client.diagnostics[uri] if d.code == "phx::unit-mismatch")
    assert d.severity == types.DiagnosticSeverity.Error
    assert "Length" in d.message and "Energy" in d.message
    assert d.range.start == position_of(text, "3 eV")

    # Pull diagnostics give the same answer.
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert "phx::unit-mismatch" in [d.code for d in report.items]


@pytest.mark.asyncio(loop_scope="function")
async def test_hover_shows_tools_params_and_quantities(client: LanguageClient, workdir):
    uri, text = await open_doc(client, workdir / "hydrogen_2p.phx")
    doc = types.TextDocumentIdentifier(uri=uri)

    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=position_of(text, "orbital("))
    )
    assert "quantum.orbital" in hover.contents.value
    assert "Hydrogen-like" in hover.contents.value
    assert "cap grid <= 160" in hover.contents.value

    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=position_of(text, "extent = extent", 10))
    )
    assert "24 bohr" in hover.contents.value and "m in SI" in hover.contents.value

    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=position_of(text, "24 bohr", 1))
    )
    assert "1.27" in hover.contents.value and "nm" in hover.contents.value

    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=position_of(text, "field = density.density", 9))
    )
    assert "density.radial" in hover.contents.value and "Field3D" in hover.contents.value


@pytest.mark.asyncio(loop_scope="function")
async def test_completion_offers_tools_arguments_outputs_and_units(client: LanguageClient, workdir):
    path = workdir / "hydrogen_2p.phx"
    base = path.read_text()
    cases = [
        ("node z = quantum.", ["orbital", "eigen1d", "wavepacket"], []),
        ("node z = quantum.orbital(n = 1, ", ["l", "m", "grid", "extent"], ["n"]),
        ("node z = plot.heatmap(field = density.", ["density", "radial"], []),
        ("node z = quantum.orbital(n = 1, l = 0, m = 0, extent = 3 ", ["bohr", "angstrom", "nm"], ["eV", "s"]),
        ("node z = quantum.orbital(n = 1, l = 0, m = 0) {\n  ", ["device", "emit", "allow_large"], []),
    ]
    for i, (tail, wanted, unwanted) in enumerate(cases):
        text = base + "\n" + tail
        uri, _ = await open_doc(client, path.with_name(f"c{i}.phx"), text)
        lines = text.split("\n")
        pos = types.Position(line=len(lines) - 1, character=len(lines[-1]))
        result = await client.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
        )
        items = result.items if hasattr(result, "items") else result
        labels = [it.label for it in items]
        for w in wanted:
            assert w in labels, (tail, labels)
        for u in unwanted:
            assert u not in labels, (tail, labels)


@pytest.mark.asyncio(loop_scope="function")
async def test_definition_references_and_rename(client: LanguageClient, workdir):
    uri, text = await open_doc(client, workdir / "hydrogen_2p.phx")
    doc = types.TextDocumentIdentifier(uri=uri)
    loc = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=position_of(text, "field = density.density", 8))
    )
    loc = loc[0] if isinstance(loc, list) else loc
    assert loc.uri == uri
    assert loc.range.start == position_of(text, "density = quantum")

    # A tool goes to its declaration in the embedded standard library.
    loc = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=position_of(text, "orbital("))
    )
    loc = loc[0] if isinstance(loc, list) else loc
    assert loc.uri.endswith("/quantum.phx")

    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc,
            position=position_of(text, "param grid", 6),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert len(refs) == 2

    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc, position=position_of(text, "param extent", 6), new_name="box")
    )
    edits = edit.changes[uri]
    # The param and its two uses (density and wave).
    assert len(edits) == 3 and all(e.new_text == "box" for e in edits)
    assert position_of(text, "extent: Length") in [e.range.start for e in edits]


@pytest.mark.asyncio(loop_scope="function")
async def test_formatting_matches_phx_fmt(client: LanguageClient, workdir):
    path = workdir / "messy.phx"
    messy = "param   grid:Int=96\nnode d=quantum.orbital(n=2,l=1,m=0,grid=grid){emit=[static]}\n"
    path.write_text(messy)
    uri, _ = await open_doc(client, path, messy)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert len(edits) == 1
    subprocess.run([PHX, "fmt", str(path)], check=True)
    assert edits[0].new_text == path.read_text()


@pytest.mark.asyncio(loop_scope="function")
async def test_semantic_tokens_classify_the_file(client: LanguageClient, workdir):
    uri, text = await open_doc(client, workdir / "hydrogen_2p.phx")
    tokens = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    data = tokens.data
    assert data and len(data) % 5 == 0
    # Decode to (line, start, length, type) and look up a few.
    decoded, line, start = [], 0, 0
    for i in range(0, len(data), 5):
        dl, ds, length, ty, _ = data[i : i + 5]
        line += dl
        start = start + ds if dl == 0 else ds
        decoded.append((line, start, length, ty))
    types_by_text = {}
    lines = text.split("\n")
    for (l, s, n, ty) in decoded:
        types_by_text.setdefault(lines[l][s : s + n], set()).add(ty)
    keyword, string, number, comment = 0, 1, 2, 3
    assert keyword in types_by_text["node"]
    assert number in types_by_text["96"]
    assert any(string in v for k, v in types_by_text.items() if k.startswith('"'))
    assert any(comment in v for k, v in types_by_text.items() if k.startswith("//"))
    assert 11 in types_by_text["density"]  # a node is a class

    # The visible-range request gives the same tokens for those lines,
    # encoded from the range's first token.
    first, last = 10, 30
    ranged = await client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=first, character=0), end=types.Position(line=last, character=0)),
        )
    )
    got, line, start = [], 0, 0
    for i in range(0, len(ranged.data), 5):
        dl, ds, length, ty, _ = ranged.data[i : i + 5]
        line += dl
        start = start + ds if dl == 0 else ds
        got.append((line, start, length, ty))
    assert got and got == [t for t in decoded if first <= t[0] < last]


@pytest.mark.asyncio(loop_scope="function")
async def test_a_syntax_error_in_one_item_leaves_the_others_working(client: LanguageClient, workdir):
    path = workdir / "hydrogen_2p.phx"
    text = path.read_text().replace("node wave = field.evaluate(f = psi_2pz,", "node wave = field.evaluate(f = psi_2pz,,, (")
    uri, _ = await open_doc(client, path, text)
    for _ in range(20):
        if client.diagnostics.get(uri):
            break
        await asyncio.sleep(0.05)
    assert "phx::syntax" in [d.code for d in client.diagnostics[uri]]
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(text, "heatmap("))
    )
    assert "plot.heatmap" in hover.contents.value
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    names = [s.name for s in symbols]
    assert "slice" in names and "spin" in names


@pytest.mark.asyncio(loop_scope="function")
async def test_graph_request_returns_the_dag(client: LanguageClient, workdir):
    uri, _ = await open_doc(client, workdir / "hydrogen_2p.phx")
    result = await client.protocol.send_request_async("phx/graph", {"textDocument": {"uri": uri}})
    mermaid = result.mermaid if hasattr(result, "mermaid") else result["mermaid"]
    assert "density" in mermaid and "-->" in mermaid
