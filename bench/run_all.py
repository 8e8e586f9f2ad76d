"""`make bench`: run every benchmark one after the other and print their figures as one table, with the date, the
database and the machine's load; `--write` also puts the table into bench/README.md; `--smoke` runs each script at
its tiny size (CI does, so that none rots)."""

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FIGURE_PREFIX = "BENCH-FIGURE "  # bench/common.py prints it; not imported, so that this runner needs no Django
SCRIPTS = (
    "record_payments.py",
    "pages.py",
    "charge_run.py",
    "webhook_ingest.py",
    "integrity.py",
)
TABLE_START = "<!-- bench table: start -->"
TABLE_END = "<!-- bench table: end -->"


def script_run(script: str, extra: list[str]) -> tuple[list[dict], int]:
    """Run one script, echoing its output, and return the figures it printed and its exit code."""
    process = subprocess.run(
        [sys.executable, str(BENCH / script), *extra], capture_output=True, text=True, env=os.environ.copy()
    )
    figures = []
    for line in process.stdout.splitlines():
        if line.startswith(FIGURE_PREFIX):
            figures.append(json.loads(line[len(FIGURE_PREFIX) :]))
        else:
            print(f"  {line}")
    if process.returncode:
        print(process.stderr, file=sys.stderr)
    return figures, process.returncode


def table(figures: list[dict], *, smoke: bool) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {database}, {os.cpu_count()} CPUs, load average {load}"
        + (" (smoke sizes: the figures mean nothing)" if smoke else "")
        + ".",
        "",
        "| measure | product | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for figure in figures:
        lines.append(
            f"| {figure['row']} | {figure['product']} | {figure['baseline']} | **{figure['ratio']:.2f}** "
            f"| {figure['goal']} | {'yes' if figure['met'] else 'no'} |"
        )
    return "\n".join(lines)


def readme_write(text: str) -> None:
    readme = BENCH / "README.md"
    content = readme.read_text()
    before, _, rest = content.partition(TABLE_START)
    _, _, after = rest.partition(TABLE_END)
    readme.write_text(f"{before}{TABLE_START}\n{text}\n{TABLE_END}{after}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="each script at its tiny size")
    parser.add_argument("--write", action="store_true", help="put the table into bench/README.md")
    parser.add_argument("scripts", nargs="*", default=SCRIPTS, help="only these scripts")
    args = parser.parse_args()

    figures, failed = [], []
    for script in args.scripts:
        print(f"== {script}", flush=True)
        script_figures, returncode = script_run(script, ["--smoke"] if args.smoke else [])
        figures.extend(script_figures)
        if returncode or not script_figures:
            failed.append(script)
    text = table(figures, smoke=args.smoke)
    print()
    print(text)
    if args.write and not args.smoke:
        readme_write(text)
    if failed:
        print(f"failed or printed no figure: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
