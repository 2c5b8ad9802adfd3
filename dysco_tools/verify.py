"""Run the Spin model over the configuration matrix: ``python -m dysco_tools.verify``.

The model and its generated parts live in :mod:`dysco_proto.model` (``dysco.pml``,
``lock_gen.pml`` from the lock table, ``phase_gen.pml`` from the phase table); this is the
runner.

For every configuration of :data:`MATRIX` this builds a verifier with ``spin -a -DCFG=<n>``
(plus the configuration's budget defines), compiles it with gcc and runs it:

- a **safety** run: assertions (byte-stream integrity, acks never beyond what was sent, lock
  messages only at matching ports, overlapping segments never both locked) and invalid end
  states (every run ends with both endpoints closed both ways, all data acknowledged, every
  request ended, locks released). ``-DSAFETY -DCOLLAPSE``, partial-order reduction on.
- a **liveness** run: the LTL claim ``live`` (every request that starts eventually ends
  completed, refused or cancelled) under weak fairness, ``pan -a -f``, ``-DCOLLAPSE``.
- **witness** runs: each asks Spin to reach a state that must be reachable (a completion, a
  hold, a cancel, ...); a witness that is not found means the configuration is vacuous.

A run counts as complete when pan reports no "search not completed", no depth truncation
("max search depth too small") and no memory exhaustion. The table (configuration, mode,
states, depth, errors, complete, time, memory) is printed with rich and written as JSON to
``build/verify.json``. The sanity checks (the lock table with the injected bug must fail the
model; a liveness mutant must violate the LTL claim) and the **findings** (:data:`FINDINGS`:
protocol defects the model found, each expected to be reproduced until the protocol is fixed)
go to ``build/verify-findings.json``.

Exit status: 0 iff every matrix run has 0 errors and a complete search, every witness is
found, and every sanity check and finding behaves as expected.

Wall time: ``pan.c`` is large (one 1.4 MB transition switch); gcc -O2 takes several times
longer on it than a short search, and its RTL GCSE pass alone about half of that. The matrix
therefore compiles each run by its expected search time (:data:`SEARCH_S`, ``--opt auto``):
short searches at -O0 (compiled in seconds, searching about twice as slowly), long ones at
:data:`FAST_OPT` (-O2 without GCSE: the same search speed as -O2 at half its compile time).
The optimisation level changes neither the states explored nor the checks (same pan, same
flags). Jobs start longest first, so the longest search does not set the wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import dysco_proto.model
from dysco_proto.model.gen import render
from dysco_tools.verify_matrix import (
    FINDINGS,
    KINDS,
    MATRIX,
    MUTANTS,
    NODE_NAMES,
    PHASES,
    SANITY,
    SAY,
    SEARCH_S,
    Config,
    Defines,
    Finding,
)

MODEL_DIR = Path(dysco_proto.model.__file__).resolve().parent
MODEL_FILES = ("dysco.pml", "lock_gen.pml", "phase_gen.pml")
DEPTH = 200_000  # -m: far above the deepest run; a truncated search is reported as incomplete
HASH_BITS = 24  # -w: 16M slots (the table is 128 MB); collisions only cost time
SAFETY_FLAGS = ("-DSAFETY", "-DCOLLAPSE", "-DNOCLAIM", "-DVECTORSZ=2048")
LIVENESS_FLAGS = ("-DCOLLAPSE", "-DVECTORSZ=2048", "-DNFAIR=3")
FAST_OPT = "-O2 -fno-gcse"  # gcc flags of the long searches (module docstring, Wall time)
QUICK_OPT = "-O0"  # and of the short ones, the witnesses and the findings
QUICK_BELOW_S = 12.0  # a search expected to take less (at -O2) is compiled at QUICK_OPT


@dataclass
class RunResult:
    """One pan run, as reported in the table and the JSON."""

    config: str
    mode: str
    states: int = 0
    depth: int = 0
    errors: int = 0
    complete: bool = False
    time_s: float = 0.0
    memory_mb: float = 0.0
    message: str = ""
    description: str = ""
    defines: dict[str, int | str] = field(default_factory=dict)
    witnesses: dict[str, bool] = field(default_factory=dict)
    workdir: str = ""


_TIMES: dict[str, dict[str, float]] = {}  # work directory -> build_s / search_s (wall)


def _timed(workdir: Path, what: str, seconds: float) -> None:
    _TIMES.setdefault(workdir.name, {})[what] = round(seconds, 2)


class ToolMissing(RuntimeError):
    """spin or gcc is not installed."""


def tools_available() -> bool:
    """Whether ``spin`` and ``gcc`` are on the PATH."""
    return shutil.which("spin") is not None and shutil.which("gcc") is not None


def _define_args(cfg: int, defines: Defines) -> list[str]:
    args = [f"-DCFG={cfg}"]
    for key, value in sorted(defines.items()):
        args.append(f"-D{key}={value}")
    return args


def _run(cmd: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def build(
    workdir: Path,
    spin_args: Sequence[str],
    cc_flags: Sequence[str],
    model_files: Mapping[str, str] | None = None,
) -> Path:
    """Generate and compile ``pan`` in ``workdir`` (cached by the hash of its inputs).

    ``cc_flags`` are gcc arguments; an element may hold several, split at spaces
    (``"-O2 -fno-gcse"``)."""
    if not tools_available():
        raise ToolMissing("spin and gcc are needed (apt-get install spin gcc)")
    workdir.mkdir(parents=True, exist_ok=True)
    texts = {
        name: (model_files or {}).get(name) or (MODEL_DIR / name).read_text()
        for name in MODEL_FILES
    }
    key = hashlib.sha256(
        json.dumps([texts, list(spin_args), list(cc_flags)], sort_keys=True).encode()
    ).hexdigest()
    pan = workdir / "pan"
    stamp = workdir / "build.key"
    if pan.exists() and stamp.exists() and stamp.read_text() == key:
        return pan
    t0 = time.monotonic()
    for name, text in texts.items():
        (workdir / name).write_text(text)
    for stale in workdir.glob("*.trail"):
        stale.unlink()
    res = _run(["spin", "-a", *spin_args, "dysco.pml"], workdir, 300)
    if res.returncode != 0 or not (workdir / "pan.c").exists():
        raise RuntimeError(f"spin -a failed in {workdir}:\n{res.stdout}\n{res.stderr}")
    flags = [part for flag in cc_flags for part in flag.split()]
    res = _run(["gcc", *flags, "-o", "pan", "pan.c"], workdir, 900)
    if res.returncode != 0:
        raise RuntimeError(f"gcc failed in {workdir}:\n{res.stderr}")
    stamp.write_text(key)
    _timed(workdir, "build_s", time.monotonic() - t0)
    return pan


_NUM = r"([0-9.e+]+)"


def parse_pan(out: str, depth_limit: int = DEPTH) -> dict[str, object]:
    """Extract states, depth, errors, completeness, time, memory and the first error line."""
    info: dict[str, object] = {}
    m = re.search(r"depth reached (\d+), errors: (\d+)", out)
    info["depth"] = int(m.group(1)) if m else 0
    info["errors"] = int(m.group(2)) if m else 1
    m = re.search(_NUM + r" states, stored", out)
    info["states"] = int(float(m.group(1))) if m else 0
    m = re.search(r"elapsed time " + _NUM + r" seconds", out)
    info["time_s"] = float(m.group(1)) if m else 0.0
    m = re.search(_NUM + r"\s+total actual memory usage", out)
    info["memory_mb"] = float(m.group(1)) if m else 0.0
    truncated = (
        "max search depth too small" in out
        or "Search not completed" in out
        or "out of memory" in out
        or int(str(info["depth"])) >= depth_limit - 1
        or not m
    )
    info["complete"] = not truncated
    m = re.search(r"^pan:1: (.*)$", out, re.MULTILINE)
    info["message"] = m.group(1).strip() if m else ""
    return info


def run_pan(pan: Path, args: Sequence[str], timeout: float) -> tuple[str, float]:
    """Run a compiled verifier; returns its output and the wall time."""
    t0 = time.monotonic()
    res = _run([str(pan.resolve()), *args], pan.parent, timeout)
    wall = time.monotonic() - t0
    _timed(pan.parent, "search_s", wall)
    return res.stdout + res.stderr, wall


def safety_run(
    workdir: Path,
    cfg: int,
    defines: Defines,
    *,
    extra: Sequence[str] = (),
    opt: str = "-O2",
    model_files: Mapping[str, str] | None = None,
    timeout: float = 3600,
) -> tuple[dict[str, object], str]:
    """Build and run one safety search; returns the parsed result and pan's output."""
    pan = build(workdir, [*_define_args(cfg, defines), *extra], [opt, *SAFETY_FLAGS], model_files)
    out, wall = run_pan(pan, [f"-m{DEPTH}", f"-w{HASH_BITS}"], timeout)
    info = parse_pan(out)
    info["wall_s"] = wall
    return info, out


