"""Benchmark sections, one module per capability.

A section is a module `scripts/benchmarks/NAME.py` (names starting with `_`, and `common`,
are helpers, not sections) with:

- a docstring whose first line says what it measures (`scripts/bench` prints it);
- `run(quick: bool = False)`, or `run(quick: bool = False, large: bool = False)` when it has
  sizes too large for every run. It measures, and reports each row of its table with
  `common.figure(Figure(...))`: the figure's name, ours, the baseline measured side by side
  in the same run, the ratio between them, the aim and whether it is met. Cells are text
  formatted with `common.ms`, `common.secs`, `common.us` and `common.rate`; the ratio is a
  number (shown as `1.17x`) or a text when a number does not say it. `common.report` prints
  a line that is not a figure (a database built, an error seen) and goes to no table;
  `common.environment("PostgreSQL 15.4")` names a backend or tool the figures depend on,
  for the section's "Measured ..." line;
- optionally `NAME.md` next to it: the section's text in docs/en/benchmarks.md, a
  `string.Template` with `$measured` (the generated "Measured <date> in one `scripts/bench
  ...` run on <machine> (versions)" line) and `$table` (the figures' table) where they go,
  and the prose that explains the figures around them. Without it the section is the
  measured line and the table. `_intro.md` is the text above the first section.

`scripts/bench --markdown [FILE]` writes every section run to FILE (docs/en/benchmarks.md by
default), each under `## NAME`, rendered by `_markdown.py`. A figure whose aim is not met
reads `**not met**` there, so a new section (an audit log, secrets) only adds its module and
its `.md`, and no formatting code of its own.
"""
