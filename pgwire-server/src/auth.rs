//! Who may log in: users and passwords from a password file (`--password-file`) or the
//! environment (`PALISADE_PASSWORD` for `--user`), kept only as SCRAM-SHA-256 secrets
//! computed at start, and pgwire's [`AuthSource`] over them.
//!
//! # The password file
//! One user per line, `NAME:PASSWORD` or `NAME = PASSWORD`: the name ends at the first `:`
//! or `=`, and spaces around the name and the password are dropped (so a password can hold
//! `:`, `=` and `#`, but cannot start or end with a space). Blank lines and lines whose
//! first non-space character is `#` are skipped.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::gen_salted_password;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::errors::ServerError;

/// PBKDF2 rounds of each SCRAM secret; PostgreSQL's default, and what clients are told.
pub const SCRAM_ITERATIONS: usize = 4096;

/// Bytes of salt per user, as PostgreSQL uses.
const SALT_LEN: usize = 16;

/// A user and the password they log in with, before it is salted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub password: String,
    /// Where it was given (`users.txt, line 3`, `PALISADE_PASSWORD`), for error messages.
    pub origin: String,
}

/// The users who may log in, each with the secret SCRAM-SHA-256 checks a login against.
pub struct Users {
    /// User name → salt and SaltedPassword (PBKDF2 of the password). pgwire's SCRAM needs
    /// the SaltedPassword itself, not PostgreSQL's StoredKey/ServerKey pair, so that is what
    /// is kept; the plaintext is dropped once it is computed.
    secrets: HashMap<String, Secret>,
    /// Keys the made-up secret of a name that is not a user. Such a login runs the whole
    /// exchange with a salt that is stable per name and fails at the same step with the same
    /// error as a wrong password, so a client cannot tell which names exist.
    unknown_user_key: hmac::Key,
}

struct Secret {
    salt: Vec<u8>,
    salted_password: Vec<u8>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the secrets are password-equivalent for SCRAM.
        f.debug_struct("Users")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Salts every password. Fails when there is no user, or one user is given twice.
    pub fn new(credentials: Vec<Credential>) -> Result<Users, ServerError> {
        if credentials.is_empty() {
            return Err(ServerError::Users(
                "no users: a password file needs at least one NAME:PASSWORD line".into(),
            ));
        }
        let random = SystemRandom::new();
        let mut origins: HashMap<String, String> = HashMap::new();
        let mut secrets = HashMap::new();
        for c in credentials {
            if let Some(first) = origins.get(&c.user) {
                return Err(ServerError::Users(format!(
                    "user \"{}\" is given twice: {first}, and {}",
                    c.user, c.origin
                )));
            }
            let salt = random_bytes(&random, SALT_LEN)?;
            let salted_password = gen_salted_password(&c.password, &salt, SCRAM_ITERATIONS);
            origins.insert(c.user.clone(), c.origin);
            secrets.insert(
                c.user,
                Secret {
                    salt,
                    salted_password,
                },
            );
        }
        let key = random_bytes(&random, 32)?;
        Ok(Users {
            secrets,
            unknown_user_key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The user names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// What `user`'s SCRAM exchange is checked against: the real secret of a user, or for
    /// any other name one no password matches.
    fn secret(&self, user: &str) -> Password {
        match self.secrets.get(user) {
            Some(s) => Password::new(Some(s.salt.clone()), s.salted_password.clone()),
            None => {
                let derive = |purpose: &str| {
                    let tag = hmac::sign(
                        &self.unknown_user_key,
                        format!("{purpose}:{user}").as_bytes(),
                    );
                    tag.as_ref().to_vec()
                };
                let mut salt = derive("salt");
                salt.truncate(SALT_LEN);
                Password::new(Some(salt), derive("salted password"))
            }
        }
    }
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // The startup packet's user is the one logging in; SCRAM's own user name is empty
        // from libpq and tokio-postgres, and PostgreSQL ignores it too.
        Ok(self.secret(login.user().unwrap_or_default()))
    }
}

fn random_bytes(random: &SystemRandom, len: usize) -> Result<Vec<u8>, ServerError> {
    let mut bytes = vec![0u8; len];
    random
        .fill(&mut bytes)
        .map_err(|_| ServerError::Users("the system's random number generator failed".into()))?;
    Ok(bytes)
}

/// Reads a password file (format in the module doc). On Unix, warns when it can be read by
/// users other than its owner.
pub fn read_password_file(path: &Path) -> Result<Vec<Credential>, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the password file can be read by other users; chmod 600 it"
            );
        }
    }
    parse_password_file(&text, path)
}

