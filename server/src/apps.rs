//! The applications clients may connect to, and each one's rules: who may publish and play
//! (open, signed names only, nobody), whether publishers may record, the key that signs
//! names, and the HTTP callbacks that decide for a backend.
//!
//! Read from the config as tables (`[apps.live]`), or from the old list form
//! (`apps = ["live", "vod"]`), which keeps the built-in rules for `live` and `vod`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Who may publish, or play, in an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Open,
    /// Only names signed with the application's secret (`NAME?sign=EXPIRES-HEX`).
    Signed,
    Deny,
}

/// Who may read (use) or write (change, remove, clear, send) an application's shared objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Open,
    Deny,
}

/// One application's rules. Keys left out of a table take the values of
/// [`AppConfig::default`]: open to publishers and players, no recording, no callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub publish: Access,
    pub play: Access,
    /// May publishers record here (publish types record/append/appendWithGap, record_all).
    pub record: bool,
    /// Key of signed names; required when publish or play is "signed".
    pub secret: Option<String>,
    /// URLs POSTed to as nginx-rtmp's notify module does; a refusal or a timeout refuses.
    pub on_connect: Option<String>,
    pub on_publish: Option<String>,
    pub on_play: Option<String>,
    /// URLs told when things end; their answers change nothing.
    pub on_publish_done: Option<String>,
    pub on_play_done: Option<String>,
    pub on_record_done: Option<String>,
    /// Remote shared objects: who may use them (read) and change them (write); refusals are
    /// SharedObject.NoReadAccess / SharedObject.NoWriteAccess.
    pub so_read: Permission,
    pub so_write: Permission,
    /// May clients use persistent shared objects here (kept in `shared_objects_dir`).
    pub so_persistence: bool,
    /// `NetConnection.call(method, ...)` is POSTed here as JSON and its answer returned
    /// (see the README); without it such calls fail with NetConnection.Call.Failed.
    pub call_url: Option<String>,
    /// Every stream published here is pushed to each of these (`rtmp://HOST[:PORT]/APP[/NAME]`,
    /// see [`crate::relay`]).
    pub push: Vec<String>,
    /// The stream name at push targets whose URL names none: `{name}` is the local name,
    /// `{app}` the application (default `{name}`).
    pub push_name: Option<String>,
    /// Plays of names nobody publishes here are pulled from the first of these that has
    /// the stream (an edge of those origins).
    pub origin: Vec<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            publish: Access::Open,
            play: Access::Open,
            record: false,
            secret: None,
            on_connect: None,
            on_publish: None,
            on_play: None,
            on_publish_done: None,
            on_play_done: None,
            on_record_done: None,
            so_read: Permission::Open,
            so_write: Permission::Open,
            so_persistence: false,
            call_url: None,
            push: Vec::new(),
            push_name: None,
            origin: Vec::new(),
        }
    }
}

impl AppConfig {
    /// `live`: open, and publishers may record.
    pub fn live() -> AppConfig {
        AppConfig {
            record: true,
            ..AppConfig::default()
        }
    }

    /// `vod`: recorded files are read-only to clients.
    pub fn vod() -> AppConfig {
        AppConfig {
            publish: Access::Deny,
            ..AppConfig::default()
        }
    }

    /// The built-in rules of an application named in the old list form.
    fn for_listed_name(name: &str) -> AppConfig {
        match name {
            "live" => AppConfig::live(),
            "vod" => AppConfig::vod(),
            _ => AppConfig::default(),
        }
    }
}

/// Every application, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apps(pub BTreeMap<String, AppConfig>);

impl Default for Apps {
    fn default() -> Self {
        Apps(BTreeMap::from([
            ("live".to_owned(), AppConfig::live()),
            ("vod".to_owned(), AppConfig::vod()),
        ]))
    }
}

impl Apps {
    pub fn get(&self, name: &str) -> Option<&AppConfig> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Settings that cannot work: a signed access without a secret, a relay URL that does
    /// not parse.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .0
            .iter()
            .filter(|(_, app)| {
                (app.publish == Access::Signed || app.play == Access::Signed)
                    && app.secret.as_deref().is_none_or(str::is_empty)
            })
            .map(|(name, _)| {
                format!("apps.{name}: publish or play is \"signed\" but no secret is set")
            })
            .collect();
        for (name, app) in &self.0 {
            let urls = app.push.iter().map(|u| ("push", u));
            for (key, url) in urls.chain(app.origin.iter().map(|u| ("origin", u))) {
                if let Err(e) = crate::relay::RelayUrl::parse(url) {
                    problems.push(format!("apps.{name}.{key}: {e}"));
                }
            }
        }
        problems
    }
}