def liveness_run(
    workdir: Path, cfg: int, defines: Defines, *, opt: str = "-O2", timeout: float = 3600
) -> tuple[dict[str, object], str]:
    """Build and run the LTL claim ``live`` under weak fairness."""
    pan = build(workdir, _define_args(cfg, defines), [opt, *LIVENESS_FLAGS])
    out, wall = run_pan(pan, ["-a", "-f", f"-m{DEPTH}", f"-w{HASH_BITS}"], timeout)
    info = parse_pan(out)
    info["wall_s"] = wall
    return info, out


def decode_trail(workdir: Path, cfg: int, defines: Defines, extra: Sequence[str] = ()) -> list[str]:
    """Replay ``dysco.pml.trail`` with spin and render its printf events readably."""
    res = _run(["spin", "-t", *_define_args(cfg, defines), *extra, "dysco.pml"], workdir, 300)
    names = NODE_NAMES.get(cfg, ())

    def node(i: str) -> str:
        k = int(i)
        return names[k] if k < len(names) else f"n{k}"

    lines: list[str] = []
    for raw in res.stdout.splitlines():
        text = raw.strip()
        if text.startswith("MSG "):
            f = text.split()[1:]
            src, dst, kind = node(f[0]), node(f[1]), int(f[2])
            sub, r, a, b, c, _d = (int(x) for x in f[3:9])
            if kind == 1:
                flags = "".join(
                    n for n, bit in (("A", 1), ("F", 2), ("D", 4), ("SA", 8)) if c & bit
                )
                what = f"seg[{flags}] sub={sub} seq={a} ack={b}"
            elif kind == 10:
                what = f"SYN(new path, r{r}) sub={sub} seq={a} ack={b}"
            elif kind in (8, 9):
                what = f"{KINDS[kind]}(r{r}, cut={a})"
            else:
                what = f"{KINDS.get(kind, str(kind))}(r{r}) sub={sub}"
            lines.append(f"{src} -> {dst}: {what}")
        elif text.startswith("EV "):
            f = text.split()
            if len(f) >= 3 and f[1].isdigit():
                who = node(f[1])
                if f[2] == "SAY":
                    code = int(f[3])
                    label = SAY[code - 1] if 0 < code <= len(SAY) else f"event{code}"
                    lines.append(f"  {who}: {label} {' '.join(f[4:])}")
                elif f[2] == "LA-END":
                    phase = int(f[4].split("=")[1])
                    lines.append(f"  {who}: LA-END {f[3]} {PHASES.get(phase, phase)}")
                else:
                    lines.append(f"  {who}: {' '.join(f[2:])}")
            else:
                lines.append(f"  (network: {' '.join(f[1:])})")
        elif "assertion violated" in text or text.startswith("spin: text of failed"):
            lines.append(text)
    return lines


