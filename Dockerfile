# syntax=docker/dockerfile:1
#
# Floodgate: the `floodgate` server and the `floodgate-loadgen` load
# generator (also the compose file's demo upstream), built in a Rust image
# and shipped in a slim Debian one, run as a non-root user.
#
#   docker build -t floodgate .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:9090:9090 \
#       -e FLOODGATE_ADMIN_TOKENS=ops:admin:<sha256 of your token> floodgate
#
# See docs/deployment.md.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# The full Rust image: jemalloc (tikv-jemallocator) builds with make and cc.
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The registry and target caches speed up rebuilds; the binaries are copied
# out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p floodgate-server -p floodgate-loadgen \
    && install -D -m 0755 target/release/floodgate /out/floodgate \
    && install -D -m 0755 target/release/floodgate-loadgen /out/floodgate-loadgen

FROM debian:${DEBIAN_RELEASE}-slim
# No packages added: Floodgate speaks plain TCP to Redis and its upstream
# (TLS is terminated in front of it), and the health check is a bash
# script, no curl.
RUN groupadd --system --gid 10001 floodgate \
    && useradd --system --uid 10001 --gid floodgate --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin floodgate
COPY --from=build /out/floodgate /out/floodgate-loadgen /usr/local/bin/
COPY deploy/container/healthcheck.sh /usr/local/bin/floodgate-healthcheck
COPY deploy/container/floodgate.yaml /etc/floodgate/floodgate.yaml
USER 10001:10001
# Public listener, admin listener (metrics, health, admin API).
EXPOSE 8080 9090
# Liveness from the admin listener's /healthz (no token needed).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["floodgate-healthcheck", "127.0.0.1", "9090"]
# SIGTERM drains in-flight requests (server.shutdown_grace) and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["floodgate"]
CMD ["serve", "--config", "/etc/floodgate/floodgate.yaml"]
