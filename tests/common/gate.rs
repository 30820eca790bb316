//! `modelgate serve` for integration tests: the real binary on a loopback port with a config of
//! the test's choosing and its own SQLite store, killed (by its pid) when dropped.

use std::process::{Child, Command, Stdio};

pub struct Gate {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[[tokens]]` stanza for `token` named `name` with `scopes`.
pub fn token(name: &str, token: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "\n[[tokens]]\nname = {name:?}\nsha256 = \"{}\"\nscopes = [{}]\n",
        modelgate::hash::sha256_hex(token.as_bytes()),
        scopes.join(", ")
    )
}

impl Gate {
    /// Starts the gate with `config` (everything but `[server] listen`/`workers` and `[store]`),
    /// in a directory of its own where `files` are written first (keys, …).
    pub fn start(config: &str, files: &[(&str, &[u8])]) -> Gate {
        Self::start_env(config, files, &[])
    }

    /// [`Gate::start`] with extra environment (registry passwords named by `password_env`).
    pub fn start_env(config: &str, files: &[(&str, &[u8])], env: &[(&str, &str)]) -> Gate {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, data) in files {
            std::fs::write(dir.path().join(name), data).expect("file");
        }
        let path = dir.path().join("modelgate.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n\n[store]\nurl = \"sqlite://{}\"\n\n{config}",
                dir.path().join("gate.db").display()
            ),
        )
        .expect("config");
        Self::spawn(dir, &path, &[], env)
    }

    /// Starts `modelgate serve --config CONFIG EXTRA…` with `env`, owning `dir`; returns once it
    /// listens.
    pub fn spawn(
        dir: tempfile::TempDir,
        config: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Gate {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
            .args(["serve", "--config"])
            .arg(config)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gate");
        let addr = super::gate_address(&mut child);
        Gate {
            child,
            base: addr,
            dir,
        }
    }
}

impl Gate {
    /// The first page (up to 1,000 rows) of the audit trail matching `query`, read with `token`.
    pub async fn decisions(&self, token: &str, query: &str) -> Vec<serde_json::Value> {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/v1/decisions?limit=1000&{query}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("decisions")
            .json()
            .await
            .expect("json");
        v["decisions"].as_array().cloned().unwrap_or_default()
    }
}
