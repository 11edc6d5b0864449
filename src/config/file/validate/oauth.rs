//! An HTTP entry's sign-in settings: the `oauth` object of Claude Code and VS Code, or the
//! `auth` object of Cursor, turned into an [`OAuth`].

use super::{Entry, is_http_url};
use crate::config::file::jsonc::{Kind, Member};
use crate::error::Error;
use crate::oauth::OAuth;

/// Where the client secret of an `oauth` object comes from when the object has none.
/// Claude Code keeps the secret out of `.mcp.json`; `claude mcp add --client-secret` reads
/// it from this variable.
const CLIENT_SECRET_VARIABLE: &str = "MCP_CLIENT_SECRET";

impl Entry<'_> {
    /// The entry's sign-in settings, from `oauth` or `auth`; `None` if it has neither. An
    /// error if it has both.
    pub(super) fn oauth(&self, fields: &[Member]) -> Result<Option<OAuth>, Error> {
        let oauth = self.field(fields, "oauth")?;
        let auth = self.field(fields, "auth")?;
        match (oauth, auth) {
            (Some(oauth), Some(auth)) => {
                let later = if oauth.at > auth.at { oauth } else { auth };
                Err(self.error(
                    Some(&later.key),
                    later.at,
                    "both `oauth` (Claude Code, VS Code) and `auth` (Cursor) are set; keep one",
                ))
            }
            (Some(oauth), None) => self.oauth_object(oauth).map(Some),
            (None, Some(auth)) => self.auth_object(auth).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Claude Code's and VS Code's `oauth`: `clientId`, `clientSecret` (else
    /// [`CLIENT_SECRET_VARIABLE`]), `callbackPort`, `authServerMetadataUrl` and `scopes`, a
    /// string of space-separated scopes.
    fn oauth_object(&self, member: &Member) -> Result<OAuth, Error> {
        let fields = self.object(member)?;
        let mut oauth = self.client(
            fields,
            ("clientId", "oauth.clientId"),
            ("clientSecret", "oauth.clientSecret"),
        )?;
        if oauth.client_id.is_some()
            && oauth.client_secret.is_none()
            && let Some(secret) = (self.lookup)(CLIENT_SECRET_VARIABLE).filter(|s| !s.is_empty())
        {
            oauth = oauth.client_secret(secret);
            self.took_client_secret.set(Some(member.at));
        }

        let path = "oauth.callbackPort";
        if let Some(member) = self.member(fields, "callbackPort", path)? {
            let port = match &member.value.kind {
                Kind::Number(number) => number.parse::<u16>().ok().filter(|&port| port != 0),
                _ => None,
            };
            let Some(port) = port else {
                let found = match &member.value.kind {
                    Kind::Number(number) => format!("`{number}`"),
                    other => other.describe().to_owned(),
                };
                return Err(self.error(
                    Some(path),
                    member.at,
                    format!("`{path}` must be an integer from 1 to 65535, found {found}"),
                ));
            };
            oauth = oauth.redirect_uri(format!("http://localhost:{port}/callback"));
        }

        let path = "oauth.authServerMetadataUrl";
        if let Some((url, at)) = self.string_member(fields, "authServerMetadataUrl", path)? {
            if !is_http_url(&url) {
                return Err(self.error(
                    Some(path),
                    at,
                    format!("`{path}` must start with https:// (or http:// on this machine)"),
                ));
            }
            oauth = oauth.authorization_server_metadata_url(url);
        }

        let path = "oauth.scopes";
        if let Some(member) = self.member(fields, "scopes", path)? {
            let Kind::String(scopes) = &member.value.kind else {
                return Err(self.wrong_type(
                    path,
                    member.at,
                    "a string of space-separated scopes",
                    &member.value.kind,
                ));
            };
            let scopes = self.expand(scopes, path, member.at)?;
            let scopes: Vec<&str> = scopes.split_whitespace().collect();
            if scopes.is_empty() {
                return Err(self.no_scopes(path, member.at));
            }
            oauth = oauth.scopes(scopes);
        }
        Ok(oauth)
    }

    /// Cursor's `auth`: `CLIENT_ID`, `CLIENT_SECRET` and `scopes`, an array of scopes.
    fn auth_object(&self, member: &Member) -> Result<OAuth, Error> {
        let fields = self.object(member)?;
        let mut oauth = self.client(
            fields,
            ("CLIENT_ID", "auth.CLIENT_ID"),
            ("CLIENT_SECRET", "auth.CLIENT_SECRET"),
        )?;

        let path = "auth.scopes";
        if let Some(member) = self.member(fields, "scopes", path)? {
            let Kind::Array(items) = &member.value.kind else {
                return Err(self.wrong_type(
                    path,
                    member.at,
                    "an array of strings",
                    &member.value.kind,
                ));
            };
            let mut scopes = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let field = format!("{path}[{index}]");
                let Kind::String(scope) = &item.kind else {
                    return Err(self.wrong_type(&field, item.at, "a string", &item.kind));
                };
                let scope = self.expand(scope, &field, item.at)?;
                if scope.is_empty() || scope.contains(char::is_whitespace) {
                    return Err(self.error(
                        Some(&field),
                        item.at,
                        format!("`{field}` must be one scope: not empty, without spaces"),
                    ));
                }
                scopes.push(scope);
            }
            if scopes.is_empty() {
                return Err(self.no_scopes(path, member.at));
            }
            oauth = oauth.scopes(scopes);
        }
        Ok(oauth)
    }

    /// The members of the object `member`, or an error naming its key.
    fn object<'m>(&self, member: &'m Member) -> Result<&'m [Member], Error> {
        match &member.value.kind {
            Kind::Object(members) => Ok(members),
            other => Err(self.wrong_type(&member.key, member.at, "an object", other)),
        }
    }

    /// The settings with the client id and secret of `fields`, each given as its key and
    /// field path. A secret needs an id; neither may be empty.
    fn client(
        &self,
        fields: &[Member],
        (id_key, id_path): (&str, &str),
        (secret_key, secret_path): (&str, &str),
    ) -> Result<OAuth, Error> {
        let id = self.string_member(fields, id_key, id_path)?;
        let secret = self.secret(fields, secret_key, secret_path)?;
        let Some((id, at)) = id else {
            return match secret {
                Some((_, at)) => Err(self.error(
                    Some(secret_path),
                    at,
                    format!("`{secret_path}` is set without `{id_path}`"),
                )),
                None => Ok(OAuth::new()),
            };
        };
        if id.is_empty() {
            return Err(self.error(Some(id_path), at, format!("`{id_path}` is empty")));
        }
        let oauth = OAuth::new().client_id(id);
        Ok(match secret {
            Some((secret, _)) => oauth.client_secret(secret),
            None => oauth,
        })
    }

    /// The client secret `key` of `fields`, at the field path `path`, expanded, with the
    /// offset of its key. Errors never quote it.
    fn secret(
        &self,
        fields: &[Member],
        key: &str,
        path: &str,
    ) -> Result<Option<(String, usize)>, Error> {
        let Some((value, at)) = self.unexpanded_string(fields, key, path)? else {
            return Ok(None);
        };
        let secret = self.expand_secret(value, path, at)?;
        if secret.is_empty() {
            return Err(self.error(Some(path), at, format!("`{path}` is empty")));
        }
        Ok(Some((secret, at)))
    }

    /// The error for a `scopes` at `path` (whose key is at `at`) that names no scope.
    fn no_scopes(&self, path: &str, at: usize) -> Error {
        self.error(
            Some(path),
            at,
            format!("`{path}` names no scope; leave it out to ask for the scopes the server names"),
        )
    }
}
