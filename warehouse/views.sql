-- svod warehouse views (DuckDB): what staff query and what lineage reads. Replaced on every connection
-- that may write (CREATE OR REPLACE), so a new release's views apply to an old warehouse.

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
-- of those the one that knew most recently (its newest return or staff decision), else the one that saw the most
-- returns (a later return never dates a run earlier: a snapshot's newest return is at least its subset's)
CREATE OR REPLACE VIEW published_run AS
SELECT * FROM run
QUALIFY row_number() OVER (PARTITION BY municipality, period
                           ORDER BY source_file IS NULL DESC, created_at DESC NULLS LAST, stored DESC NULLS LAST,
                                    json_array_length(submissions) DESC, run_id) = 1;

-- the version of each school's return that counts: its newest accepted one
CREATE OR REPLACE VIEW current_submission AS
SELECT * FROM submission
WHERE verdict IN ('accepted', 'accepted_with_warnings') AND superseded_by IS NULL
  AND sha256 NOT IN (SELECT sha256 FROM returned);

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
