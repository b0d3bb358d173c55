//! The `sql` detector's scripts as text: the tuned queries of `analyzer/sql/`, cut into
//! statements, and rewritten as one query for an engine that cannot keep memory tables (a
//! Ballista cluster). Plain text work, so it is built and tested without DataFusion.

/// The exposures: (app_id, user_id, photo_id, first_exposed_ts, surface).
pub const EXPOSURES_SQL: &str = include_str!("../sql/exposures.sql");

/// The message violations: (event_id, app_id, user_id, action, ts).
pub const VIOLATIONS_SQL: &str = include_str!("../sql/violations.sql");

/// The statements of a file: separated by a semicolon at the end of a line, comments and
/// blank ones left out.
pub fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let code = line.trim_end();
        if code.trim_start().starts_with("--") && current.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if code.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// A script as one query for an engine that cannot keep memory tables: its `SET` statements,
/// then one statement in which every `CREATE OR REPLACE TABLE name AS q` before the answer is
/// a common table expression `name AS (q)` of the answer.
///
/// # Errors
/// A script whose last statement is not a query, or with a statement that is neither a `SET`
/// nor a `CREATE OR REPLACE TABLE ... AS`.
pub fn one_query(text: &str) -> std::result::Result<Vec<String>, String> {
    const CREATE: &str = "CREATE OR REPLACE TABLE ";
    let mut statements = statements(text);
    let answer = statements
        .pop()
        .filter(|q| {
            let q = q.trim_start().to_ascii_uppercase();
            q.starts_with("WITH") || q.starts_with("SELECT")
        })
        .ok_or("the script does not end with a query")?;
    let mut out = Vec::new();
    let mut tables = Vec::new();
    for statement in statements {
        if statement.to_ascii_uppercase().starts_with("SET ") {
            out.push(statement);
        } else if statement.to_ascii_uppercase().starts_with(CREATE) {
            let rest = &statement[CREATE.len()..];
            let (name, query) = rest
                .split_once(char::is_whitespace)
                .and_then(|(name, q)| {
                    let q = q.trim_start();
                    let as_ = q.get(..2).filter(|a| a.eq_ignore_ascii_case("AS"))?;
                    let query = &q[as_.len()..];
                    query
                        .starts_with(char::is_whitespace)
                        .then(|| (name, query.trim()))
                })
                .ok_or_else(|| format!("cannot read `{}`", first_line(&statement)))?;
            tables.push(format!("{name} AS (\n{query}\n)"));
        } else {
            return Err(format!(
                "`{}` is neither SET nor CREATE OR REPLACE TABLE",
                first_line(&statement)
            ));
        }
    }
    if tables.is_empty() {
        out.push(answer);
    } else {
        let answer = answer.trim_start();
        let joined = tables.join(",\n");
        out.push(match answer.get(..5) {
            Some(w) if w.eq_ignore_ascii_case("WITH ") || w.eq_ignore_ascii_case("WITH\n") => {
                format!("WITH {joined},\n{}", &answer[5..])
            }
            _ => format!("WITH {joined}\n{answer}"),
        });
    }
    Ok(out)
}

fn first_line(statement: &str) -> &str {
    statement.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{EXPOSURES_SQL, VIOLATIONS_SQL, one_query};

    #[test]
    fn tables_become_common_table_expressions() {
        let script = "SET a.b = true;\n-- a note\nCREATE OR REPLACE TABLE t1 AS\nSELECT 1 AS x;\n\
                      CREATE OR REPLACE TABLE t2 AS WITH w AS (SELECT x FROM t1) SELECT x FROM w;\n\
                      WITH z AS (SELECT x FROM t2)\nSELECT * FROM z JOIN t1 USING (x)";
        assert_eq!(
            one_query(script).unwrap(),
            [
                "SET a.b = true".to_string(),
                "WITH t1 AS (\nSELECT 1 AS x\n),\nt2 AS (\nWITH w AS (SELECT x FROM t1) SELECT x FROM w\n),\n\
                 z AS (SELECT x FROM t2)\nSELECT * FROM z JOIN t1 USING (x)"
                    .to_string()
            ]
        );
        assert_eq!(
            one_query("CREATE OR REPLACE TABLE t AS SELECT 1 AS x;\nSELECT x FROM t").unwrap(),
            ["WITH t AS (\nSELECT 1 AS x\n)\nSELECT x FROM t".to_string()]
        );
        assert_eq!(one_query("SELECT 1").unwrap(), ["SELECT 1".to_string()]);
        assert!(
            one_query("SET a = 1")
                .unwrap_err()
                .contains("does not end with a query")
        );
        assert!(
            one_query("DROP TABLE t;\nSELECT 1")
                .unwrap_err()
                .contains("`DROP TABLE t` is neither")
        );
        assert!(
            one_query("CREATE OR REPLACE TABLE t SELECT 1;\nSELECT 1")
                .unwrap_err()
                .contains("cannot read")
        );
    }

    /// The built-in scripts: their settings, then one query that defines every table first.
    #[test]
    fn the_scripts_as_one_query() {
        let exposures = one_query(EXPOSURES_SQL).unwrap();
        assert_eq!(exposures.len(), 2, "{exposures:?}");
        assert!(exposures[0].starts_with("SET datafusion.execution.parquet.pushdown_filters"));
        let q = &exposures[1];
        let at = |name: &str| q.find(&format!("{name} AS (")).unwrap_or(usize::MAX);
        assert!(at("br_tuned_calls") < at("br_tuned_users"), "{q}");
        assert!(at("br_tuned_users") < at("br_tuned_photos"), "{q}");
        assert!(at("br_tuned_photos") < at("nb"), "{q}");
        assert!(!q.contains("CREATE"), "{q}");
        let violations = one_query(VIOLATIONS_SQL).unwrap();
        assert_eq!(violations.len(), 2, "{violations:?}");
    }
}
