"""Publishing: compute a run's figures with lineage and store it (`compute`), render the municipal workbook from
a stored run (`municipal`, `municipal_sheets`), the regional workbook with suppression (`regional`), and answer
lineage questions about any published cell (`lineage`). Municipal summaries sent up to the region come in through
`pipeline.intake.upstream`."""
