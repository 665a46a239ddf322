"""From the inbox to the warehouse, in the data's order: `inbox` (settle, archive byte for byte, arrivals log)
→ `routing` (which return a file claims to be) → `examine` (isolated parse and own rules, batches, contracts,
history) → `pipeline.store.loads` (one transaction per batch) → `pipeline.feedback` (the school's answer).
`steps` is the only module that calls these steps. Beside them, what else is handed to the pipeline as files:
`decisions` (staff decisions, applied by a run: returns for correction, approvals that hold later versions),
`run_requests` (the runs staff ask for) and `upstream` (municipal summary workbooks sent up to the region,
archived like any received file)."""
