"""Dagster shells over the pipeline, one module per concept: the resource, partitions, assets by stage
(`schools`, `intake`, `publishing`), asset checks, jobs, sensors and schedules. Each asset
only calls one entry point of `pipeline.intake.steps`, `pipeline.publish` or `pipeline.schools` and reports
metadata; `pipeline.definitions` assembles them."""
