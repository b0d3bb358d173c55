//! The `sql` detector's scripts as text: the tuned queries of `analyzer/sql/`, cut into
//! statements, and the intermediate tables they make. Plain text work, so it is built and
//! tested without DataFusion.

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

/// A `CREATE [OR REPLACE] TABLE name AS query` statement's name and query; `None` for any
/// other statement. An engine that cannot keep a memory table in the client (a Ballista
/// cluster) writes the query's rows where its executors can read them, under the name.
///
/// # Errors
/// A `CREATE ... TABLE` statement without a plain name (letters, digits, `_`) and `AS`.
pub fn created_table(statement: &str) -> Option<std::result::Result<(&str, &str), String>> {
    // The words at the start: CREATE, optionally OR REPLACE, TABLE, the name, AS.
    fn word(text: &str) -> (&str, &str) {
        let text = text.trim_start();
        let end = text
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(text.len());
        (&text[..end], &text[end..])
    }
    let (first, rest) = word(statement);
    if !first.eq_ignore_ascii_case("CREATE") {
        return None;
    }
    let (mut next, mut rest) = word(rest);
    if next.eq_ignore_ascii_case("OR") {
        let (replace, after) = word(rest);
        if !replace.eq_ignore_ascii_case("REPLACE") {
            return None;
        }
        (next, rest) = word(after);
    }
    if !next.eq_ignore_ascii_case("TABLE") {
        return None;
    }
    let (name, rest) = word(rest);
    let (as_, query) = word(rest);
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    Some(
        if plain && as_.eq_ignore_ascii_case("AS") && !query.trim().is_empty() {
            Ok((name, query.trim()))
        } else {
            Err(format!("cannot read `{}`", first_line(statement)))
        },
    )
}

fn first_line(statement: &str) -> &str {
    statement.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{EXPOSURES_SQL, VIOLATIONS_SQL, created_table, statements};

    #[test]
    fn created_tables() {
        assert_eq!(
            created_table("CREATE OR REPLACE TABLE t1 AS\nWITH w AS (SELECT 1) SELECT * FROM w"),
            Some(Ok(("t1", "WITH w AS (SELECT 1) SELECT * FROM w")))
        );
        assert_eq!(
            created_table("create or replace table t AS SELECT 1"),
            Some(Ok(("t", "SELECT 1")))
        );
        assert_eq!(created_table("SET a = 1"), None);
        assert_eq!(created_table("SELECT 1"), None);
        assert!(
            created_table("CREATE OR REPLACE TABLE t SELECT 1")
                .unwrap()
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(
            created_table("CREATE OR REPLACE TABLE t ASX SELECT 1")
                .unwrap()
                .is_err()
        );
        assert_eq!(
            created_table("CREATE OR REPLACE\n  TABLE\tt AS(SELECT 1)"),
            Some(Ok(("t", "(SELECT 1)")))
        );
        assert_eq!(
            created_table("CREATE TABLE t AS SELECT 1"),
            Some(Ok(("t", "SELECT 1")))
        );
        // A name is a plain word: nothing that could leave the run's folder.
        for bad in ["../x", "/abs", "a.b", ""] {
            let statement = format!("CREATE TABLE {bad} AS SELECT 1");
            assert!(created_table(&statement).unwrap().is_err(), "{statement}");
        }
        assert_eq!(created_table("CREATE VIEW v AS SELECT 1"), None);
    }

    /// The built-in scripts: settings, tables made in order, and a query that ends them.
    #[test]
    fn the_scripts_make_their_tables_in_order() {
        let exposures = statements(EXPOSURES_SQL);
        let made: Vec<&str> = exposures
            .iter()
            .filter_map(|s| created_table(s).map(|t| t.unwrap().0))
            .collect();
        assert_eq!(
            made,
            ["br_tuned_calls", "br_tuned_users", "br_tuned_photos"]
        );
        assert!(exposures[0].starts_with("SET datafusion.execution.parquet.pushdown_filters"));
        let last = exposures.last().unwrap();
        assert!(last.starts_with("WITH nb AS"), "{last}");
        let violations = statements(VIOLATIONS_SQL);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert_eq!(
            created_table(&violations[1]).unwrap().unwrap().0,
            "br_msg_grouped"
        );
    }
}
