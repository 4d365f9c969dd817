"""pytest-lsp fixtures: the real `phx lsp`, driven with the capability sets
of VS Code and Neovim (as recorded by pytest-lsp)."""

import os
import pathlib
import shutil

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

PHX = os.environ.get("PHX_BIN", "phx")
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def workdir(tmp_path):
    """A folder with copies of the examples the tests open."""
    for name in ["hydrogen_2p.phx", "refs.bib", "wavepacket.phx"]:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    (tmp_path / "lib").mkdir()
    shutil.copy(EXAMPLES / "lib" / "potentials.phx", tmp_path / "lib" / "potentials.phx")
    return tmp_path


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[PHX, "lsp"]),
    params=["visual_studio_code", "neovim"],
)
async def client(request, lsp_client: LanguageClient):
    params = types.InitializeParams(capabilities=client_capabilities(request.param))
    result = await lsp_client.initialize_session(params)
    lsp_client.encoding = result.capabilities.position_encoding
    yield
    await lsp_client.shutdown_session()
