-- svod warehouse (DuckDB). Fact tables fact_<sheet> are generated from the rule catalogue by
-- pipeline/store/warehouse.py: one column per catalogue column plus (sha256, src_row) pointing at the source row.
-- The cell of a value is src_column.letter || src_row for its (sha256, sheet, code).

CREATE TABLE IF NOT EXISTS svod_meta (key VARCHAR PRIMARY KEY, value VARCHAR);  -- e.g. the loaded reference version
CREATE TABLE IF NOT EXISTS region (code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS municipality (code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, region VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS school (id VARCHAR PRIMARY KEY, municipality VARCHAR NOT NULL, name VARCHAR NOT NULL, type VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS period (municipality VARCHAR, code VARCHAR, start_date DATE, end_date DATE, deadline DATE,
                                   PRIMARY KEY (municipality, code));
CREATE TABLE IF NOT EXISTS roadmap_item (municipality VARCHAR, code VARCHAR PRIMARY KEY, level VARCHAR, deadline_text VARCHAR,
                                         reading VARCHAR, text VARCHAR, seed VARCHAR);
CREATE TABLE IF NOT EXISTS target (municipality VARCHAR, indicator VARCHAR, op VARCHAR, value DOUBLE, year INTEGER, source VARCHAR);
-- each indicator's kind (pipeline/domain/indicators.py): unit 'count', 'percent' or 'mean'; largest: a maximum
-- revision: bumped when its counting changes, so what returns contributed to it before is computed again
CREATE TABLE IF NOT EXISTS indicator (code VARCHAR PRIMARY KEY, title VARCHAR, unit VARCHAR, largest BOOLEAN);
ALTER TABLE indicator ADD COLUMN IF NOT EXISTS revision INTEGER;

-- every file ever received, byte for byte in the archive under its sha256
CREATE TABLE IF NOT EXISTS received_file (
    sha256 VARCHAR PRIMARY KEY, original_name VARCHAR, size BIGINT, received_at TIMESTAMP, archive_path VARCHAR);

-- one row per received file that was identified as a return (or rejected before identification)
CREATE TABLE IF NOT EXISTS submission (
    sha256 VARCHAR PRIMARY KEY,
    school_id VARCHAR, municipality VARCHAR, period VARCHAR,
    version INTEGER, verdict VARCHAR NOT NULL, received_at TIMESTAMP, on_time BOOLEAN,
    template_version VARCHAR, catalogue VARCHAR, superseded_by VARCHAR,
    errors INTEGER, warnings INTEGER, rows_read INTEGER, rows_loaded INTEGER, normalised INTEGER);

-- an approved return is locked: later versions of the same school and period wait (verdict 'held') for an unlock
CREATE TABLE IF NOT EXISTS approval (school_id VARCHAR, period VARCHAR, sha256 VARCHAR, approved_at TIMESTAMP,
                                     PRIMARY KEY (school_id, period));

-- an accepted version returned for correction: the school's return is not counted until a newer version is accepted
CREATE TABLE IF NOT EXISTS returned (school_id VARCHAR, period VARCHAR, sha256 VARCHAR, reason VARCHAR,
                                     returned_at TIMESTAMP, PRIMARY KEY (school_id, period, sha256));

-- every staff decision the pipeline applied (pipeline.intake.decisions), by the name of its file: applied once
CREATE TABLE IF NOT EXISTS staff_decision (
    name VARCHAR PRIMARY KEY, kind VARCHAR, school_id VARCHAR, period VARCHAR, reason VARCHAR, made_by VARCHAR,
    made_at TIMESTAMP, applied_at TIMESTAMP, outcome VARCHAR);

-- what each school is to be told about each received file: recorded in the same transaction as the verdict (or the
-- hold), written to outbox/ from this record, then stamped; anything unstamped is written by the next run
CREATE TABLE IF NOT EXISTS answer (
    sha256 VARCHAR, kind VARCHAR, school_id VARCHAR, period VARCHAR, version INTEGER, payload VARCHAR,
    due_at TIMESTAMP, written_at TIMESTAMP, PRIMARY KEY (sha256, kind));

CREATE TABLE IF NOT EXISTS issue (
    sha256 VARCHAR, rule VARCHAR, severity VARCHAR, sheet VARCHAR, src_row INTEGER, code VARCHAR, cell VARCHAR,
    value VARCHAR, message VARCHAR, fix VARCHAR);

CREATE TABLE IF NOT EXISTS src_column (sha256 VARCHAR, sheet VARCHAR, code VARCHAR, letter VARCHAR);

-- published figures and the cells they were computed from
-- a run computed here from school returns, or (source_file set) taken from a municipality's signed summary
CREATE TABLE IF NOT EXISTS run (
    run_id VARCHAR PRIMARY KEY, municipality VARCHAR, period VARCHAR, created_at TIMESTAMP,
    catalogue VARCHAR, reference VARCHAR, submissions VARCHAR, source_file VARCHAR);
-- the order runs were stored in: of two runs knowing the same moment's data, the later one is published
CREATE SEQUENCE IF NOT EXISTS run_order;
ALTER TABLE run ADD COLUMN IF NOT EXISTS stored BIGINT;
-- hidden: the mark printed instead of the value, numerator and denominator (pipeline/domain/suppression.py)
CREATE TABLE IF NOT EXISTS figure (
    figure_id VARCHAR PRIMARY KEY, run_id VARCHAR, indicator VARCHAR, level VARCHAR, entity VARCHAR, period VARCHAR,
    numerator DOUBLE, denominator DOUBLE, value DOUBLE);
ALTER TABLE figure ADD COLUMN IF NOT EXISTS hidden VARCHAR;
-- what one return contributes to one indicator: computed once per return and period, reused by every run
CREATE TABLE IF NOT EXISTS return_figure (
    indicator VARCHAR, period VARCHAR, sha256 VARCHAR, school_id VARCHAR, numerator DOUBLE, denominator DOUBLE,
    sources_text VARCHAR);
CREATE TABLE IF NOT EXISTS return_source (
    indicator VARCHAR, period VARCHAR, sha256 VARCHAR, school_id VARCHAR, part VARCHAR, sheet VARCHAR, cell VARCHAR,
    value VARCHAR);
-- the returns each figure was computed from (one for an ОО's figure, every counted return for a municipality's)
CREATE TABLE IF NOT EXISTS figure_input (figure_id VARCHAR, sha256 VARCHAR);
-- a region's totals: each one the sum of the municipal figures (its parts) the regional workbook shows
CREATE TABLE IF NOT EXISTS regional_run (
    run_id VARCHAR PRIMARY KEY, region VARCHAR, periods VARCHAR, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS figure_part (figure_id VARCHAR, part_id VARCHAR);
