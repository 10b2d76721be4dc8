"""Run the benchmark sections in scripts/benchmarks/ and print their figures.

Each section measures the product and a baseline side by side, in the same run, and
reports the ratio. Usage: python scripts/bench.py [SECTION...] [--quick] [--large]
[--markdown [FILE]]: with --markdown, the sections run are also written to FILE
(docs/en/benchmarks.md by default) as the tables of that page, with their text.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
import sys
import time
from datetime import date
from inspect import signature
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks
from benchmarks.common import Measured, begin

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "en" / "benchmarks.md"


def sections() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name != "common" and not m.name.startswith("_"))


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"any of: {', '.join(sections())}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--large", action="store_true",
                        help="also the largest sizes, where a section has them (minutes)")
    parser.add_argument("--markdown", nargs="?", const=str(DOCUMENT), metavar="FILE",
                        help=f"write the figures and their text to FILE (default {DOCUMENT})")
    args = parser.parse_args(argv)
    if args.markdown in sections():
        # `--markdown core`: the section to run, not the file to write.
        args.sections.insert(0, args.markdown)
        args.markdown = str(DOCUMENT)
    unknown = set(args.sections) - set(sections())
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = arguments()
    measured: list[Measured] = []
    for name in args.sections or sections():
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}")
        started = time.perf_counter()
        options = {"large": True} if args.large and "large" in signature(module.run).parameters else {}
        measured.append(begin(name))
        module.run(quick=args.quick, **options)
        print(f"   ({time.perf_counter() - started:.1f}s)\n")
    if args.markdown:
        from benchmarks._markdown import document

        command = shlex.join(["scripts/bench", *args.sections, *(["--quick"] if args.quick else []),
                              *(["--large"] if args.large else [])])
        target = Path(args.markdown)
        target.write_text(document(measured, date=date.today().isoformat(), command=command),
                          encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
