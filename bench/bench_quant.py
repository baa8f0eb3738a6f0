"""int8 against fp32 batch-1 latency, per preset, in onnxruntime (and OpenVINO with --openvino).

For each preset: random weights, fp32 ONNX export (static batch 1), onnxruntime static int8 (QDQ,
per-channel, the same code as ``nptrain quantize``, calibrated on a few random images: latency does
not depend on the calibration), then fp32 and int8 are timed interleaved (one call of each per
round) at each thread count, so load from other processes hits both alike. Prints medians and the
ratio fp32 / int8 (> 1: int8 is faster) with the CPU's int8 features: int8 speed-ups come from
VNNI/AMX dot products; plain AVX2 has neither.

    python bench/bench_quant.py --presets resnet18 resnet50 --threads 1 2 --repeats 20
    python bench/bench_quant.py --presets resnet50 --openvino --json quant.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import nptrain
from nptrain.deploy.calibration import CalibrationSet
from nptrain.deploy.cpu import describe_cpu
from nptrain.deploy.format_bench import interleaved_latency
from nptrain.deploy.ort_quant import quantize_onnx
from nptrain.deploy.runtime import open_artifact
from nptrain.export_tools import export_onnx_checked

CNN_PRESETS = ("simple_cnn", "resnet18", "resnet34", "resnet50", "resnet101", "pidnet_s")


class RandomImages:
    def __init__(self, count: int, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = [torch.randn(3, size, size, generator=g) for _ in range(count)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        return self.images[item[0]], {}


def bench_preset(name: str, size: int, threads: list[int], repeats: int, openvino: bool, calib: int) -> dict:
    task = "segmentation" if name.startswith("pidnet") else "classification"
    model = nptrain.create_model(name, task=task, num_classes=1000 if task == "classification" else 19).eval()
    x = torch.randn(1, 3, size, size)
    out: dict = {"preset": name, "size": size, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        export_onnx_checked(model, x, fp32, opset=17, dynamic_batch=False)
        int8 = Path(tmp) / "model_int8.onnx"
        quantize_onnx(fp32, int8, CalibrationSet(RandomImages(calib, size), calib, seed=0))
        files = {"ort fp32": fp32, "ort int8": int8}
        if openvino:
            import nncf
            import openvino as ov

            ov_model = ov.convert_model(str(fp32))
            ov.save_model(ov_model, str(Path(tmp) / "ov_fp32.xml"), compress_to_fp16=False)
            data = [img.unsqueeze(0).numpy() for img in RandomImages(calib, size).images]
            q = nncf.quantize(ov_model, nncf.Dataset(data), subset_size=len(data))
            ov.save_model(q, str(Path(tmp) / "ov_int8.xml"), compress_to_fp16=False)
            files.update({"ov fp32": Path(tmp) / "ov_fp32.xml", "ov int8": Path(tmp) / "ov_int8.xml"})
        out["size_mib"] = {k: round(v.stat().st_size / 2**20, 2) for k, v in files.items() if v.suffix == ".onnx"}
        arr = x.numpy()
        for n in threads:
            runners = {k: open_artifact(v, n) for k, v in files.items()}
            times = interleaved_latency([lambda r=r: r(arr) for r in runners.values()], repeats)
            row = {"threads": n, **{k: t for k, t in zip(runners, times)}}
            row["ort_ratio"] = row["ort fp32"]["median_ms"] / row["ort int8"]["median_ms"]
            if openvino:
                row["ov_ratio"] = row["ov fp32"]["median_ms"] / row["ov int8"]["median_ms"]
            out["runs"].append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=list(CNN_PRESETS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--calib", type=int, default=8)
    ap.add_argument("--openvino", action="store_true", help="also OpenVINO fp32 vs NNCF int8")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cpu = describe_cpu()
    print(f"CPU: {cpu}; batch 1, input {args.size}x{args.size}, interleaved, {args.repeats} rounds")
    results = []
    for name in args.presets:
        res = bench_preset(name, args.size, args.threads, args.repeats, args.openvino, args.calib)
        results.append(res)
        for row in res["runs"]:
            cols = "  ".join(f"{k} {row[k]['median_ms']:.2f} ms (p90 {row[k]['p90_ms']:.2f})"
                             for k in row if isinstance(row[k], dict))
            ratios = f"ort fp32/int8 {row['ort_ratio']:.2f}x" + (f", ov fp32/int8 {row['ov_ratio']:.2f}x" if "ov_ratio" in row else "")
            print(f"{name:<12} {row['threads']} thr  {cols}  →  {ratios}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