/// The credentials of a password file's text; `path` names it in errors.
pub fn parse_password_file(text: &str, path: &Path) -> Result<Vec<Credential>, ServerError> {
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut credentials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let bad = |message: &str| ServerError::PasswordFile {
            path: path.to_path_buf(),
            line: line_no,
            message: message.to_string(),
        };
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let Some(split) = content.find([':', '=']) else {
            return Err(bad(
                "expected NAME:PASSWORD or NAME = PASSWORD (no ':' or '=' on this line)",
            ));
        };
        let user = content[..split].trim();
        let password = content[split + 1..].trim();
        if user.is_empty() {
            return Err(bad("the user name before ':' or '=' is empty"));
        }
        if password.is_empty() {
            return Err(bad(&format!("the password of user \"{user}\" is empty")));
        }
        credentials.push(Credential {
            user: user.to_string(),
            password: password.to_string(),
            origin: format!("{file_name}, line {line_no}"),
        });
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        parse_password_file(text, Path::new("/etc/palisade/users.txt"))
            .map(|cs| cs.into_iter().map(|c| (c.user, c.password)).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn both_forms_comments_and_separators_inside_passwords() {
        let text = "# Palisade users\n\
                    \n\
                    alice:s3cret\n\
                    \tbob = pa:ss=wo#rd  \n\
                    carol: with spaces inside \n";
        assert_eq!(
            parse(text),
            Ok(vec![
                ("alice".into(), "s3cret".into()),
                ("bob".into(), "pa:ss=wo#rd".into()),
                ("carol".into(), "with spaces inside".into()),
            ])
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        assert_eq!(
            parse("alice:x\n\njust-a-name\n"),
            Err(
                "/etc/palisade/users.txt, line 3: expected NAME:PASSWORD or NAME = PASSWORD \
                 (no ':' or '=' on this line)"
                    .into()
            )
        );
        assert_eq!(
            parse(" = x"),
            Err("/etc/palisade/users.txt, line 1: the user name before ':' or '=' is empty".into())
        );
        assert_eq!(
            parse("# c\nalice:   "),
            Err("/etc/palisade/users.txt, line 2: the password of user \"alice\" is empty".into())
        );
    }

    #[test]
    fn a_user_given_twice_is_refused_with_both_places() {
        let mut credentials =
            parse_password_file("alice:a\nalice = b\n", Path::new("users.txt")).unwrap();
        assert_eq!(
            Users::new(credentials.clone()).unwrap_err().to_string(),
            "user \"alice\" is given twice: users.txt, line 1, and users.txt, line 2"
        );
        credentials.clear();
        assert!(Users::new(credentials).is_err());
    }

    #[test]
    fn unknown_names_get_a_stable_secret_that_is_not_a_users() {
        let users = Users::new(vec![Credential {
            user: "alice".into(),
            password: "s3cret".into(),
            origin: "test".into(),
        }])
        .unwrap();
        let alice = users.secret("alice");
        let salt = alice.salt().unwrap();
        assert_eq!(salt.len(), SALT_LEN);
        assert_eq!(
            alice.password(),
            gen_salted_password("s3cret", salt, SCRAM_ITERATIONS)
        );
        let mallory = users.secret("mallory");
        assert_eq!(mallory.salt(), users.secret("mallory").salt());
        assert_eq!(mallory.salt().map(<[u8]>::len), Some(SALT_LEN));
        assert_ne!(mallory.salt(), users.secret("eve").salt());
        assert_eq!(mallory.password().len(), alice.password().len());
        assert_eq!(users.names(), ["alice"]);
    }
}
