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
-- the regional totals of each region's newest workbook
CREATE OR REPLACE VIEW published_regional_run AS
SELECT * FROM regional_run QUALIFY row_number() OVER (PARTITION BY region ORDER BY created_at DESC, run_id) = 1;
-- the school cells behind a figure: its own inputs' cells, or (a regional total) those of its parts
CREATE OR REPLACE VIEW figure_source AS
WITH direct AS (
    SELECT fi.figure_id, rs.part, rs.sha256, rs.school_id, rs.sheet, rs.cell, rs.value
    FROM figure_input fi JOIN figure f USING (figure_id)
    JOIN return_source rs ON rs.sha256 = fi.sha256 AND rs.indicator = f.indicator AND rs.period = f.period)
SELECT * FROM direct
UNION ALL
SELECT fp.figure_id, d.part, d.sha256, d.school_id, d.sheet, d.cell, d.value
FROM figure_part fp JOIN direct d ON d.figure_id = fp.part_id;

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

-- published indicators at every level, as the summaries print them: a hidden figure (`hidden`, §4) shows no
-- value, numerator or denominator; shares are Σnumerator / Σdenominator, counts are Σnumerator
CREATE OR REPLACE VIEW indicator_published AS
SELECT f.figure_id, f.indicator, f.level, f.entity, f.period,
       CASE WHEN f.hidden IS NULL THEN f.numerator END AS numerator,
       CASE WHEN f.hidden IS NULL THEN f.denominator END AS denominator,
       CASE WHEN f.hidden IS NULL THEN f.value END AS value, f.hidden,
       r.municipality, m.region, r.run_id
FROM figure f JOIN published_run r USING (run_id) JOIN municipality m ON m.code = r.municipality;

-- each region's totals as its newest regional workbook shows them (small counts of people hidden, §4)
CREATE OR REPLACE VIEW indicator_regional AS
SELECT r.region, f.indicator, string_split(r.periods, '+') AS periods,
       CASE WHEN f.hidden IS NULL THEN f.numerator END AS numerator,
       CASE WHEN f.hidden IS NULL THEN f.denominator END AS denominator,
       CASE WHEN f.hidden IS NULL THEN f.value END AS value, f.hidden
FROM figure f JOIN published_regional_run r USING (run_id);

-- municipal figures against the seed targets (a target with a year applies to periods ending in that year)
CREATE OR REPLACE VIEW target_deviation AS
SELECT ip.municipality, ip.period, t.indicator, t.op, t.value AS target, ip.value AS actual,
       round(ip.value - t.value, 1) AS deviation,
       CASE WHEN ip.value IS NULL THEN NULL WHEN t.op = '>=' THEN ip.value >= t.value ELSE ip.value <= t.value END AS met,
       t.source
FROM indicator_published ip
JOIN period p ON p.municipality = ip.municipality AND p.code = ip.period
JOIN target t ON t.indicator = ip.indicator AND t.municipality IN (ip.municipality, '*')
             AND (t.year IS NULL OR t.year = year(p.end_date))
WHERE ip.level = 'municipality';

-- coverage of every municipality and period: expected, accepted (late among them), only rejected, missing
CREATE OR REPLACE VIEW coverage AS
SELECT p.municipality, p.code AS period, count(DISTINCT sc.id) AS expected,
       count(DISTINCT cs.school_id) AS accepted,
       count(DISTINCT CASE WHEN cs.on_time = false THEN cs.school_id END) AS late,
       count(DISTINCT CASE WHEN su.verdict = 'rejected' AND cs.school_id IS NULL THEN su.school_id END) AS rejected_only,
       count(DISTINCT sc.id) - count(DISTINCT COALESCE(cs.school_id, su.school_id)) AS missing
FROM period p
JOIN school sc ON sc.municipality = p.municipality
LEFT JOIN submission su ON su.school_id = sc.id AND su.period = p.code
LEFT JOIN current_submission cs ON cs.school_id = sc.id AND cs.period = p.code
GROUP BY p.municipality, p.code;
