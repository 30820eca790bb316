//! A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) started on
//! 127.0.0.1 with a random free port, a temporary storage directory and its own config file,
//! optionally with htpasswd (bcrypt) basic auth or with bearer-token auth from
//! `tests/token_server.py` (the flow Docker Hub, GHCR and Harbor use), and stopped by its pid when
//! dropped. Images are pushed with `skopeo`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Child,
    /// The token server of a bearer-token registry.
    _token_server: Option<super::Server>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub auth: Option<(String, String)>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Stop exactly the processes this guard started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use super::free_port;

/// Whether the registry and skopeo are installed; prints a notice (or fails under CI) if not.
pub fn available() -> bool {
    super::require(
        Path::new(REGISTRY_BIN).is_file() && super::which("skopeo").is_some(),
        "docker-registry and skopeo (apt-get install docker-registry skopeo)",
    )
}

impl Registry {
    /// Starts a registry; with `auth`, only that user/password may access it.
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("registry dir");
        let mut extra = String::new();
        if let Some((user, pass)) = auth {
            let hash = bcrypt::hash(pass, 5).expect("bcrypt");
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n"))
                .expect("htpasswd");
            extra = format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        Self::launch(dir, &extra, None, auth)
    }

    /// Starts a registry with bearer-token auth: `python` runs `tests/token_server.py`, which
    /// grants `user`/`pass` every scope they ask for and anonymous clients nothing.
    pub fn start_token(python: &Path, user: &str, pass: &str) -> Registry {
        let dir = tempfile::tempdir().expect("registry dir");
        let token_port = free_port();
        let cert = dir.path().join("token.crt");
        let mut cmd = Command::new(python);
        cmd.arg(super::root().join("tests/token_server.py"))
            .arg(token_port.to_string())
            .arg(&cert)
            .args(["modelgate-test-issuer", user, pass]);
        let server = super::start_server(cmd, token_port, || cert.exists());
        let extra = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: modelgate-test-registry\n    issuer: modelgate-test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        );
        Self::launch(dir, &extra, Some(server), Some((user, pass)))
    }

    fn launch(
        dir: tempfile::TempDir,
        auth_cfg: &str,
        token_server: Option<super::Server>,
        auth: Option<(&str, &str)>,
    ) -> Registry {
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        cfg.push_str(auth_cfg);
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).expect("config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            child,
            _token_server: token_server,
            port,
            dir,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = [0u8; 64];
                    if s.read(&mut buf).is_ok_and(|n| n > 0) {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        panic!("docker-registry did not start on port {}: {log}", self.port);
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes an OCI layout (tag `tag`) to `repo:tag` with skopeo (all platforms of an index).
    pub fn push_layout(&self, layout: &Path, tag: &str, repo: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.auth {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        let out = cmd
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The file holding blob `digest` in the registry's storage (to corrupt it on purpose).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// Exports an OCI layout to a legacy `docker save` tarball with skopeo (`docker-archive:`).
pub fn docker_archive(layout: &Path, tag: &str, out: &Path) {
    let o = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker-archive:{}:test/image:{tag}", out.display()))
        .output()
        .expect("run skopeo");
    assert!(
        o.status.success(),
        "skopeo docker-archive failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A layer of an OCI artifact: media type, title annotation, bytes.
pub struct ArtifactLayer<'a> {
    pub media_type: &'a str,
    pub title: &'a str,
    pub data: Vec<u8>,
}

impl Registry {
    /// Pushes an OCI 1.1 artifact (the shape `oras push` and CNCF ModelPack tools write: an
    /// `artifactType`, a config blob of `config_type`, raw layers with title annotations) to
    /// `repo:tag` with `oci-client`. Returns the manifest digest.
    pub fn push_artifact(
        &self,
        repo: &str,
        tag: &str,
        artifact_type: &str,
        config_type: &str,
        config: &[u8],
        layers: &[ArtifactLayer<'_>],
    ) -> String {
        use oci_client::client::{ClientConfig, ClientProtocol};
        use oci_client::secrets::RegistryAuth;
        use oci_client::{Client, Reference, RegistryOperation};
        let host = self.host();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![host.clone()]),
            ..ClientConfig::default()
        });
        let auth = match &self.auth {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        let push_blob = |data: &[u8]| {
            let d = format!("sha256:{}", super::sha256_hex(data));
            let r = Reference::with_digest(host.clone(), repo.into(), d.clone());
            rt.block_on(async {
                client.auth(&r, &auth, RegistryOperation::Push).await?;
                client.push_blob(&r, data.to_vec(), &d).await
            })
            .expect("push blob");
            d
        };
        let config_digest = push_blob(config);
        let layer_docs: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": l.media_type,
                    "digest": push_blob(&l.data),
                    "size": l.data.len(),
                    "annotations": {"org.opencontainers.image.title": l.title},
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": layer_docs,
        });
        let body = serde_json::to_vec(&manifest).expect("json");
        let digest = format!("sha256:{}", super::sha256_hex(&body));
        let r = Reference::with_tag(host.clone(), repo.into(), tag.into());
        rt.block_on(async {
            client.auth(&r, &auth, RegistryOperation::Push).await?;
            client
                .push_manifest_raw(
                    &r,
                    body,
                    "application/vnd.oci.image.manifest.v1+json"
                        .parse()
                        .expect("content type"),
                )
                .await
        })
        .expect("push manifest");
        digest
    }
}

impl Registry {
    /// `modelgate sign oci://HOST/REFERENCE --key KEY` with the registry's credentials (the
    /// binary under test, no Docker config), asserting that it signed.
    pub fn sign_with_cli(&self, reference: &str, key: &Path) {
        let docker_config = self.dir.path().join("no-docker-config");
        std::fs::create_dir_all(&docker_config).expect("dir");
        let mut cmd = assert_cmd::Command::cargo_bin("modelgate").expect("bin");
        cmd.env("DOCKER_CONFIG", &docker_config)
            .args(["sign", &format!("oci://{}/{reference}", self.host())])
            .arg("--key")
            .arg(key);
        if let Some((u, p)) = &self.auth {
            cmd.args(["--username", u, "--password-stdin"])
                .write_stdin(format!("{p}\n"));
        }
        let out = cmd.output().expect("sign");
        assert!(
            out.status.success(),
            "sign {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
