//! The event model: one access-log row as a pure function of (seed, row index).
//!
//! Traffic is a mix of ordinary visitors and a few scanning IPs. Visitors are a fixed population
//! of users with skewed activity, each keeping a primary and a secondary IP and one browser;
//! scanners stuff credentials into /login and probe admin paths. A handful of cheap correlations
//! (failed logins, forbidden admin pages, slow errors, the security level) make the stream worth
//! writing detection queries against.

use std::fmt;

use super::options::Rate;
use super::rng::{CounterRng, derive_key, hash2};
use super::tables::{
    Action, BROWSER_AGENTS, CRAWLER_AGENTS, FORM_PATHS, PAGES, PageKind, REFERRERS,
    SCANNER_ACTIONS, SCANNER_PATHS, SCANNER_STATUS, SEARCH_TERMS, Security, TOOL_AGENTS,
    VISITOR_ACTIONS, VISITOR_STATUS, is_sensitive_path, methods_for,
};

/// Out-of-order rows are at most this many (simulated) microseconds earlier than their slot.
pub const MAX_OUT_OF_ORDER_MICROS: i64 = 2_000_000;
/// How many rows per thousand arrive out of order.
pub const OUT_OF_ORDER_PER_MILLE: u32 = 50;
/// Size of the user population; user numbers are 1..=USER_COUNT.
pub const USER_COUNT: u32 = 5_000;

/// Rows per thousand that come from a scanning IP rather than a visitor.
const SCANNER_PER_MILLE: u32 = 30;
const SCANNER_COUNT: u32 = 40;
/// Visitors on the move (mobile networks, VPNs) draw from a big shared pool, so the number of
/// distinct IPs keeps growing long after every user has been seen.
const ROAMING_POOL: u32 = 50_000;
const PRODUCT_COUNT: u32 = 2_000;
const REPORT_COUNT: u32 = 300;
const ORDER_COUNT: u32 = 100_000;
/// Odd multiplier coprime to USER_COUNT: scatters the busiest users across the id range instead
/// of making them u00001, u00002, ...
const USER_SCATTER: u32 = 2_437;

/// A request path; numbered paths are formatted only when a column needs the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Url {
    Path(&'static str),
    Product(u32),
    Search(&'static str),
    Download(u32),
    Order(u32),
}

impl Url {
    pub(crate) fn is_sensitive(self) -> bool {
        matches!(self, Url::Path(p) if is_sensitive_path(p))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Url::Path(p) => f.write_str(p),
            Url::Product(n) => write!(f, "/products/{n}"),
            Url::Search(q) => write!(f, "/search?q={q}"),
            Url::Download(n) => write!(f, "/downloads/report-{n}.pdf"),
            Url::Order(n) => write!(f, "/api/v1/orders/{n}"),
        }
    }
}

/// One generated row, before conversion to the declared column types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Event {
    /// Event time, microseconds since the Unix epoch (UTC).
    pub(crate) micros: i64,
    pub(crate) ip: u32,
    /// 1..=USER_COUNT.
    pub(crate) user: u32,
    pub(crate) status: u16,
    pub(crate) response_ms: u32,
    pub(crate) user_agent: &'static str,
    pub(crate) url: Url,
    pub(crate) method: &'static str,
    pub(crate) referrer: &'static str,
    pub(crate) action: Action,
    pub(crate) security: Security,
}

/// Maps row numbers to their nominal (in-order) event time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    pub(crate) origin_micros: i64,
    pub(crate) rate: Rate,
}

/// The generator: keys derived from the seed, plus the timeline.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    row_key: u64,
    user_key: u64,
    pool_key: u64,
    scanner_key: u64,
    timeline: Timeline,
}

impl Model {
    pub(crate) fn new(seed: u64, timeline: Timeline) -> Self {
        Self {
            row_key: derive_key(seed, 1),
            user_key: derive_key(seed, 2),
            pool_key: derive_key(seed, 3),
            scanner_key: derive_key(seed, 4),
            timeline,
        }
    }

