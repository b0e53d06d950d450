//! Which broker password to send, from `--password-file` and
//! `CADLINE_MQTT_PASSWORD`, and what to tell the user about it.
//!
//! Pure: the caller reads the file and the environment. Every surprising
//! case either works the obvious way or is said: a wrong or empty password
//! otherwise shows up only as the broker's "not authorized", with nothing
//! pointing at the file or the variable.

/// The password to send (if any) and the warnings to print at start.
#[derive(Debug, PartialEq, Eq)]
pub struct Choice {
    /// What to send with `--username`; `None` sends the user name alone.
    pub password: Option<String>,
    /// One line each, for `W!`: what was surprising and what was done.
    pub warnings: Vec<String>,
}

/// Where a password can come from.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// `--password-file`: its path as given, and its contents.
    pub file: Option<(&'a str, &'a str)>,
    /// `CADLINE_MQTT_PASSWORD`.
    pub env: Option<&'a str>,
    /// Whether `CADLINE_PASSWORD` is set: the name the `CADLINE_<FLAG>`
    /// pattern suggests, but no flag is called `--password`.
    pub misnamed_env: bool,
    /// `--username`.
    pub username: Option<&'a str>,
}

/// Chooses the password. An unusable password file (empty, or a blank first
/// line) is an error: sending an empty password is never what was meant.
pub fn choose(s: &Sources<'_>) -> Result<Choice, String> {
    let mut warnings = Vec::new();
    if s.misnamed_env {
        warnings.push(
            "CADLINE_PASSWORD is not read: the broker password goes in CADLINE_MQTT_PASSWORD \
             (or in a file named by --password-file / CADLINE_PASSWORD_FILE)"
                .to_owned(),
        );
    }
    let from_file = match s.file {
        Some((path, text)) => Some(first_line(path, text)?),
        None => None,
    };
    let from_env = s.env.map(without_one_newline).filter(|p| !p.is_empty());
    let (password, source) = match (from_file, from_env) {
        (Some(file), Some(_)) => {
            warnings.push(
                "Both --password-file and CADLINE_MQTT_PASSWORD are set; using --password-file"
                    .to_owned(),
            );
            (Some(file), "--password-file")
        }
        (Some(file), None) => (Some(file), "--password-file"),
        (None, Some(env)) => (Some(env.to_owned()), "CADLINE_MQTT_PASSWORD"),
        (None, None) => (None, ""),
    };
    if let Some(p) = &password {
        if p.trim() != p {
            warnings.push(format!(
                "The password from {source} starts or ends with white space, which is sent as \
                 part of it"
            ));
        }
    }
    match (s.username, &password) {
        (Some(user), None) => warnings.push(format!(
            "--username {user:?} without a password (--password-file or CADLINE_MQTT_PASSWORD): \
             connecting with the user name alone"
        )),
        (None, Some(_)) => warnings.push(format!(
            "A broker password is set ({source}) but no --username; MQTT needs both, so neither \
             is sent"
        )),
        _ => {}
    }
    Ok(Choice { password, warnings })
}

/// A password file's first line, without a UTF-8 byte order mark (Windows
/// editors add one, and it is not part of the password) or line ending.
fn first_line(path: &str, text: &str) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(format!(
            "--password-file {path} is empty; its first line must be the password"
        ));
    }
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(format!(
            "--password-file {path}: the first line is empty; the password must be on the first line"
        ));
    }
    Ok(line.to_owned())
}

/// Drops one trailing newline (`\n` or `\r\n`), as `$(cat file)` or a
/// heredoc leaves one and the password file's is dropped too.
fn without_one_newline(p: &str) -> &str {
    p.strip_suffix("\r\n")
        .or_else(|| p.strip_suffix('\n'))
        .unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Choice, String> {
        choose(&Sources {
            file: Some(("pw", text)),
            username: Some("u"),
            ..Sources::default()
        })
    }

    #[test]
    fn password_files() {
        assert_eq!(
            file("s3cret\n").map(|c| c.password),
            Ok(Some("s3cret".into()))
        );
        assert_eq!(
            file("s3cret\r\nnext").map(|c| c.password),
            Ok(Some("s3cret".into()))
        );
        assert_eq!(
            file("\u{feff}s3cret\n").map(|c| c.password),
            Ok(Some("s3cret".into()))
        );
        assert!(file("").unwrap_err().contains("is empty"));
        assert!(file("\u{feff}\n").unwrap_err().contains("is empty"));
        assert!(file("\ns3cret\n")
            .unwrap_err()
            .contains("first line is empty"));
        let c = file(" s3cret \n").expect("kept");
        assert_eq!(c.password.as_deref(), Some(" s3cret "));
        assert!(c.warnings[0].contains("white space"), "{c:?}");
    }

    #[test]
    fn the_variable_and_what_is_said() {
        let c = choose(&Sources {
            env: Some("s3cret\n"),
            username: Some("u"),
            ..Sources::default()
        })
        .expect("ok");
        assert_eq!(
            c,
            Choice {
                password: Some("s3cret".into()),
                warnings: vec![]
            }
        );
        let c = choose(&Sources {
            file: Some(("pw", "from-file")),
            env: Some("from-env"),
            username: Some("u"),
            ..Sources::default()
        })
        .expect("ok");
        assert_eq!(c.password.as_deref(), Some("from-file"));
        assert!(c.warnings[0].contains("using --password-file"));
        let c = choose(&Sources {
            misnamed_env: true,
            username: Some("u"),
            ..Sources::default()
        })
        .expect("ok");
        assert_eq!(c.password, None);
        assert!(c.warnings[0].contains("CADLINE_MQTT_PASSWORD"));
        assert!(c.warnings[1].contains("without a password"));
        let c = choose(&Sources {
            env: Some(""),
            ..Sources::default()
        })
        .expect("ok");
        assert_eq!(
            c,
            Choice {
                password: None,
                warnings: vec![]
            }
        );
    }
}
