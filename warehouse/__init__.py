"""The warehouse's own files, apart from the Python that reads and writes it (`pipeline.store`):

- `schema.sql`: the tables, and the columns added since (`ALTER TABLE … ADD COLUMN IF NOT EXISTS`), so that running
  it migrates an older warehouse; the fact tables are generated from the rule catalogue by `pipeline.store.warehouse`;
- `views.sql`: the views staff query and lineage reads, replaced on every writing connection;
- migrations that need the domain's rules (moving the old lineage table, deciding suppression for runs stored
  before it) are Python, in `pipeline.store.warehouse.ensure_schema`.
"""

from pathlib import Path

HERE = Path(__file__).parent
SCHEMA = HERE / "schema.sql"
VIEWS = HERE / "views.sql"
