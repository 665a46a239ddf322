-- svod warehouse (DuckDB). Fact tables fact_<sheet> are generated from the rule catalogue by
-- pipeline/warehouse.py: one column per catalogue column plus (sha256, src_row) pointing at the source row.
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

CREATE TABLE IF NOT EXISTS issue (
    sha256 VARCHAR, rule VARCHAR, severity VARCHAR, sheet VARCHAR, src_row INTEGER, code VARCHAR, cell VARCHAR,
    value VARCHAR, message VARCHAR, fix VARCHAR);

CREATE TABLE IF NOT EXISTS src_column (sha256 VARCHAR, sheet VARCHAR, code VARCHAR, letter VARCHAR);

-- published figures and the cells they were computed from
-- a run computed here from school returns, or (source_file set) taken from a municipality's signed summary
CREATE TABLE IF NOT EXISTS run (
    run_id VARCHAR PRIMARY KEY, municipality VARCHAR, period VARCHAR, created_at TIMESTAMP,
    catalogue VARCHAR, reference VARCHAR, submissions VARCHAR, source_file VARCHAR);
CREATE TABLE IF NOT EXISTS figure (
    figure_id VARCHAR PRIMARY KEY, run_id VARCHAR, indicator VARCHAR, level VARCHAR, entity VARCHAR, period VARCHAR,
    numerator DOUBLE, denominator DOUBLE, value DOUBLE);
CREATE TABLE IF NOT EXISTS figure_source (
    figure_id VARCHAR, part VARCHAR, sha256 VARCHAR, school_id VARCHAR, sheet VARCHAR, cell VARCHAR, value VARCHAR);

-- the run whose figures are published for each municipality and period: computed here rather than sent up, and
-- of those the one that saw the most returns (a partition's set of checked returns only grows)
CREATE OR REPLACE VIEW published_run AS
SELECT * FROM run
QUALIFY row_number() OVER (PARTITION BY municipality, period
                           ORDER BY source_file IS NULL DESC, json_array_length(submissions) DESC, run_id) = 1;

-- the version of each school's return that counts: its newest accepted one
CREATE OR REPLACE VIEW current_submission AS
SELECT * FROM submission
WHERE verdict IN ('accepted', 'accepted_with_warnings') AND superseded_by IS NULL;
