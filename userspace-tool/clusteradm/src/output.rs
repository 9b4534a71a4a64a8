//! Printing: JSON documents and right-aligned text columns.

use serde::Serialize;

use crate::kapi::Error;

/// Prints `v` as one line of JSON.
pub(crate) fn print_json<T: Serialize + ?Sized>(v: &T) -> Result<(), Error> {
    let s = serde_json::to_string(v).map_err(|e| Error::failed(format!("json: {e}")))?;
    println!("{s}");
    Ok(())
}

/// Renders `rows` under `header` as right-aligned columns, one line each.
pub(crate) fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let s: Vec<String> = cells.zip(&width).map(|(c, w)| format!("{c:>w$}")).collect();
        s.join("  ")
    };
    let mut out = line(&mut header.iter().copied());
    out.push('\n');
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_right() {
        let rows = vec![
            vec!["0".to_string(), "12345".to_string()],
            vec!["10".to_string(), "-".to_string()],
        ];
        assert_eq!(
            columns(&["index", "n"], &rows),
            "index      n\n    0  12345\n   10      -\n"
        );
    }
}
