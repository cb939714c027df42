"""`make plots-template`: the HTML page `dvc plots show` fills (.dvc/config: plots.html_template), with vega,
vega-lite and vega-embed inlined from npm (scripts/plots_page/package.json pins the versions DVC's renderer names),
so the plots draw with no network. Writes .dvc/plots/index.html and .dvc/plots/LICENSES.txt (both committed)."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "scripts" / "plots_page" / "node_modules"
BUILDS = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "vega-embed": "build/vega-embed.min.js"}
OUT = ROOT / ".dvc" / "plots"

PAGE = """<!DOCTYPE html>
<html>
<head>
    <!-- Written by scripts/plots_template.py: {names}, inlined (licences: .dvc/plots/LICENSES.txt). -->
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>meshfer — DVC plots</title>
{scripts}
    <style>
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def main() -> None:
    versions, scripts, licences = [], [], []
    for name, build in BUILDS.items():
        package = PACKAGES / name
        version = json.loads((package / "package.json").read_text())["version"]
        code = (package / build).read_text(encoding="utf-8")
        if "</script" in code.lower() or "{plot_divs}" in code or "{refresh_tag}" in code:
            raise SystemExit(f"{name}: its code cannot be inlined as is")
        versions.append(f"{name} {version}")
        scripts.append(f"    <script>/* {name} {version} */\n{code}\n    </script>")
        licences.append(f"{name} {version} (npm)\n{'=' * 40}\n{(package / 'LICENSE').read_text(encoding='utf-8')}")
    OUT.mkdir(parents=True, exist_ok=True)
    page = PAGE.format(names=", ".join(versions), scripts="\n".join(scripts))
    (OUT / "index.html").write_text(page, encoding="utf-8")
    (OUT / "LICENSES.txt").write_text("\n\n".join(licences), encoding="utf-8")
    print(f"plots-template: wrote {OUT.relative_to(ROOT)}/index.html ({', '.join(versions)})")


if __name__ == "__main__":
    main()
