//! Weighted value tables for the event model. Weights are relative integers (most tables sum to
//! 100 or 1000 so they read as percentages or per-mille); the skew lives here, not in code.

use super::rng::CounterRng;

/// A static table of values with relative weights.
pub(crate) struct Weighted<T: 'static> {
    entries: &'static [(T, u32)],
    total: u32,
}

impl<T: Copy> Weighted<T> {
    pub(crate) const fn new(entries: &'static [(T, u32)]) -> Self {
        let mut total = 0;
        let mut i = 0;
        while i < entries.len() {
            total += entries[i].1;
            i += 1;
        }
        // Evaluated at compile time for every table, so `pick` may rely on a non-empty table.
        assert!(total > 0, "a weighted table needs a positive total weight");
        Self { entries, total }
    }

    pub(crate) fn pick(&self, rng: &mut CounterRng) -> T {
        let mut r = rng.below(self.total);
        for &(value, weight) in self.entries {
            if r < weight {
                return value;
            }
            r -= weight;
        }
        self.entries[self.entries.len() - 1].0
    }

    #[cfg(test)]
    pub(crate) fn share(&self, pred: impl Fn(T) -> bool) -> f64 {
        let hit: u32 = self
            .entries
            .iter()
            .filter(|(v, _)| pred(*v))
            .map(|(_, w)| w)
            .sum();
        f64::from(hit) / f64::from(self.total)
    }
}

/// The ten values of `user_action` (the private `Action` enum indexes into this array).
pub const USER_ACTIONS: [&str; 10] = [
    "view_page",
    "navigate_page",
    "submit_form",
    "login",
    "logout",
    "scroll_page",
    "download_file",
    "upload_file",
    "close_window",
    "open_new_tab",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    ViewPage,
    NavigatePage,
    SubmitForm,
    Login,
    Logout,
    ScrollPage,
    DownloadFile,
    UploadFile,
    CloseWindow,
    OpenNewTab,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        USER_ACTIONS[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Security {
    Low,
    Medium,
    High,
}

impl Security {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Security::Low => "low",
            Security::Medium => "medium",
            Security::High => "high",
        }
    }
}

pub(crate) static VISITOR_ACTIONS: Weighted<Action> = Weighted::new(&[
    (Action::ViewPage, 34),
    (Action::NavigatePage, 18),
    (Action::ScrollPage, 12),
    (Action::SubmitForm, 8),
    (Action::Login, 7),
    (Action::Logout, 5),
    (Action::DownloadFile, 5),
    (Action::OpenNewTab, 5),
    (Action::CloseWindow, 4),
    (Action::UploadFile, 2),
]);

/// Scanners mostly hammer the login form (credential stuffing) and probe pages.
pub(crate) static SCANNER_ACTIONS: Weighted<Action> =
    Weighted::new(&[(Action::Login, 65), (Action::ViewPage, 35)]);

static PAGE_METHODS: Weighted<&str> = Weighted::new(&[("GET", 97), ("HEAD", 3)]);
static FORM_METHODS: Weighted<&str> = Weighted::new(&[("POST", 75), ("PUT", 20), ("DELETE", 5)]);
static LOGIN_METHODS: Weighted<&str> = Weighted::new(&[("POST", 70), ("GET", 30)]);
static LOGOUT_METHODS: Weighted<&str> = Weighted::new(&[("POST", 50), ("GET", 50)]);
static DOWNLOAD_METHODS: Weighted<&str> = Weighted::new(&[("GET", 95), ("HEAD", 5)]);
static UPLOAD_METHODS: Weighted<&str> = Weighted::new(&[("POST", 70), ("PUT", 30)]);

pub(crate) fn methods_for(action: Action) -> &'static Weighted<&'static str> {
    match action {
        Action::SubmitForm => &FORM_METHODS,
        Action::Login => &LOGIN_METHODS,
        Action::Logout => &LOGOUT_METHODS,
        Action::DownloadFile => &DOWNLOAD_METHODS,
        Action::UploadFile => &UPLOAD_METHODS,
        Action::ViewPage
        | Action::NavigatePage
        | Action::ScrollPage
        | Action::CloseWindow
        | Action::OpenNewTab => &PAGE_METHODS,
    }
}

/// Where a page view goes; numbered kinds get their number from the event model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    Path(&'static str),
    Product,
    Search,
}