impl<'de> Deserialize<'de> for Apps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Apps, D::Error> {
        struct AppsVisitor;

        impl<'de> Visitor<'de> for AppsVisitor {
            type Value = Apps;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of application names or a table of [apps.NAME] tables")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Apps, A::Error> {
                let mut apps = BTreeMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    let app = AppConfig::for_listed_name(&name);
                    apps.insert(name, app);
                }
                Ok(Apps(apps))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Apps, A::Error> {
                let mut apps = BTreeMap::new();
                while let Some((name, app)) = map.next_entry::<String, AppConfig>()? {
                    if apps.insert(name.clone(), app).is_some() {
                        return Err(de::Error::custom(format!("apps.{name} is given twice")));
                    }
                }
                Ok(Apps(apps))
            }
        }

        deserializer.deserialize_any(AppsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        apps: Apps,
    }

    fn parse(text: &str) -> Result<Apps, toml::de::Error> {
        toml::from_str::<Holder>(text).map(|h| h.apps)
    }

    #[test]
    fn the_list_form_keeps_the_built_in_rules_of_live_and_vod() {
        let apps = parse(r#"apps = ["live", "vod", "show"]"#).unwrap();
        assert_eq!(apps.get("live"), Some(&AppConfig::live()));
        assert_eq!(apps.get("vod"), Some(&AppConfig::vod()));
        assert_eq!(apps.get("show"), Some(&AppConfig::default()));
        let show = apps.get("show").unwrap();
        assert_eq!(
            (show.publish, show.play, show.record),
            (Access::Open, Access::Open, false)
        );
        assert_eq!(parse(r#"apps = ["live", "vod"]"#).unwrap(), Apps::default());
    }

    #[test]
    fn tables_give_each_application_its_rules() {
        let apps = parse(
            r#"
            [apps.live]
            publish = "signed"
            play = "open"
            record = true
            secret = "k"
            on_publish = "http://127.0.0.1:9/auth"
            [apps.vod]
            publish = "deny"
            "#,
        )
        .unwrap();
        let live = apps.get("live").unwrap();
        assert_eq!(live.publish, Access::Signed);
        assert_eq!(live.secret.as_deref(), Some("k"));
        assert_eq!(live.on_publish.as_deref(), Some("http://127.0.0.1:9/auth"));
        assert_eq!(apps.get("vod").unwrap().publish, Access::Deny);
        assert!(apps.get("other").is_none());
        assert!(apps.problems().is_empty());
    }

    #[test]
    fn unknown_keys_bad_access_words_and_signed_without_secret_are_refused() {
        assert!(parse("[apps.live]\npublsh = \"open\"").is_err());
        assert!(parse("[apps.live]\npublish = \"maybe\"").is_err());
        assert!(parse("apps = 3").is_err());
        let apps = parse("[apps.live]\nplay = \"signed\"").unwrap();
        assert_eq!(
            apps.problems(),
            ["apps.live: publish or play is \"signed\" but no secret is set"]
        );
    }

    #[test]
    fn relay_keys_are_read_and_their_urls_checked() {
        let apps = parse(
            r#"
            [apps.live]
            push = ["rtmp://a.example/live", "rtmp://b.example:1936/in/fixed?key=k"]
            push_name = "{name}_src"
            [apps.edge]
            origin = ["rtmp://o1/live", "rtmp://o2/live"]
            "#,
        )
        .unwrap();
        let live = apps.get("live").unwrap();
        assert_eq!(live.push.len(), 2);
        assert_eq!(live.push_name.as_deref(), Some("{name}_src"));
        assert_eq!(apps.get("edge").unwrap().origin.len(), 2);
        assert!(apps.problems().is_empty());
        let apps =
            parse("[apps.edge]\norigin = [\"http://o/live\"]\npush = [\"rtmp://h\"]").unwrap();
        let problems = apps.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("apps.edge.push: "), "{problems:?}");
        assert!(
            problems[1].starts_with("apps.edge.origin: "),
            "{problems:?}"
        );
    }
}