    /// Row `row`'s time before out-of-order jitter.
    pub(crate) fn nominal_micros(&self, row: u64) -> i64 {
        self.timeline
            .origin_micros
            .saturating_add(self.timeline.rate.offset_micros(row))
    }

    /// Replaces `out` with rows [start, start + len). The caller guarantees no overflow.
    pub(crate) fn fill(&self, start: u64, len: usize, out: &mut Vec<Event>) {
        out.clear();
        out.extend((start..start + len as u64).map(|row| self.event(row)));
    }

    pub(crate) fn event(&self, row: u64) -> Event {
        let mut rng = CounterRng::new(self.row_key, row);
        let mut micros = self.nominal_micros(row);
        if rng.per_mille(OUT_OF_ORDER_PER_MILLE) {
            let back = 1 + rng.next_u64() % MAX_OUT_OF_ORDER_MICROS as u64;
            micros = micros.saturating_sub(back as i64);
        }
        if rng.per_mille(SCANNER_PER_MILLE) {
            self.scanner_event(&mut rng, micros)
        } else {
            self.visitor_event(&mut rng, micros)
        }
    }

    fn visitor_event(&self, rng: &mut CounterRng, micros: i64) -> Event {
        let busy_rank = rng.skewed(USER_COUNT);
        let user = 1 + (busy_rank * USER_SCATTER) % USER_COUNT;
        let mut profile = CounterRng::new(self.user_key, u64::from(user));
        let primary_ip = ip_from_hash(profile.next_u64());
        let secondary_ip = ip_from_hash(profile.next_u64());
        let browser = BROWSER_AGENTS.pick(&mut profile);

        let action = VISITOR_ACTIONS.pick(rng);
        let method = methods_for(action).pick(rng);
        let url = match action {
            Action::Login => Url::Path("/login"),
            Action::Logout => Url::Path("/logout"),
            Action::UploadFile => Url::Path("/api/v1/uploads"),
            Action::DownloadFile => Url::Download(1 + rng.skewed(REPORT_COUNT)),
            Action::SubmitForm if method == "POST" => Url::Path(FORM_PATHS.pick(rng)),
            Action::SubmitForm => Url::Order(1 + rng.below(ORDER_COUNT)),
            Action::ViewPage
            | Action::NavigatePage
            | Action::ScrollPage
            | Action::CloseWindow
            | Action::OpenNewTab => match PAGES.pick(rng) {
                PageKind::Path(p) => Url::Path(p),
                PageKind::Product => Url::Product(1 + rng.skewed(PRODUCT_COUNT)),
                PageKind::Search => {
                    Url::Search(SEARCH_TERMS[rng.below(SEARCH_TERMS.len() as u32) as usize])
                }
            },
        };
        let ip = match rng.below(1000) {
            0..880 => primary_ip,
            880..970 => secondary_ip,
            _ => ip_from_hash(hash2(self.pool_key, u64::from(rng.below(ROAMING_POOL)))),
        };
        let user_agent = if rng.per_mille(30) {
            CRAWLER_AGENTS.pick(rng)
        } else {
            browser
        };
        let referrer = REFERRERS.pick(rng);

        let mut status = VISITOR_STATUS.pick(rng);
        if status == 304 && method != "GET" {
            status = 200;
        }
        let failed_login = action == Action::Login && method == "POST" && rng.per_mille(120);
        if failed_login {
            status = 401;
        }
        if url.is_sensitive() && rng.per_mille(350) {
            status = 403;
        }

        let security = if status == 403 || failed_login || url.is_sensitive() {
            Security::High
        } else if matches!(status, 401 | 404 | 500)
            || matches!(action, Action::Login | Action::UploadFile)
        {
            Security::Medium
        } else {
            Security::Low
        };

        Event {
            micros,
            ip,
            user,
            status,
            response_ms: response_ms(rng, status, url),
            user_agent,
            url,
            method,
            referrer,
            action,
            security,
        }
    }

