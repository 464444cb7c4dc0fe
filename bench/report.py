"""Tables, targets and the plot for bench.py's results (one dict, also written as JSON)."""

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

IMPLS = ["floor", "fused", "eager", "manual", "compiled"]  # floor: the faster read-only pass


def with_floor(timings: dict) -> dict:
    """Adds "floor": the faster of the read-only passes (floor_sum, floor_amax) in timings."""
    passes = [name for name in timings if name.startswith("floor_")]
    fastest = min(passes, key=lambda name: timings[name].median_s)
    return {"floor": timings[fastest], **timings}


def grad_row(N, D, dtype, threads, nbytes, err, timings) -> dict:
    t = {name: timing.median_s for name, timing in timings.items()}
    return {
        "N": N,
        "D": D,
        "dtype": dtype,
        "threads": threads,
        "bytes": nbytes,
        "fused_rel_error": err,
        "times": {name: timing.as_dict() for name, timing in timings.items()},
        "gbps": {name: nbytes / s / 1e9 for name, s in t.items()},
        "fused_over_floor": t["fused"] / t["floor"],
        "speedup": {name: t[name] / t["fused"] for name in ("eager", "manual", "compiled")},
    }


def simple_row(fields, timings) -> dict:
    row = dict(fields)
    row["times"] = {name: timing.as_dict() for name, timing in timings.items()}
    if "bytes" in row:
        row["gbps"] = {name: row["bytes"] / t.median_s / 1e9 for name, t in timings.items()}
    return row


def small_row(N, calls, steps) -> dict:
    return {
        "N": N,
        "call_us": {name: t.median_s * 1e6 for name, t in calls.items()},
        "step_us": {name: t.median_s * 1e6 for name, t in steps.items()},
    }


def ms(row, impl) -> float:
    return row["times"][impl]["median_ms"]


def times_text(timings) -> str:
    return ", ".join(f"{name} {t.median_s * 1e3:.3f} ms" for name, t in timings.items())


def grad_line(row) -> str:
    return (
        f"{row['N']}x{row['D']} {row['dtype']} threads={row['threads']}: "
        + ", ".join(f"{i} {ms(row, i):.3f} ms" for i in IMPLS)
        + f" | fused/floor {row['fused_over_floor']:.2f}"
    )


def _target(name, measured, met) -> dict:
    return {"target": name, "measured": measured, "met": bool(met)}


def _by_size(goals: dict, size: int):
    """The goal for the largest size key <= size (None below every key)."""
    keys = [k for k in goals if k <= size]
    return goals[max(keys)] if keys else None