pub(crate) static PAGES: Weighted<PageKind> = Weighted::new(&[
    (PageKind::Path("/"), 200),
    (PageKind::Product, 300),
    (PageKind::Search, 120),
    (PageKind::Path("/cart"), 80),
    (PageKind::Path("/account"), 60),
    (PageKind::Path("/api/v1/orders"), 60),
    (PageKind::Path("/docs"), 50),
    (PageKind::Path("/api/v1/products"), 40),
    (PageKind::Path("/pricing"), 40),
    (PageKind::Path("/about"), 30),
    (PageKind::Path("/admin"), 12),
    (PageKind::Path("/admin/users"), 8),
]);

pub(crate) static FORM_PATHS: Weighted<&str> = Weighted::new(&[
    ("/api/v1/orders", 40),
    ("/checkout", 30),
    ("/account/settings", 15),
    ("/contact", 10),
    ("/admin/settings", 5),
]);

pub(crate) static SCANNER_PATHS: Weighted<&str> = Weighted::new(&[
    ("/login", 40),
    ("/admin", 20),
    ("/wp-login.php", 10),
    ("/.env", 10),
    ("/api/v1/users", 10),
    ("/admin/config", 5),
    ("/phpmyadmin/", 5),
]);

/// Paths that only administrators (or attackers) should touch.
pub(crate) fn is_sensitive_path(path: &str) -> bool {
    path.starts_with("/admin")
        || matches!(
            path,
            "/wp-login.php" | "/.env" | "/phpmyadmin/" | "/api/v1/users"
        )
}

/// Already URL-encoded, so they can be written into `?q=` as is.
pub(crate) const SEARCH_TERMS: [&str; 12] = [
    "laptop",
    "usb+c+cable",
    "running+shoes",
    "headphones",
    "password+reset",
    "gift+card",
    "monitor+27",
    "coffee+grinder",
    "backpack",
    "invoice",
    "return+policy",
    "phone+case",
];

/// Visitors' statuses before correlations (login failures, forbidden admin pages) are applied.
pub(crate) static VISITOR_STATUS: Weighted<u16> = Weighted::new(&[
    (200, 860),
    (304, 45),
    (404, 35),
    (301, 20),
    (500, 15),
    (403, 13),
    (401, 12),
]);

pub(crate) static SCANNER_STATUS: Weighted<u16> =
    Weighted::new(&[(401, 45), (404, 25), (403, 25), (200, 5)]);

pub(crate) static REFERRERS: Weighted<&str> = Weighted::new(&[
    ("https://www.google.com/", 38),
    ("", 24),
    ("https://www.bing.com/", 8),
    ("https://twitter.com/", 5),
    ("https://www.facebook.com/", 5),
    ("https://www.linkedin.com/", 4),
    ("https://www.reddit.com/", 4),
    ("https://duckduckgo.com/", 3),
    ("https://news.ycombinator.com/", 2),
    ("https://stackoverflow.com/", 2),
    ("https://github.com/", 2),
    ("https://medium.com/", 1),
    ("https://www.youtube.com/", 1),
    ("https://partner-shop.example/", 1),
]);

pub(crate) static BROWSER_AGENTS: Weighted<&str> = Weighted::new(&[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        34,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        16,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        14,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        12,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        9,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        7,
    ),
]);

pub(crate) static CRAWLER_AGENTS: Weighted<&str> = Weighted::new(&[
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        60,
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        40,
    ),
]);

pub(crate) static TOOL_AGENTS: Weighted<&str> = Weighted::new(&[
    ("python-requests/2.31.0", 30),
    ("curl/8.5.0", 25),
    ("Go-http-client/1.1", 20),
    ("sqlmap/1.8#stable (https://sqlmap.org)", 10),
    (
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        10,
    ),
    ("Mozilla/5.0 zgrab/0.x", 5),
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_weights() {
        let mut rng = CounterRng::new(5, 5);
        let n = 100_000;
        let ok = (0..n)
            .filter(|_| VISITOR_STATUS.pick(&mut rng) == 200)
            .count();
        let share = ok as f64 / f64::from(n);
        assert!((share - VISITOR_STATUS.share(|s| s == 200)).abs() < 0.01);
    }

    #[test]
    fn action_names_match_enum_order() {
        assert_eq!(Action::ViewPage.as_str(), "view_page");
        assert_eq!(Action::OpenNewTab.as_str(), "open_new_tab");
        assert_eq!(Action::UploadFile.as_str(), "upload_file");
    }

    #[test]
    fn google_is_the_top_referrer() {
        assert!(REFERRERS.share(|r| r.contains("google")) > REFERRERS.share(str::is_empty));
    }

    #[test]
    fn sensitive_paths() {
        assert!(is_sensitive_path("/admin/users"));
        assert!(is_sensitive_path("/.env"));
        assert!(!is_sensitive_path("/account"));
    }
}
