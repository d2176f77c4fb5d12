"""Assemble BENCHMARKS.md from the per-benchmark sections in benchmarks/results/.

Each benchmark script writes its own ``results/<name>.md`` (machine, versions,
table, ratios from one run); this script joins them in a fixed order so that
benchmarks run at different times never overwrite each other.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["engine_overhead", "mlp_throughput", "fashion_mnist", "cnn_throughput", "fashion_mnist_cnn",
         "rnn_throughput", "sequence_tasks", "sequence_tasks_text", "fixed_point_memory", "compare_rules",
         "sklearn_vs_deltaprop", "distributed_ranks", "distributed_scaling", "second_order", "gradient_cost"]


def main() -> None:
    sections = {p.stem: p.read_text().strip() for p in sorted((HERE / "results").glob("*.md"))}
    names = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    header = (
        "# Benchmarks\n\n"
        "Measured by the scripts in `benchmarks/` (run `python benchmarks/<name>.py`, then\n"
        "`python benchmarks/write_benchmarks_md.py`). Each section comes from one run, so only\n"
        "the ratios inside a section compare; the machine is noisy and shared.\n"
    )
    body = "\n\n".join(sections[n] for n in names)
    (HERE.parent / "BENCHMARKS.md").write_text(header + "\n" + body + "\n")


if __name__ == "__main__":
    main()
