# The modelgate container image: the static binary and nothing else that runs (no shell, no libc,
# no package manager), as a non-root user. The CA bundle is data: rustls reads the system roots
# to reach registries over HTTPS. Built without a daemon (tests/container_image.rs):
#
#   cargo build --profile dist --target x86_64-unknown-linux-musl --bin modelgate
#   mkdir ctx && cp target/x86_64-unknown-linux-musl/dist/modelgate Dockerfile ctx/ \
#     && cp /etc/ssl/certs/ca-certificates.crt ctx/
#   buildah build --isolation chroot -t ghcr.io/modelgate/modelgate:latest ctx
#
# The user id matches deploy/kubernetes/*.yaml (runAsUser 10001). Scans spool image layers to
# $TMPDIR: mount a writable /tmp (the manifests mount an emptyDir; `--tmpfs /tmp` elsewhere).
FROM scratch
COPY --chmod=0444 ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chmod=0555 modelgate /usr/local/bin/modelgate
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/modelgate"]
CMD ["--help"]
