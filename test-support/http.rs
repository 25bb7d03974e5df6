//! Plain HTTP requests, to read the metrics exporter and the live view.

use std::time::{Duration, Instant};

/// GET `url`: its status and body, `None` when nothing answers within 2 s.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build(),
    );
    let mut response = agent.get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

/// Polls `url` until `check` accepts the answer, for up to `limit`; the
/// last answer.
pub fn http_until(
    url: &str,
    limit: Duration,
    check: impl Fn(u16, &str) -> bool,
) -> Option<(u16, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let answer = http_get(url);
        if answer.as_ref().is_some_and(|(s, b)| check(*s, b)) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