# ------------------------------------------------------------------------------------------
# orchestration


@dataclass
class Job:
    """A unit of work for the thread pool."""

    label: str
    fn: Callable[[], object]


def _witness_expr(expr: str) -> str:
    return expr.replace(" ", "")


def matrix_opt(label: str, opt: str = "auto") -> str:
    """The gcc flags of matrix run ``label`` ("<config>:<mode>"): ``opt`` itself unless it is
    "auto", then QUICK_OPT for a search expected to be short, else FAST_OPT."""
    if opt != "auto":
        return opt
    return QUICK_OPT if SEARCH_S.get(label, QUICK_BELOW_S) < QUICK_BELOW_S else FAST_OPT


def run_config(config: Config, root: Path, mode: str, opt: str = "auto") -> RunResult:
    """Run one matrix entry (``mode`` is "safety" or "liveness"; ``opt``: :func:`matrix_opt`)."""
    opt = matrix_opt(f"{config.name}:{mode}", opt)
    chosen = config.live_defines if mode == "liveness" and config.live_defines else config.defines
    defines = dict(chosen)
    work = root / f"{config.name}-{mode}"
    name = config.name if mode == "safety" else f"{config.name}/liveness"
    result = RunResult(name, mode, description=config.description, defines=defines)
    result.workdir = str(work)
    if mode == "safety":
        info, _out = safety_run(work, config.cfg, defines, opt=opt)
    else:
        info, _out = liveness_run(work, config.cfg, defines, opt=opt)
    result.states = int(str(info["states"]))
    result.depth = int(str(info["depth"]))
    result.errors = int(str(info["errors"]))
    result.complete = bool(info["complete"])
    result.time_s = float(str(info["time_s"]))
    result.memory_mb = float(str(info["memory_mb"]))
    result.message = str(info["message"])
    return result


