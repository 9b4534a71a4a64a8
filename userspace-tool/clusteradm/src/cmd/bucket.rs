//! `clusteradm bucket show`: per-bucket counters (`bucket-get` dump).

use crate::kapi::bucket::{self, Bucket};
use crate::kapi::words::{self as args, Words};
use crate::kapi::{Client, Error};

use crate::output::{columns, print_json};

/// Parses `bucket show`'s keywords: whether to keep only nonzero buckets.
pub(crate) fn parse_show(words: &[String]) -> Result<bool, Error> {
    let mut w = Words::new(words);
    let mut nonzero = false;
    while let Some(kw) = w.keyword() {
        match kw {
            "nonzero" => nonzero = true,
            _ => return Err(args::unknown(kw)),
        }
    }
    Ok(nonzero)
}

/// Sorts by index and drops all-zero buckets if `nonzero`.
pub(crate) fn select(mut v: Vec<Bucket>, nonzero: bool) -> Vec<Bucket> {
    v.sort_by_key(|b| b.index);
    v.retain(|b| !nonzero || !b.is_zero());
    v
}

/// The counters as a text table.
pub(crate) fn render(v: &[Bucket]) -> String {
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|b| {
            vec![
                b.index.to_string(),
                b.owner.map_or_else(|| "-".to_string(), |o| o.to_string()),
                b.packets.to_string(),
                b.bytes.to_string(),
                b.flows.to_string(),
                b.drops.to_string(),
                b.forwarded.to_string(),
                b.drain_ms.map_or_else(|| "-".to_string(), args::drain_text),
            ]
        })
        .collect();
    columns(
        &[
            "index",
            "owner",
            "packets",
            "bytes",
            "flows",
            "drops",
            "forwarded",
            "drain",
        ],
        &rows,
    )
}

/// `bucket show ID [nonzero]`.
pub(crate) fn show(id: u32, words: &[String], json: bool) -> Result<(), Error> {
    const OP: &str = "bucket show";
    let nonzero = parse_show(words).map_err(|e| e.context(OP))?;
    let mut nl = Client::connect()?;
    let v = bucket::dump(&mut nl, id).map_err(|e| e.context(OP))?;
    let v = select(v, nonzero);
    if json {
        print_json(&v)
    } else {
        print!("{}", render(&v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(index: u32, owner: Option<u32>, packets: u64) -> Bucket {
        Bucket {
            index,
            owner,
            packets,
            bytes: packets * 100,
            flows: packets / 10,
            drain_ms: (index == 1).then_some(1500),
            ..Bucket::default()
        }
    }

    #[test]
    fn dumps_sort_filter_and_render() {
        let v = vec![
            bucket(2, Some(1), 0),
            bucket(0, None, 50),
            bucket(1, Some(3), 1234),
        ];
        let all = select(v.clone(), false);
        assert_eq!(all.iter().map(|b| b.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(all[0].owner, None);
        assert_eq!(all[1].owner, Some(3));
        assert_eq!(all[1].bytes, 123400);
        assert_eq!(
            render(&all),
            "index  owner  packets   bytes  flows  drops  forwarded   drain\n\
             \x20   0      -       50    5000      5      0          0       -\n\
             \x20   1      3     1234  123400    123      0          0  1500ms\n\
             \x20   2      1        0       0      0      0          0       -\n"
        );
        let nz = select(v, true);
        assert_eq!(nz.len(), 2);
        assert_eq!(
            serde_json::to_string(&nz).unwrap(),
            r#"[{"index":0,"owner":null,"packets":50,"bytes":5000,"flows":5,"drops":0,"forwarded":0},{"index":1,"owner":3,"packets":1234,"bytes":123400,"flows":123,"drops":0,"forwarded":0,"drain_ms":1500}]"#
        );
    }

    #[test]
    fn show_keywords() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_show(&w("")), Ok(false));
        assert_eq!(parse_show(&w("nonzero")), Ok(true));
        assert_eq!(parse_show(&w("zero")).unwrap_err().exit_code(), 2);
    }
}