    fn scanner_event(&self, rng: &mut CounterRng, micros: i64) -> Event {
        // Each scanner keeps one IP and one tool, so per-IP queries can single it out.
        let scanner = rng.skewed(SCANNER_COUNT);
        let mut identity = CounterRng::new(self.scanner_key, u64::from(scanner));
        let ip = ip_from_hash(identity.next_u64());
        let user_agent = TOOL_AGENTS.pick(&mut identity);

        let action = SCANNER_ACTIONS.pick(rng);
        let (url, method) = if action == Action::Login {
            (Url::Path("/login"), "POST")
        } else {
            (Url::Path(SCANNER_PATHS.pick(rng)), "GET")
        };
        let status = SCANNER_STATUS.pick(rng);
        Event {
            micros,
            ip,
            // Credential stuffing: usernames tried uniformly, unlike real users' activity.
            user: 1 + rng.below(USER_COUNT),
            status,
            response_ms: response_ms(rng, status, url),
            user_agent,
            url,
            method,
            referrer: "",
            action,
            security: Security::High,
        }
    }
}

/// Log-normal-ish latency: median ~60 ms for a 200, quick redirects and rejections, slow search,
/// uploads and 500s, and a rare slow-query tail into seconds.
fn response_ms(rng: &mut CounterRng, status: u16, url: Url) -> u32 {
    let base = match status {
        301 | 304 => 15.0,
        401 | 403 | 404 => 25.0,
        500 => 400.0,
        _ => 60.0,
    };
    let factor = match url {
        Url::Search(_) => 2.0,
        Url::Path("/api/v1/uploads") => 4.0,
        Url::Download(_) => 3.0,
        _ => 1.0,
    };
    let mut ms = base * factor * (0.75 * rng.normal()).exp();
    if rng.per_mille(10) {
        ms *= 5.0 + 15.0 * rng.unit();
    }
    if status == 500 && rng.per_mille(200) {
        // Upstream timeouts.
        ms += 5_000.0;
    }
    ms.clamp(1.0, 60_000.0) as u32
}