def with_witness(expr: str) -> dict[str, str]:
    """Model files with ``#define WITNESS (expr)`` prepended (spin passes -D through a shell)."""
    text = (MODEL_DIR / "dysco.pml").read_text()
    return {"dysco.pml": f"#define WITNESS ({_witness_expr(expr)})\n{text}"}


def run_witness(config: Config, label: str, expr: str, root: Path) -> bool:
    """True iff the search reaches a state satisfying ``expr``."""
    work = root / f"{config.name}-w-{label}"
    info, _out = safety_run(
        work, config.cfg, config.defines, opt="-O0", model_files=with_witness(expr)
    )
    return int(str(info["errors"])) > 0 and "assertion violated 0" in str(info["message"])


def run_finding(finding: Finding, root: Path) -> dict[str, object]:
    """Run a finding or sanity check; it must produce its expected error."""
    work = root / f"finding-{finding.name}"
    files = {"lock_gen.pml": render(MUTANTS[finding.mutant]())} if finding.mutant else None
    if finding.mode == "liveness":
        info, _out = liveness_run(work, finding.cfg, finding.defines, opt="-O0")
    else:
        info, _out = safety_run(work, finding.cfg, finding.defines, opt="-O0", model_files=files)
    message = str(info["message"])
    reproduced = int(str(info["errors"])) > 0 and finding.expect in message
    trail = decode_trail(work, finding.cfg, finding.defines) if reproduced else []
    return {
        "config": finding.name,
        "summary": finding.summary,
        "defines": dict(finding.defines),
        "expected": finding.expect,
        "reproduced": reproduced,
        "errors": info["errors"],
        "message": message,
        "states": info["states"],
        "trail": trail,
    }


def _parallel(jobs: Iterable[Job], workers: int) -> dict[str, object]:
    """Run the jobs on a thread pool; a job that raises yields its exception as result."""
    results: dict[str, object] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(job.fn): job.label for job in jobs}
        for fut, label in futures.items():
            try:
                results[label] = fut.result()
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                print(f"error: {label}: {err}", file=sys.stderr)
                results[label] = err
    return results


