#!/usr/bin/env python3
"""Writes large .phx programs for the compiler benchmarks.

  gen.py sweep N     one sweep node with N instances, a consumer per 1000, and
                     one gather over all of them
  gen.py explicit N  N explicit nodes in chains of 10 (each reads the one before)
  gen.py lines N     about N lines: explicit nodes, 5 lines each
  gen.py commands N  N trivial command nodes and one gather (for `phx run`)
"""
import sys

HEADER = '''experiment bench {
  title = "generated"
}

param extent: Length = 20 bohr

'''


def sweep(n: int) -> str:
    out = [HEADER]
    out.append(f"node orb[i in 0..{n}] = quantum.orbital(n = 2, l = 1, m = 0, grid = 32 + i % 64, extent = extent) {{\n  emit = [static]\n}}\n\n")
    for j in range(0, n, 1000):
        out.append(f"node view{j} = plot.heatmap(field = orb[{j}].density, plane = \"xz\") {{\n  emit = [static]\n}}\n\n")
    # One gather over every instance: an edge per instance into one vertex.
    out.append("node everything = data.stack(inputs = orb[*].radial) {\n  emit = [series]\n}\n")
    return "".join(out)


def explicit(n: int) -> str:
    out = [HEADER]
    for i in range(n):
        if i % 10 == 0:
            out.append(f"node n{i} = quantum.orbital(n = 2, l = 1, m = 0, grid = {32 + i % 64}, extent = extent) {{\n  emit = [static]\n}}\n\n")
        elif i % 10 == 1:
            out.append(f"node n{i} = plot.heatmap(field = n{i - 1}.density, plane = \"xz\") {{\n  emit = [static]\n}}\n\n")
        else:
            out.append(f"node n{i} = plot.contact_sheet(images = [n{i - 1}.image], columns = {1 + i % 4}) {{\n  emit = [static]\n}}\n\n")
    return "".join(out)


def commands(n: int) -> str:
    """N independent trivial command nodes and one gather over all of them."""
    return f"""tool bench.touch(i: Int) -> (out: File) {{
  run = "echo {{i}} > {{out}}"
}}

tool bench.gather(parts: List[File]) -> (total: Int) {{
  run = "printf '%s\\n' {{parts}} | xargs cat | awk '{{{{ t += $1 }}}} END {{{{ printf \\"%.0f\\\\n\\", t }}}}' > {{total}}"
}}

node t[i in 0..{n}] = bench.touch(i = i)

node all = bench.gather(parts = t[*].out)
"""


def main() -> None:
    kind, n = sys.argv[1], int(sys.argv[2])
    if kind == "sweep":
        sys.stdout.write(sweep(n))
    elif kind == "explicit":
        sys.stdout.write(explicit(n))
    elif kind == "commands":
        sys.stdout.write(commands(n))
    elif kind == "lines":
        sys.stdout.write(explicit(max(1, n // 4)))
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