/// A plausible public IPv4 address (no 0.x, 10.x, 127.x or multicast, no .0/.255 hosts).
fn ip_from_hash(h: u64) -> u32 {
    let mut first = 1 + ((h >> 40) % 223) as u32;
    if first == 10 || first == 127 {
        first += 1;
    }
    let second = ((h >> 8) & 0xFF) as u32;
    let third = ((h >> 16) & 0xFF) as u32;
    let fourth = 1 + ((h >> 24) % 254) as u32;
    first << 24 | second << 16 | third << 8 | fourth
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn model(seed: u64) -> Model {
        Model::new(
            seed,
            Timeline {
                origin_micros: 0,
                rate: Rate::PER_MICROSECOND,
            },
        )
    }

    fn sample(n: usize) -> Vec<Event> {
        let mut out = Vec::new();
        model(0).fill(0, n, &mut out);
        out
    }

    fn share(events: &[Event], pred: impl Fn(&Event) -> bool) -> f64 {
        events.iter().filter(|e| pred(e)).count() as f64 / events.len() as f64
    }

    #[test]
    fn rows_depend_only_on_seed_and_index() {
        assert_eq!(model(1).event(12_345), model(1).event(12_345));
        assert_ne!(model(1).event(12_345), model(2).event(12_345));
    }

    #[test]
    fn distributions_are_as_documented() {
        let events = sample(100_000);
        let ok = share(&events, |e| e.status == 200);
        assert!((0.75..0.95).contains(&ok), "200 share {ok}");
        let statuses: HashSet<u16> = events.iter().map(|e| e.status).collect();
        for s in [200, 301, 304, 401, 403, 404, 500] {
            assert!(statuses.contains(&s), "status {s} missing");
        }
        let get = share(&events, |e| e.method == "GET");
        let post = share(&events, |e| e.method == "POST");
        assert!(
            get > 0.7 && post > 0.05 && post < get,
            "GET {get} POST {post}"
        );
        for m in ["PUT", "DELETE", "HEAD"] {
            let s = share(&events, |e| e.method == m);
            assert!(s > 0.0 && s < 0.05, "{m} share {s}");
        }

        let mut actions: HashMap<Action, usize> = HashMap::new();
        for e in &events {
            *actions.entry(e.action).or_default() += 1;
        }
        assert_eq!(actions.len(), 10);
        let top = actions.iter().max_by_key(|(_, n)| **n).map(|(a, _)| *a);
        assert_eq!(top, Some(Action::ViewPage));

        let users: HashSet<u32> = events.iter().map(|e| e.user).collect();
        let ips: HashSet<u32> = events.iter().map(|e| e.ip).collect();
        assert!(
            (1000..=10_000).contains(&users.len()),
            "{} users",
            users.len()
        );
        assert!(ips.len() > users.len(), "{} ips", ips.len());

        let low = share(&events, |e| e.security == Security::Low);
        let high = share(&events, |e| e.security == Security::High);
        assert!(
            low > 0.6 && high > 0.0 && high < low,
            "low {low} high {high}"
        );
        let google = share(&events, |e| e.referrer.contains("google"));
        let direct = share(&events, |e| e.referrer.is_empty());
        assert!(
            google > direct && direct > 0.1,
            "google {google} direct {direct}"
        );
    }

    #[test]
    fn user_activity_is_skewed() {
        let events = sample(100_000);
        let mut per_user: HashMap<u32, usize> = HashMap::new();
        for e in &events {
            *per_user.entry(e.user).or_default() += 1;
        }
        let mut counts: Vec<usize> = per_user.into_values().collect();
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        let busiest = counts[counts.len() - 1];
        assert!(busiest > 10 * median, "busiest {busiest} median {median}");
    }

    #[test]
    fn users_keep_few_ips() {
        let events = sample(100_000);
        let mut per_user: HashMap<u32, HashSet<u32>> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.user_agent.starts_with("Mozilla"))
        {
            per_user.entry(e.user).or_default().insert(e.ip);
        }
        let few = per_user.values().filter(|ips| ips.len() <= 3).count();
        assert!(few as f64 > 0.6 * per_user.len() as f64);
    }

    #[test]
    fn response_times_are_realistic() {
        let events = sample(100_000);
        let mut ok: Vec<u32> = events
            .iter()
            .filter(|e| e.status == 200)
            .map(|e| e.response_ms)
            .collect();
        ok.sort_unstable();
        let median = ok[ok.len() / 2];
        assert!((20..=300).contains(&median), "median {median}");
        assert!(ok[ok.len() - 1] > 2_000, "max {}", ok[ok.len() - 1]);
        let mean = |s: u16| {
            let v: Vec<f64> = events
                .iter()
                .filter(|e| e.status == s)
                .map(|e| f64::from(e.response_ms))
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean(500) > 3.0 * mean(200));
    }

    #[test]
    fn jitter_is_bounded_and_rare() {
        let m = model(9);
        let mut late = 0;
        for row in 0..50_000 {
            let back = m.nominal_micros(row) - m.event(row).micros;
            assert!((0..=MAX_OUT_OF_ORDER_MICROS).contains(&back));
            late += usize::from(back > 0);
        }
        let share = late as f64 / 50_000.0;
        assert!((0.03..0.07).contains(&share), "late share {share}");
    }

    #[test]
    fn urls_render() {
        assert_eq!(Url::Product(7).to_string(), "/products/7");
        assert_eq!(Url::Search("laptop").to_string(), "/search?q=laptop");
        assert_eq!(Url::Order(3).to_string(), "/api/v1/orders/3");
        assert!(Url::Path("/admin").is_sensitive());
    }
}
