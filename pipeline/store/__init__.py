"""The DuckDB warehouse: the connection and schema (`warehouse`, `schema.sql`), named reads (`queries`) and the
loads of received files and checked returns (`loads`). Published figures are stored by `pipeline.publish`."""
