"""The pure core: the vocabulary of verdicts, severities and levels, the problem record (`issues`), published
figures and their arithmetic (`figures`), and the indicators of domain.md §3 declared as data (`indicators`).
Nothing here reads files, opens DuckDB or knows Dagster."""
