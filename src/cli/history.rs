//! The refresh history.



use super::{exit, print_json, Failure};

pub(super) fn history(json: bool) -> Result<i32, Failure> {
    let records = crate::history::read_all();
    if json {
        print_json(&records)?;
        return Ok(exit::OK);
    }
    if records.is_empty() {
        println!("no refreshes yet");
    }
    for r in &records {
        let short = |s: &Option<String>| s.as_deref().map(|x| x[..12.min(x.len())].to_string()).unwrap_or("-".into());
        println!(
            "{} {:<24} {:<10} {} -> {} {:.1}s {}",
            r.at,
            r.container,
            r.reason,
            short(&r.old_id),
            short(&r.new_id),
            r.seconds,
            r.result
        );
    }
    Ok(exit::OK)
}