def targets(results, goals) -> list[dict]:
    """Each goal of bench.GOALS that this run measures, with the measured figure and whether it
    is met."""
    out = []
    device = results["device"]
    grad = results["grad"]
    top = max(r["threads"] for r in grad)
    for r in (r for r in grad if r["threads"] == top):
        shape = f"{r['N']:,} x {r['D']} {r['dtype']}"
        limit = goals["grad_over_floor"]
        out.append(
            _target(
                f"linear_mse_grad <= {limit} x read floor, {shape}",
                f"{r['fused_over_floor']:.2f} x",
                r["fused_over_floor"] <= limit,
            )
        )
        eager_goal = goals["grad_vs_eager"].get(device, {}).get(r["D"])
        if eager_goal and not results["quick"]:
            # No kernel can beat eager by more than eager's own multiple of the read floor.
            ceiling = ms(r, "eager") / ms(r, "floor")
            out.append(
                _target(
                    f">= {eager_goal} x faster than eager, {shape}",
                    f"{r['speedup']['eager']:.1f} x (eager is {ceiling:.1f} x the read floor)",
                    r["speedup"]["eager"] >= eager_goal,
                )
            )
        compile_goal = _by_size(goals["grad_vs_compiled"].get(device, {}), r["D"])
        if compile_goal:
            out.append(
                _target(
                    f">= {compile_goal} x faster than torch.compile, {shape}",
                    f"{r['speedup']['compiled']:.2f} x",
                    r["speedup"]["compiled"] >= compile_goal,
                )
            )
        bf16_goal = goals["bfloat16_vs_float32"].get(device)
        if bf16_goal and r["dtype"] == "bfloat16":
            f32 = next(
                (m for m in grad if (m["N"], m["D"], m["dtype"]) == (r["N"], r["D"], "float32")),
                None,
            )
            if f32:
                speedup = ms(f32, "fused") / ms(r, "fused")
                out.append(
                    _target(
                        f"bfloat16 about 2 x faster than float32 (>= {bf16_goal} x), "
                        f"{r['N']:,} x {r['D']}",
                        f"{speedup:.2f} x",
                        speedup >= bf16_goal,
                    )
                )
    threads_goal = goals["threads_vs_one"].get(device)
    for r in (r for r in grad if r["threads"] == 1) if threads_goal else []:
        multi = next(
            m
            for m in grad
            if m["threads"] == top and (m["N"], m["D"], m["dtype"]) == (r["N"], r["D"], r["dtype"])
        )
        # Where one core already reads at the machine's bandwidth, a second cannot help.
        speedup = ms(r, "fused") / ms(multi, "fused")
        out.append(
            _target(
                f"{top} threads beat 1, {r['N']:,} x {r['D']} {r['dtype']}",
                f"{speedup:.2f} x (read floor: {ms(r, 'floor') / ms(multi, 'floor'):.2f} x)",
                speedup > threads_goal,
            )
        )
    call_goal, step_goal = goals["call_us"].get(device), goals["step_vs_eager"].get(device)
    for r in results["small"]:
        call = r["call_us"]["fused"]
        if call_goal:
            out.append(
                _target(
                    f"linear_mse_grad call <= {call_goal} us, N = {r['N']}",
                    f"{call:.1f} us",
                    call <= call_goal,
                )
            )
        if step_goal and r["N"] == 100:
            ratio = r["step_us"]["fused"] / r["step_us"]["eager"]
            out.append(
                _target(
                    f"training step < {step_goal} x the eager step, N = 100",
                    f"{r['step_us']['fused']:.1f} vs {r['step_us']['eager']:.1f} us "
                    f"({ratio:.2f} x)",
                    ratio < step_goal,
                )
            )
    share_goal = goals["forward_share_of_floor"].get(device)
    forward_goals = goals["forward_vs_eager"].get(device, {})
    for r in results["forward"]:
        if share_goal:  # read X and write pred at this share of the read bandwidth
            share = r["gbps"]["fused"] / r["floor_gbps"]
            out.append(
                _target(
                    f"linear_forward >= {100 * share_goal:.0f}% of read bandwidth, "
                    f"{r['N']:,} x {r['D']}",
                    f"{100 * share:.0f}% ({r['gbps']['fused']:.0f} of {r['floor_gbps']:.0f} GB/s)",
                    share >= share_goal,
                )
            )
        goal = forward_goals.get((r["N"], r["D"]))
        if goal:
            speedup = ms(r, "eager") / ms(r, "fused")
            out.append(
                _target(
                    f"linear_forward >= {goal} x eager, {r['N']:,} x {r['D']}",
                    f"{speedup:.2f} x",
                    speedup >= goal,
                )
            )
    # No cliff: once X is far larger than the caches, the kernel stays at the read floor, and
    # ten times the rows take ten times as long.
    limit = goals["scaling_over_floor"]
    dram = {r["N"]: r for r in results["scaling"] if r["N"] >= goals["scaling_from_rows"]}
    if len(dram) >= 2:
        worst = max(ms(r, "fused") / ms(r, "floor") for r in dram.values())
        small, large = min(dram), max(dram)
        growth = ms(dram[large], "fused") / ms(dram[small], "fused") / (large / small)
        out.append(
            _target(
                f"no cliff: <= {limit} x floor at N >= 10^7, time linear from {small:,} to "
                f"{large:,}",
                f"worst {worst:.2f} x floor; time per row at {large:,} is {growth:.2f} x that at "
                f"{small:,}",
                worst <= limit and growth <= limit,
            )
        )
    for r in results.get("memory", []):
        if r["impl"] == "fused":
            out.append(
                _target(
                    f"no N-sized temporary: extra peak memory of linear_mse_grad at N = {r['N']:,}",
                    f"{r['extra_bytes'] / 2**20:.2f} MiB (X is {r['x_bytes'] / 2**20:.0f} MiB)",
                    r["extra_bytes"] <= goals["extra_memory_bytes"],
                )
            )
    e2e = {r["loss"]: r["epoch_s"] for r in results["e2e"]}
    epoch_goal = goals["epoch_vs_reference"]
    out.append(
        _target(
            f"training epoch >= {epoch_goal:g} x faster fused than reference",
            f"{e2e['reference'] / e2e['fused']:.2f} x",
            e2e["reference"] / e2e["fused"] >= epoch_goal,
        )
    )
    return out


def targets_text(rows) -> str:
    return "\n".join(
        f"[{'met' if t['met'] else 'NOT MET'}] {t['target']}: {t['measured']}" for t in rows
    )