def _table(results: Sequence[RunResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Spin verification matrix (dysco_proto/model/dysco.pml)")
    for col, justify in (
        ("configuration", "left"),
        ("mode", "left"),
        ("states", "right"),
        ("depth", "right"),
        ("errors", "right"),
        ("complete", "center"),
        ("time s", "right"),
        ("memory MB", "right"),
        ("witnesses", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        found = sum(r.witnesses.values())
        wit = f"{found}/{len(r.witnesses)}" if r.witnesses else ""
        ok = r.errors == 0 and r.complete
        table.add_row(
            r.config,
            r.mode,
            f"{r.states:,}",
            str(r.depth),
            str(r.errors) if ok else f"[red]{r.errors}[/red] {r.message}",
            "yes" if r.complete else "[red]no[/red]",
            f"{r.time_s:.1f}",
            f"{r.memory_mb:.0f}",
            wit,
        )
    Console(width=150).print(table)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Run the Dysco Spin model over its matrix.")
    ap.add_argument("--only", nargs="*", default=None, help="configuration names to run")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("VERIFY_JOBS", "2")))
    ap.add_argument("--no-liveness", action="store_true")
    ap.add_argument("--no-witnesses", action="store_true")
    ap.add_argument("--no-findings", action="store_true", help="skip findings and sanity runs")
    ap.add_argument("--build-dir", type=Path, default=Path("build/spin"))
    ap.add_argument("--json", type=Path, default=Path("build/verify.json"))
    ap.add_argument("--findings-json", type=Path, default=Path("build/verify-findings.json"))
    ap.add_argument("--list", action="store_true", help="list configurations and exit")
    ap.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a budget define in every selected configuration (tests, experiments)",
    )
    ap.add_argument(
        "--opt",
        default="auto",
        help="gcc optimisation for the matrix runs, e.g. -O2 or '-O2 -fno-gcse'; auto (the "
        f"default): {QUICK_OPT} for searches expected under {QUICK_BELOW_S:.0f} s, else {FAST_OPT}",
    )
    ap.add_argument(
        "--times-json",
        type=Path,
        default=None,
        help="build and search seconds per job (default: verify-times.json beside --json)",
    )
    return ap


def _list() -> int:
    for c in MATRIX:
        print(f"{c.name:16} CFG={c.cfg} {c.defines}  {c.description}")
    for f in (*SANITY, *FINDINGS):
        print(f"{f.name:16} CFG={f.cfg} {f.defines}  (expect {f.expect}) {f.summary}")
    return 0


def _selected(only: list[str] | None, define: list[str]) -> list[Config]:
    """The configurations to run, with the ``--define`` overrides applied."""
    overrides: dict[str, int | str] = {}
    for item in define:
        key, _, value = item.partition("=")
        overrides[key] = int(value) if value.lstrip("-").isdigit() else value
    return [
        replace(
            c,
            defines={**c.defines, **overrides},
            live_defines={**(c.live_defines or c.defines), **overrides},
        )
        for c in MATRIX
        if only is None or c.name in only
    ]


def _jobs(
    selected: Sequence[Config], extra: Sequence[Finding], args: argparse.Namespace
) -> list[Job]:
    """Every run, the longest first (so that the workers finish together): matrix runs by
    their expected search time (:data:`SEARCH_S`, an unknown one first), then the witnesses
    and the findings (short -O0 builds and searches) in their order."""
    root = args.build_dir.resolve()
    jobs: list[Job] = []
    for c in selected:
        jobs.append(Job(f"{c.name}:safety", partial(run_config, c, root, "safety", args.opt)))
        if c.liveness and not args.no_liveness:
            jobs.append(
                Job(f"{c.name}:liveness", partial(run_config, c, root, "liveness", args.opt))
            )
        if not args.no_witnesses:
            for label, expr in c.witnesses:
                jobs.append(Job(f"{c.name}:w:{label}", partial(run_witness, c, label, expr, root)))
    for f in extra:
        jobs.append(Job(f"finding:{f.name}", partial(run_finding, f, root)))

    def longest_first(job: Job) -> tuple[bool, float]:
        matrix = job.label.endswith((":safety", ":liveness"))
        return (not matrix, -SEARCH_S.get(job.label, float("inf")) if matrix else 0.0)

    jobs.sort(key=longest_first)  # stable: witnesses and findings keep their order
    return jobs


def _matrix_results(selected: Sequence[Config], out: Mapping[str, object]) -> list[RunResult]:
    """The safety and liveness results per configuration (a failed job counts as an error),
    the witnesses found attached to the safety run."""
    results: list[RunResult] = []
    for c in selected:
        for mode in ("safety", "liveness"):
            label = f"{c.name}:{mode}"
            if label not in out:
                continue
            res = out[label]
            if not isinstance(res, RunResult):  # the build or the run failed
                name = c.name if mode == "safety" else f"{c.name}/liveness"
                res = RunResult(name, mode, errors=1, message=f"failed: {res}")
            if mode == "safety":
                res.witnesses = {
                    label: out.get(f"{c.name}:w:{label}") is True
                    for label, _ in c.witnesses
                    if f"{c.name}:w:{label}" in out
                }
            results.append(res)
    return results


def _findings(extra: Sequence[Finding], out: Mapping[str, object]) -> list[dict[str, object]]:
    findings: list[dict[str, object]] = []
    for f in extra:
        got = out[f"finding:{f.name}"]
        if not isinstance(got, dict):
            got = {"config": f.name, "reproduced": False, "message": f"failed: {got}"}
        findings.append(got)
    return findings


def _write_json(
    args: argparse.Namespace, results: Sequence[RunResult], findings: list[dict[str, object]]
) -> None:
    args.json.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        row = asdict(r)
        row.pop("workdir")
        rows.append(row)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    args.times_json.parent.mkdir(parents=True, exist_ok=True)
    args.times_json.write_text(json.dumps(_TIMES, indent=2, sort_keys=True) + "\n")
    if findings:
        args.findings_json.parent.mkdir(parents=True, exist_ok=True)
        args.findings_json.write_text(json.dumps(findings, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    args = _parser().parse_args(argv)
    if args.times_json is None:
        args.times_json = args.json.parent / "verify-times.json"
    if args.list:
        return _list()
    if not tools_available():
        print("error: spin and gcc are required (make setup installs spin)", file=sys.stderr)
        return 2
    selected = _selected(args.only, args.define)
    if args.only is not None and not selected:
        print(f"error: no configuration named {args.only}", file=sys.stderr)
        return 2
    extra: Sequence[Finding] = () if args.no_findings or args.only else (*SANITY, *FINDINGS)
    t0 = time.monotonic()
    out = _parallel(_jobs(selected, extra, args), args.jobs)
    results = _matrix_results(selected, out)
    _table(results)
    findings = _findings(extra, out)
    ok = all(r.errors == 0 and r.complete and all(r.witnesses.values()) for r in results)
    for fd in findings:
        mark = "reproduced" if fd["reproduced"] else "NOT REPRODUCED"
        print(f"finding {fd['config']}: {mark} ({fd['message'] or 'no error'})")
        ok = ok and bool(fd["reproduced"])
    build_s = sum(t.get("build_s", 0.0) for t in _TIMES.values())
    search_s = sum(t.get("search_s", 0.0) for t in _TIMES.values())
    print(
        f"total wall time {time.monotonic() - t0:.0f} s "
        f"(jobs: builds {build_s:.0f} s, searches {search_s:.0f} s; {args.times_json})"
    )
    _write_json(args, results, findings)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
