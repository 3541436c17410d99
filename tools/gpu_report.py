#!/usr/bin/env python3
"""The Python half of the GPU check (tools/gpu_build.sh, tools/gpu_time.sh; issue 27).

  gpu_report.py info                    what torch says, as one JSON line (torch imported here only)
  gpu_report.py matmul                  the GPU's bf16 matmul rate (8192^3, CUDA events), one JSON line
  gpu_report.py run FILE CASE SIDE ROUND EXIT SECONDS PEAK BEFORE
                                        one line of bench.jsonl: the last JSON line of FILE (a
                                        benchmark's output) with the run's round, exit status,
                                        wall seconds and peak GPU memory, or an error line with
                                        the end of FILE and FILE.err
  gpu_report.py pairs BENCH_JSONL       how many section 5 cases have a GPU timing of both sides
  gpu_report.py gpu_build WORK OUT      $OUT/gpu_build.json from the fields the script collected
  gpu_report.py gpu_time WORK OUT       $OUT/gpu_time.json; prints docs/benchmarks.md's section 5 table

The report modes read WORK/fields (lines "s|j <tab> key <tab> value", written by gpu_lib.sh's field
and num) and WORK/torch_info.json; they import nothing but the standard library.
"""
import json
import os
import re
import statistics
import sys


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def read_fields(work):
    report = {}
    try:
        with open(os.path.join(work, "fields"), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        kind, _, rest = line.partition("\t")
        key, _, value = rest.partition("\t")
        if kind == "j":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        node = report
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return report


def base_report(work):
    fields = read_fields(work)
    torch_info = load(os.path.join(work, "torch_info.json"), {})
    report = {k: fields.pop(k, None) for k in ("status", "message", "exit_code", "elapsed_seconds", "limit_seconds",
                                               "dry_run")}
    report.update({k: torch_info.get(k) for k in ("device_name", "capability", "memory_gib", "torch_version",
                                                  "cuda_version", "nccl_version", "cuda_available")})
    report["torch"] = torch_info
    report.update(fields)
    return report


def write(out, name, report):
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


# ---- info, matmul (these two import torch) --------------------------------------------------

def info():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any failure to import means "no torch" here
        print(json.dumps({"torch": False, "error": "%s: %s" % (type(e).__name__, e)}))
        return
    d = {"torch": True, "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
         "cuda_available": torch.cuda.is_available(), "cmake_prefix_path": torch.utils.cmake_prefix_path,
         "site": os.path.dirname(os.path.dirname(torch.__file__)), "python": sys.executable,
         "cxx11_abi": bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True))}
    if d["cuda_available"]:
        p = torch.cuda.get_device_properties(0)
        d.update({"device_count": torch.cuda.device_count(), "device_name": p.name,
                  "capability": "%d.%d" % (p.major, p.minor), "memory_gib": round(p.total_memory / 2**30, 1),
                  "multiprocessors": p.multi_processor_count})
    try:  # the libnccl torch loads; needs no GPU
        d["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception:  # noqa: BLE001
        d["nccl_version"] = None
    try:
        import torchvision
        d["torchvision_version"] = torchvision.__version__
    except Exception as e:  # noqa: BLE001
        d["torchvision_version"] = None
        d["torchvision_error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(d))


def matmul():
    import torch
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.matmul(a, b)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    flop = 2.0 * n ** 3
    print(json.dumps({"matmul": {"n": n, "dtype": "bfloat16", "tflops_best": flop / min(times) / 1e12,
                                 "tflops_median": flop / statistics.median(times) / 1e12,
                                 "device_name": torch.cuda.get_device_name(0)}}))


def run_line(path, case, side, rnd, rc, seconds, peak, before):
    row = None
    text = ""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        pass
    for line in reversed(text.splitlines()):
        if line.strip().startswith("{"):
            try:
                row = json.loads(line)
                break
            except ValueError:
                continue
    if row is None:
        try:  # the run's standard error, where the script keeps it
            with open(path + ".err", errors="replace") as f:
                text += f.read()
        except OSError:
            pass
        row = {"case": case, "side": side, "error": text.strip()[-400:] or "no output"}
    as_int = lambda v: int(v) if v.lstrip("-").isdigit() else None
    row.update({"round": as_int(rnd), "exit_code": as_int(rc), "wall_seconds": as_int(seconds),
                "gpu_memory_used_peak_mib": as_int(peak), "gpu_memory_used_before_mib": as_int(before)})
    print(json.dumps(row))


# ---- call 1: the build and the CUDA tests ---------------------------------------------------

def tests_result(out, exit_code):
    """GoogleTest's JSON, or (no JSON: crashed or timed out) what its log says."""
    tests = load(os.path.join(out, "cuda_tests.json"))
    if tests is not None:
        passed, failed, skipped = [], [], []
        for suite in tests.get("testsuites", []):
            for t in suite.get("testsuite", []):
                name = "%s.%s" % (suite["name"], t["name"])
                if t.get("failures"):
                    failed.append({"test": name, "failures": [f.get("failure", "")[:600] for f in t["failures"]]})
                elif t.get("result") == "SKIPPED":
                    skipped.append(name)
                else:
                    passed.append(name)
        return {"exit_code": exit_code, "passed": passed, "failed": failed, "skipped": skipped}
    # GoogleTest writes its JSON at the end; its log still names every finished test and the one
    # that was running.
    passed, failed, skipped, running = [], [], [], None
    try:
        with open(os.path.join(out, "cuda_tests.log"), errors="replace") as f:
            for line in f:
                tag, _, rest = line.partition("] ")
                name = rest.split(" (")[0].strip()
                if not re.fullmatch(r"[A-Za-z_][\w/]*\.[\w/]+", name):
                    continue  # the summary's "1 test, listed below:" lines
                if tag == "[ RUN      ":
                    running = name
                elif tag in ("[       OK ", "[  FAILED  ", "[  SKIPPED "):
                    found = {"[       OK ": passed, "[  FAILED  ": failed, "[  SKIPPED ": skipped}[tag]
                    if name not in found:
                        found.append(name)
                    running = None if name == running else running
    except OSError:
        pass
    return {"exit_code": exit_code, "error": "no cuda_tests.json: crashed or timed out", "passed": passed,
            "failed": [{"test": t} for t in failed], "skipped": skipped, "unfinished": running}


def gpu_build(work, out):
    report = base_report(work)
    rc = report.pop("tests_rc", None)
    if rc is not None:
        report["tests"] = tests_result(out, rc)
    write(out, "gpu_build", report)
    failed = report.get("tests", {}).get("failed")
    if failed:
        print("failed CUDA tests: " + ", ".join(t["test"] for t in failed))


# ---- call 2: section 5 ----------------------------------------------------------------------

# The convention of step_torch.py --flops: 2 FLOPs per multiply-add, training = forward + both
# gradients (about 3x forward). The published "4.1 / 17.6 GFLOPs" of ResNet-50 / ViT-B/16 count
# multiply-adds, so their FLOPs are twice that; kept beside the count as a check.
ESTIMATE = {"resnet50_224": 3 * 2 * 4.1e9, "vit_b16_224": 3 * 2 * 17.6e9}


def bench_rows(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip().startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return rows


def on_gpu(row):
    return "images_per_second" in row and str(row.get("device", "cpu")).startswith("cuda")


def pairs(path):
    rows = [r for r in bench_rows(path) if on_gpu(r)]
    print(sum(all(any(r.get("case") == c and r.get("side") == s for r in rows) for s in ("aft", "torch"))
              for c in ESTIMATE))


def gpu_time(work, out):
    report = base_report(work)
    rows = bench_rows(os.path.join(out, "bench.jsonl"))
    matmul_row = next((r["matmul"] for r in rows if "matmul" in r), None)
    peak = matmul_row["tflops_best"] * 1e12 if matmul_row else None
    counted = {r["case"]: r["step_flops_per_image"] for r in rows if "step_flops_per_image" in r}
    timed = [r for r in rows if "images_per_second" in r]
    cases = {}
    for name in ESTIMATE:
        # Round k pairs the k-th aft run with the k-th PyTorch run; only runs on the GPU count
        # (a dry run's CPU lines are listed apart).
        runs = {side: [r for r in timed if r.get("case") == name and r.get("side") == side and on_gpu(r)]
                for side in ("aft", "torch")}
        failed = [r for r in rows if r.get("case") == name and "error" in r]
        if not runs["aft"] and not runs["torch"] and not failed:
            continue
        ips = {side: [r["images_per_second"] for r in runs[side]] for side in runs}
        c = {"aft_images_per_second": ips["aft"], "torch_images_per_second": ips["torch"]}
        for side in ("aft", "torch"):
            c[side + "_median_images_per_second"] = statistics.median(ips[side]) if ips[side] else None
            peaks = [r["gpu_memory_used_peak_mib"] - (r.get("gpu_memory_used_before_mib") or 0)
                     for r in runs[side] if r.get("gpu_memory_used_peak_mib") is not None]
            c[side + "_peak_gpu_memory_mib"] = max(peaks) if peaks else None
        reserved = [r["cuda_max_memory_reserved_mib"] for r in runs["torch"] if "cuda_max_memory_reserved_mib" in r]
        c["torch_max_memory_reserved_mib"] = max(reserved) if reserved else None
        first = (runs["aft"] or runs["torch"] or [{}])[0]
        c.update({k: first.get(k) for k in ("batch", "amp", "channels_last", "params")})
        ratios = [a / t for a, t in zip(ips["aft"], ips["torch"])]
        if ratios:
            c["ratio_per_round"] = ratios
            c["ratio_median"] = statistics.median(ratios)
            c["ratio_min"], c["ratio_max"] = min(ratios), max(ratios)
        flops = counted.get(name, ESTIMATE[name])
        c["step_flops_per_image"] = flops
        c["step_flops_per_image_source"] = "step_torch.py --flops" if name in counted else "estimate"
        c["step_flops_per_image_estimate"] = ESTIMATE[name]
        if peak:
            for side in ("aft", "torch"):
                m = c[side + "_median_images_per_second"]
                c[side + "_percent_of_bf16_peak"] = 100.0 * m * flops / peak if m else None
        if failed:
            c["failed_runs"] = [{k: r.get(k) for k in ("side", "round", "exit_code", "error")} for r in failed]
        cases[name] = c
    report["section5"] = {"rounds": report.pop("rounds_done", None), "bf16_matmul": matmul_row, "cases": cases,
                          "step_flops_counted": counted}
    cpu_rows = [r for r in timed if not on_gpu(r)]
    if cpu_rows:
        report["dry_run_cpu_rows"] = cpu_rows
    write(out, "gpu_time", report)

    fmt = lambda v, f: (f % v) if v is not None else "-"
    if any(c["aft_images_per_second"] or c["torch_images_per_second"] for c in cases.values()):
        print("\n%s, torch %s, CUDA %s; bf16 matmul peak %s TFLOP/s (best of 10, 8192^3)"
              % (report["device_name"], report["torch_version"], report["cuda_version"],
                 fmt(peak / 1e12 if peak else None, "%.0f")))
        print("| case | batch | aft img/s | PyTorch img/s | aft/PyTorch median [min..max] | aft % of peak "
              "| PyTorch % of peak | peak GPU MiB aft / PyTorch |")
        print("|---|---|---|---|---|---|---|---|")
        for name, c in cases.items():
            print("| %s | %s | %s | %s | %s [%s..%s] | %s | %s | %s / %s |" % (
                name, c.get("batch"), fmt(c["aft_median_images_per_second"], "%.0f"),
                fmt(c["torch_median_images_per_second"], "%.0f"), fmt(c.get("ratio_median"), "%.2f"),
                fmt(c.get("ratio_min"), "%.2f"), fmt(c.get("ratio_max"), "%.2f"),
                fmt(c.get("aft_percent_of_bf16_peak"), "%.1f%%"), fmt(c.get("torch_percent_of_bf16_peak"), "%.1f%%"),
                fmt(c.get("aft_peak_gpu_memory_mib"), "%d"), fmt(c.get("torch_peak_gpu_memory_mib"), "%d")))
    for r in cpu_rows:
        print("dry run, PyTorch eager on the CPU: %s batch %s, %.2f img/s (%d steps, amp %s, channels-last %s)"
              % (r["case"], r["batch"], r["images_per_second"], r["steps"], r.get("amp", "off"),
                 r.get("channels_last", False)))
    for name, n in counted.items():
        print("step FLOPs per image, %s: %.1f G (estimate %.1f G)" % (name, n / 1e9, ESTIMATE.get(name, 0) / 1e9))


def main():
    mode, args = (sys.argv[1] if len(sys.argv) > 1 else ""), sys.argv[2:]
    if mode == "info":
        info()
    elif mode == "matmul":
        matmul()
    elif mode == "pairs" and len(args) == 1:
        pairs(*args)
    elif mode == "run" and len(args) == 8:
        run_line(*args)
    elif mode in ("gpu_build", "gpu_time") and len(args) == 2:
        {"gpu_build": gpu_build, "gpu_time": gpu_time}[mode](*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