def markdown(results) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}{', ' + m['gpu'] if 'gpu' in m else ''}; torch {m['torch']}, "
        f"Python {m['python']}, linreg_ext {m['linreg_ext']}; {m['date']}"
        + ("; QUICK run" if results["quick"] else ""),
        "",
        "### linear_mse_grad (median ms, GB/s of X and y read)",
        "",
        "| threads | dtype | N x D | floor | fused | fused/floor | eager | manual | compiled "
        "| x eager | x compiled |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["grad"]:
        g = r["gbps"]
        lines.append(
            f"| {r['threads']} | {r['dtype']} | {r['N']:,} x {r['D']} "
            f"| {ms(r, 'floor'):.3f} ({g['floor']:.1f}) | {ms(r, 'fused'):.3f} ({g['fused']:.1f}) "
            f"| {r['fused_over_floor']:.2f} | {ms(r, 'eager'):.3f} | {ms(r, 'manual'):.3f} "
            f"| {ms(r, 'compiled'):.3f} | {r['speedup']['eager']:.1f} "
            f"| {r['speedup']['compiled']:.2f} |"
        )
    lines += [
        "",
        "### linear_forward (median ms; floor: a read-only pass over X)",
        "",
        "| N x D | floor | fused | fused/floor | eager | compiled | x eager |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["forward"]:
        lines.append(
            f"| {r['N']:,} x {r['D']} | {ms(r, 'floor'):.3f} | {ms(r, 'fused'):.3f} "
            f"| {r['fused_over_floor']:.2f} | {ms(r, 'eager'):.3f} "
            f"| {ms(r, 'compiled'):.3f} | {ms(r, 'eager') / ms(r, 'fused'):.2f} |"
        )
    lines += [
        "",
        "### Small batches (median us)",
        "",
        "| N | linear_mse_grad call | manual call | fused step | eager step |",
        "|---|---|---|---|---|",
    ]
    for r in results["small"]:
        c, s = r["call_us"], r["step_us"]
        lines.append(
            f"| {r['N']} | {c['fused']:.1f} | {c['manual']:.1f} "
            f"| {s['fused']:.1f} | {s['eager']:.1f} |"
        )
    lines += [
        "",
        "### Scaling, D = 1 float32 (ns per row)",
        "",
        "| N | floor | fused | fused/floor |",
        "|---|---|---|---|",
    ]
    for r in results["scaling"]:
        lines.append(
            f"| {r['N']:,} | {ms(r, 'floor') * 1e6 / r['N']:.3f} "
            f"| {ms(r, 'fused') * 1e6 / r['N']:.3f} | {ms(r, 'fused') / ms(r, 'floor'):.2f} |"
        )
    if results.get("memory"):
        lines += [
            "",
            "### Extra peak memory of one call (float32)",
            "",
            "| implementation | N x D | extra MiB |",
            "|---|---|---|",
        ]
        for r in results["memory"]:
            lines.append(
                f"| {r['impl']} | {r['N']:,} x {r['D']} | {r['extra_bytes'] / 2**20:.2f} |"
            )
    lines += [
        "",
        "### Training epoch (train.fit, same loop)",
        "",
        "| loss | N x D | ms per epoch |",
        "|---|---|---|",
    ]
    for r in results["e2e"]:
        lines.append(f"| {r['loss']} | {r['N']:,} x {r['D']} | {r['epoch_s'] * 1e3:.1f} |")
    lines += ["", "### Targets", ""]
    lines += [
        f"- {'met' if t['met'] else '**NOT MET**'}: {t['target']}: {t['measured']}"
        for t in results["targets"]
    ]
    return "\n".join(lines) + "\n"


def plot(results, path) -> None:
    grad = results["grad"]
    top = max(r["threads"] for r in grad)
    present = {r["dtype"] for r in grad}
    dtypes = [d for d in ("float32", "float64", "bfloat16", "float16") if d in present]
    fig, axes = plt.subplots(1, len(dtypes), figsize=(6.5 * len(dtypes), 4.5), squeeze=False)
    for ax, dtype in zip(axes[0], dtypes, strict=True):
        rows = [r for r in grad if r["threads"] == top and r["dtype"] == dtype]
        xs = range(len(rows))
        width = 0.2
        for k, impl in enumerate(["fused", "compiled", "manual", "eager"]):
            ax.bar(
                [x + (k - 1.5) * width for x in xs],
                [r["gbps"][impl] for r in rows],
                width,
                label=impl,
            )
        ax.plot(
            list(xs), [r["gbps"]["floor"] for r in rows], "k_-", markersize=30, label="read floor"
        )
        ax.set_xticks(list(xs), [f"{r['N']:,}\nx {r['D']}" for r in rows])
        ax.set_ylabel("GB/s (X and y read once)")
        ax.set_title(f"linear_mse_grad, {dtype}, {top} thread(s), {results['device']}")
        ax.legend(fontsize=8)
    fig.suptitle(
        results["machine"]["cpu"]
        if results["device"] == "cpu"
        else results["machine"].get("gpu", "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
