"""Copy the browser runtimes that device mode needs from web/node_modules (after `npm ci` in web/) into the package,
meshfer/assets/web/vendor/, so that `pip install .` carries them and nothing is fetched at run time.

Only the files the page loads are copied: MediaPipe's vision bundle and its SIMD wasm (every browser with WebAssembly
SIMD: Chrome 91, Firefox 89, Safari 16.4), and onnxruntime-web's plain wasm build (not the WebGPU/JSEP one).
Run from the repository root: `cd web && npm ci && cd .. && python scripts/vendor_web.py`.
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "web" / "node_modules"
VENDOR = ROOT / "meshfer" / "assets" / "web" / "vendor"

# MediaPipe's tasks send usage metrics to Google every minute (their README's privacy notice); device mode promises
# that nothing leaves the device, so the vendored bundle's metrics logger drops its records instead of posting them.
# (The page's Content-Security-Policy blocks the request too; this keeps the console clean and holds without it.)
METRICS_FLUSH = ("flush(t,e){if(this.error)", "flush(t,e){if(this.i=[],!0)t?.();else if(this.error)")

# package -> (files in the package, the folder they go to under vendor/)
FILES = {
    "@mediapipe/tasks-vision": (["vision_bundle.mjs", "wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm"],
                                "tasks-vision"),
    "onnxruntime-web": (["dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs",
                         "dist/ort-wasm-simd-threaded.wasm"], "onnxruntime-web"),
}


def main() -> int:
    if not MODULES.is_dir():
        print(f"no {MODULES}: run `npm ci` in {MODULES.parent} first", file=sys.stderr)
        return 1
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    versions = {}
    for package, (files, folder) in FILES.items():
        source = MODULES / package
        versions[package] = json.loads((source / "package.json").read_text())["version"]
        for name in files:
            target = VENDOR / folder / Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)
    drop_metrics(VENDOR / "tasks-vision" / "vision_bundle.mjs")
    (VENDOR / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    total = sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file())
    print(f"{VENDOR.relative_to(ROOT)}: {versions}, {total / 2**20:.1f} MiB")
    return 0


def drop_metrics(bundle: Path) -> None:
    text = bundle.read_text(encoding="utf-8")
    old, new = METRICS_FLUSH
    if text.count(old) != 1 or "odml.pa.googleapis.com" not in text:
        raise SystemExit(f"{bundle}: MediaPipe's metrics logger is not where this script expects it; check the new "
                         "release by hand and update METRICS_FLUSH")
    bundle.write_text(text.replace(old, new), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
