# Assay's binaries in a container: `assay` (verify, measure, keys, relay), `assay-host` (the
# compute provider's daemon) and `assay-enclave` (the program the enclave image holds).
#
#   docker build -t assay .            (or: buildah bud --isolation chroot -t assay .)
#   docker run -p 8480:8480 -v assay-data:/var/lib/assay assay serve --listen 0.0.0.0:8480 \
#     --data-dir /var/lib/assay --image /etc/assay/image.toml ...
#
# Both base images are arguments, so that a builder without Docker Hub can use local ones
# (scripts/container-build makes them with debootstrap).
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# The manifests first, so that a change to the sources alone does not refetch the dependencies.
COPY Cargo.toml Cargo.lock ./
COPY . .
ENV CARGO_TERM_COLOR=never
RUN cargo build --release --locked -p assay-cli -p assay-host -p assay-enclave \
 && install -D -m 0755 -t /out target/release/assay target/release/assay-train target/release/assay-host target/release/assay-enclave

FROM ${RUNTIME_IMAGE} AS runtime
# CA roots for AMD's KDS and for relayers' HTTPS; curl for the health check. Not pinned to
# versions: Debian keeps only the current security release of each, so a pin breaks the build
# at the next update; the base image's tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/assay --create-home --shell /usr/sbin/nologin assay
COPY --from=build /out/ /usr/local/bin/
USER 10001
WORKDIR /var/lib/assay
EXPOSE 8480
# The daemon answers /healthz over TLS with its self-signed certificate by default (-k), or over
# plain HTTP when run with --insecure-http.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/bin/sh", "-c", "curl -fsSk https://127.0.0.1:8480/healthz || curl -fsS http://127.0.0.1:8480/healthz"]
ENTRYPOINT ["/usr/local/bin/assay-host"]
CMD ["serve", "--listen", "0.0.0.0:8480", "--data-dir", "/var/lib/assay"]
